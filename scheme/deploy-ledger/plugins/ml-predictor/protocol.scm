;;; protocol.scm -- the predictor protocol's envelope and the conditions a caller can catch

;;; Commentary:
;;;
;;; Pure encode/decode of the request and reply envelopes of protocol/SPEC.md (version
;;; 1): no sockets here.  Values are in the representation of the msgpack module
;;; (maps are alists with string keys, arrays are vectors, nil is `msgpack-nil').
;;;
;;; The conditions: every failure of a call is an `&ml-predictor-error'; the daemon
;;; not answering in time is `&ml-predictor-unavailable' (endpoint, seconds waited); an
;;; error reply is `&ml-predictor-remote-error' (code, message, field); a reply that
;;; breaks the protocol is `&ml-predictor-protocol-error'.
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor protocol)
  #:use-module (deploy-ledger plugins ml-predictor msgpack)
  #:use-module ((ice-9 exceptions)
                #:select (make-exception-type make-exception make-exception-with-message
                          &error raise-exception exception-accessor exception-predicate
                          exception-with-message? exception-message))
  #:export (;; Envelope
            protocol-version
            encode-request
            pack-request!
            decode-reply
            reply-id
            reply-ok?
            reply-result
            reply-error
            ;; Conditions
            &ml-predictor-error
            ml-predictor-error?
            ml-predictor-unavailable?
            ml-predictor-unavailable-endpoint
            ml-predictor-unavailable-seconds
            raise-unavailable
            ml-predictor-remote-error?
            ml-predictor-remote-error-code
            ml-predictor-remote-error-message
            ml-predictor-remote-error-field
            raise-remote-error
            ml-predictor-protocol-error?
            raise-protocol-error))

(define protocol-version 1)

;;;
;;; Conditions.
;;;

(define &ml-predictor-error
  (make-exception-type '&ml-predictor-error &error '()))

(define ml-predictor-error? (exception-predicate &ml-predictor-error))

(define &ml-predictor-unavailable
  (make-exception-type '&ml-predictor-unavailable &ml-predictor-error '(endpoint seconds)))

(define ml-predictor-unavailable? (exception-predicate &ml-predictor-unavailable))

(define ml-predictor-unavailable-endpoint
  (exception-accessor &ml-predictor-unavailable
                      (record-accessor &ml-predictor-unavailable 'endpoint)))

(define ml-predictor-unavailable-seconds
  (exception-accessor &ml-predictor-unavailable
                      (record-accessor &ml-predictor-unavailable 'seconds)))

(define &ml-predictor-remote-error
  (make-exception-type '&ml-predictor-remote-error &ml-predictor-error
                       '(code remote-message field)))

(define ml-predictor-remote-error? (exception-predicate &ml-predictor-remote-error))

(define ml-predictor-remote-error-code
  (exception-accessor &ml-predictor-remote-error
                      (record-accessor &ml-predictor-remote-error 'code)))

(define ml-predictor-remote-error-message
  (exception-accessor &ml-predictor-remote-error
                      (record-accessor &ml-predictor-remote-error 'remote-message)))

(define ml-predictor-remote-error-field
  (exception-accessor &ml-predictor-remote-error
                      (record-accessor &ml-predictor-remote-error 'field)))

(define &ml-predictor-protocol-error
  (make-exception-type '&ml-predictor-protocol-error &ml-predictor-error '()))

(define ml-predictor-protocol-error? (exception-predicate &ml-predictor-protocol-error))

(define (raise-unavailable endpoint seconds why)
  "Raise `&ml-predictor-unavailable': no answer from ENDPOINT within SECONDS; WHY says more."
  (raise-exception
   (make-exception ((record-constructor &ml-predictor-unavailable) endpoint seconds)
                   (make-exception-with-message
                    (format #f "ml-predictor: no answer from the daemon at ~a within ~a s (~a)"
                            endpoint seconds why)))))

(define (raise-remote-error code message field)
  "Raise `&ml-predictor-remote-error' for an error reply with CODE, MESSAGE and FIELD."
  (raise-exception
   (make-exception ((record-constructor &ml-predictor-remote-error) code message field)
                   (make-exception-with-message
                    (format #f "ml-predictor: ~a: ~a~a" code message
                            (if field (format #f " (field ~a)" field) ""))))))

(define (raise-protocol-error endpoint fmt . args)
  "Raise `&ml-predictor-protocol-error': the reply from ENDPOINT broke the protocol."
  (raise-exception
   (make-exception ((record-constructor &ml-predictor-protocol-error))
                   (make-exception-with-message
                    (format #f "ml-predictor: malformed reply from ~a: ~a"
                            endpoint (apply format #f fmt args))))))

;;;
;;; Envelopes.
;;;

(define (packed-bytes write!)
  "Return the bytes WRITE!, a procedure of a packer, packs."
  (let ((packer (make-packer 64)))
    (write! packer)
    (packer-contents packer)))

(define (envelope-head entries)
  ;; The start of every request of ENTRIES fields: its map header, the protocol
  ;; field and the key of the id, packed once.
  (packed-bytes (lambda (packer)
                  (pack-map-header! packer entries)
                  (pack-string! packer "protocol")
                  (pack-value! packer protocol-version)
                  (pack-string! packer "id"))))

(define head-with-deadline (envelope-head 5))
(define head-without-deadline (envelope-head 4))
(define method-key (packed-string "method"))
(define params-key (packed-string "params"))
(define deadline-key (packed-string "deadline_ms"))

(define* (pack-request! packer id method params #:key (deadline-ms #f))
  "Write the request envelope for METHOD with PARAMS (an alist) to PACKER, after
what it holds.  ID is the request's id string; DEADLINE-MS, when given, the
caller's patience.  The fixed parts (keys, protocol version) are copied in
already packed."
  (pack-raw! packer (if deadline-ms head-with-deadline head-without-deadline))
  (pack-value! packer id 1)
  (pack-raw! packer method-key)
  (pack-value! packer method 1)
  (pack-raw! packer params-key)
  (pack-value! packer params 1)
  (when deadline-ms
    (pack-raw! packer deadline-key)
    (pack-value! packer deadline-ms 1)))

(define* (encode-request id method params #:key (deadline-ms #f))
  "Return the request envelope for METHOD with PARAMS (an alist) as a bytevector.
ID is the request's id string; DEADLINE-MS, when given, the caller's patience."
  (pack (make-msgpack-writer
         (lambda (packer datum depth)
           (pack-request! packer id method params #:deadline-ms deadline-ms))
         #f)))

;; A decoded reply: #(id ok? result-or-error).
(define (reply-id reply) (vector-ref reply 0))
(define (reply-ok? reply) (vector-ref reply 1))
(define (reply-result reply) (vector-ref reply 2))
(define (reply-error reply) (vector-ref reply 2))

(define (alist? value)
  (and (list? value) (or (null? value) (pair? (car value)))))

(define (unpack-reply payload endpoint map-key nil symbol-value?)
  "Return the value in PAYLOAD, or raise `&ml-predictor-protocol-error' when it is
not msgpack."
  ;; A handler that does not unwind: it raises the protocol error from where the
  ;; decoder raised, and costs less to set up than `catch'.
  (with-exception-handler
      (lambda (condition)
        (raise-protocol-error endpoint "~a"
                              (if (exception-with-message? condition)
                                  (exception-message condition)
                                  condition)))
    (lambda ()
      (if map-key
          (unpack payload #:map-key map-key #:nil nil #:arrays 'list
                  #:symbol-value? symbol-value?)
          (unpack payload)))))

(define envelope-key-texts '("protocol" "id" "ok" "result" "error"))

(define last-envelope-names
  ;; (MAP-KEY . ((TEXT . NAME) ...)): the envelope's keys as the last MAP-KEY given
  ;; to `decode-reply' makes them, so a reply costs no conversion of its keys.
  #f)

(define (envelope-names map-key)
  "Return the alist of each envelope key text to (MAP-KEY text), made once per MAP-KEY."
  (let ((last last-envelope-names))   ; read once: another thread may replace it
    (if (and last (eq? (car last) map-key))
        (cdr last)
        (let ((names (map (lambda (text) (cons text (map-key text))) envelope-key-texts)))
          (set! last-envelope-names (cons map-key names))
          names))))

(define* (decode-reply payload endpoint #:key (map-key #f) (symbol-value? #f))
  "Return the reply envelope in bytevector PAYLOAD, received from ENDPOINT.
The result is read with `reply-id', `reply-ok?', `reply-result' and `reply-error';
an error is a list (CODE MESSAGE FIELD), FIELD #f when nil.  Raise
`&ml-predictor-protocol-error' when PAYLOAD is not a version-1 reply.
With MAP-KEY, the result of an ok reply is decoded into another form as `unpack'
does with these keywords: maps with keys made by MAP-KEY, arrays as lists, #f for
nil and the str values of the keys SYMBOL-VALUE? accepts as symbols; the id is then
#f when nil.  Any other reply is decoded again as without MAP-KEY, so an error
reply, or a reply whose ok is not #t, is judged on the values as sent."
  (let* ((nil (if map-key #f msgpack-nil))
         (reply (unpack-reply payload endpoint map-key nil symbol-value?))
         (names (and map-key (envelope-names map-key))))
    (define (name text)
      (cond ((not map-key) text)
            ((assoc text names) => cdr)
            (else (map-key text))))
    (define (field text)
      (let* ((key (name text))
             (entry (and (alist? reply)
                         ;; Symbols are equal only when eq?: assq spares equal? calls.
                         (if (symbol? key) (assq key reply) (assoc key reply)))))
        (unless entry
          (raise-protocol-error endpoint "key ~s is missing" text))
        (cdr entry)))
    (unless (and (alist? reply) (pair? reply))
      (raise-protocol-error endpoint "expected a map, found ~s" reply))
    (let ((version (field "protocol"))
          (id (field "id"))
          (ok (field "ok")))
      (unless (eqv? version protocol-version)
        (raise-protocol-error endpoint "protocol ~s, expected ~a" version protocol-version))
      (unless (or (string? id) (eq? id nil))
        (raise-protocol-error endpoint "id: expected str or nil, found ~s" id))
      (unless (boolean? ok)
        (raise-protocol-error endpoint "ok: expected bool, found ~s" ok))
      (cond
       ((and map-key (not ok))
        ;; Rare, and #f here may have been nil: decode the reply as sent.
        (decode-reply payload endpoint))
       (ok
        (let ((result (field "result")))
          (unless (alist? result)
            (raise-protocol-error endpoint "result: expected a map, found ~s" result))
          (vector id #t result)))
       (else
        (let* ((error (field "error"))
               (code (and (alist? error) (assoc-ref error "code")))
               (message (and (alist? error) (assoc-ref error "message")))
               (where (and (alist? error) (assoc-ref error "field"))))
          (unless (and (string? code) (string? message)
                       (or (not where) (string? where) (msgpack-nil? where)))
            (raise-protocol-error endpoint
                                  "error: expected a map with str code and message, found ~s"
                                  error))
          (vector id #f (list code message (and (string? where) where)))))))))

;;; protocol.scm ends here
