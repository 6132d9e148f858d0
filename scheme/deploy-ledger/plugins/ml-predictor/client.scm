;;; client.scm -- one call to the predictor daemon: a DEALER socket, a deadline, no hang

;;; Commentary:
;;;
;;; `call-predictor' sends one request and waits for its reply at most
;;; `ml-predictor-timeout' seconds in all; idempotent methods get a second attempt on a
;;; fresh socket within that budget, as the Python client does.  The connection is a
;;; DEALER socket kept between calls (one per process, guarded by a mutex, so calls from
;;; several threads take turns).  When an attempt times out, or a reply breaks the
;;; protocol, the socket is closed with ZMQ_LINGER 0 (Lazy Pirate): nothing stale is
;;; left and the next call connects afresh, so it works as soon as the daemon is back.
;;; Replies whose id is not the one awaited (late answers) are dropped.  A process that
;;; forks should not use the connection of its parent (ZeroMQ contexts do not survive
;;; fork); fork-then-exec, as for running deployment commands, is fine.
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor client)
  #:use-module (deploy-ledger plugins ml-predictor zmq)
  #:use-module (deploy-ledger plugins ml-predictor protocol)
  #:use-module ((deploy-ledger plugins ml-predictor config) #:select (default-endpoint))
  #:use-module ((deploy-ledger plugins ml-predictor heap) #:select (reserve-heap!))
  #:use-module ((deploy-ledger plugins ml-predictor records)
                #:select (wire-key->scheme symbol-valued-key?))
  #:use-module ((deploy-ledger plugins ml-predictor msgpack)
                #:select (make-packer packer-reset! packer-buffer packer-position))
  #:use-module ((rnrs bytevectors) #:select (make-bytevector bytevector-length))
  #:use-module ((ice-9 threads) #:select (make-mutex with-mutex))
  #:use-module ((ice-9 exceptions) #:select (raise-exception))
  #:export (ml-predictor-endpoint
            ml-predictor-timeout
            call-predictor
            call-with-fallback
            no-fallback
            ml-predictor-disconnect))

(define ml-predictor-endpoint
  ;; The ZeroMQ endpoint of the daemon; parameterize to change it.  Default:
  ;; $PREDICTOR_ENDPOINT, else the rule shared with the daemon and the CLI (the config
  ;; module, after predictor/config.py), read when this module is loaded.
  (make-parameter (default-endpoint)
                  (lambda (endpoint)
                    (unless (and (string? endpoint) (string-index endpoint #\:))
                      (error "ml-predictor-endpoint: expected an endpoint string such as \"ipc:///path\", found"
                             endpoint))
                    endpoint)))

(define ml-predictor-timeout
  ;; Seconds a call waits for the daemon in all (default 2) before raising a
  ;; condition satisfying `ml-predictor-unavailable?'; parameterize to change it.
  (make-parameter 2
                  (lambda (seconds)
                    (unless (and (real? seconds) (positive? seconds))
                      (error "ml-predictor-timeout: expected a positive number of seconds, found"
                             seconds))
                    seconds)))

(define lock (make-mutex))
(define current-socket #f)
(define current-endpoint #f)
(define request-counter 0)
(define empty-frame (make-bytevector 0))

(define (discard-socket!)
  (when current-socket
    (zmq-close current-socket #:linger 0)
    (set! current-socket #f)
    (set! current-endpoint #f)))

(define (ml-predictor-disconnect)
  "Close the connection to the daemon now; the next call opens a fresh one."
  (with-mutex lock (discard-socket!)))

(define (socket-for endpoint)
  (unless (and current-socket (equal? endpoint current-endpoint))
    (discard-socket!)
    (reserve-heap!)                     ; once per process: see the heap module
    (let ((socket (make-zmq-socket ZMQ_DEALER)))
      (zmq-set-option socket ZMQ_LINGER 0)
      (zmq-set-option socket ZMQ_MAXMSGSIZE (* 5 1024 1024))
      (on-failure (lambda () (zmq-close socket #:linger 0))
                  (lambda () (zmq-connect socket endpoint)))
      (set! current-socket socket)
      (set! current-endpoint endpoint)))
  current-socket)

(define (on-failure cleanup thunk)
  "Return the value of THUNK; if it raises, call CLEANUP and raise again."
  (with-exception-handler
      (lambda (condition)
        (cleanup)
        (raise-exception condition))
    thunk
    #:unwind? #t))

(define id-prefix #f)                   ; "guile-PID-", made again when the pid changes
(define id-prefix-pid #f)

(define (next-request-id)
  (set! request-counter (+ request-counter 1))
  (let ((pid (getpid)))
    (unless (eqv? pid id-prefix-pid)
      (set! id-prefix (string-append "guile-" (number->string pid) "-"))
      (set! id-prefix-pid pid)))
  (request-id-string id-prefix request-counter))

(define id-strings
  ;; Length -> the string the ids of that length are written into.  An id is used only
  ;; while the lock is held (packed, then compared with the replies' ids), so one
  ;; string per length serves every call and making an id allocates nothing.
  (make-vector 64 #f))

(define (request-id-string prefix counter)
  "Return PREFIX followed by the digits of COUNTER, a positive integer, in a string
reused by the next call of the same length."
  (let* ((digits (let count ((n counter) (d 1)) (if (< n 10) d (count (quotient n 10) (+ d 1)))))
         (length (+ (string-length prefix) digits)))
    (if (>= length (vector-length id-strings))
        (string-append prefix (number->string counter))
        (let ((text (or (vector-ref id-strings length)
                        (let ((text (make-string length)))
                          (vector-set! id-strings length text)
                          text))))
          (string-copy! text 0 prefix)
          (let fill ((n counter) (i (- length 1)))
            (string-set! text i (integer->char (+ 48 (remainder n 10))))
            (when (>= n 10)
              (fill (quotient n 10) (- i 1))))
          text))))

;;; Times are kept as exact integers of internal time units (nanoseconds in Guile 3),
;;; which, unlike seconds as flonums, are not allocated on the heap.

(define (now)
  "Return a monotonic time in internal time units."
  (get-internal-real-time))

(define units-per-ms (/ internal-time-units-per-second 1000))

(define (seconds->units seconds)
  (inexact->exact (round (* seconds internal-time-units-per-second))))

(define (units->ms units)
  "Return UNITS, an exact count of internal time units, as whole milliseconds (floor)."
  (floor-quotient units units-per-ms))

(define non-idempotent-methods
  ;; Methods never sent twice by the client itself (protocol/SPEC.md, section 6).
  '("record" "feedback" "reload"))

(define (decode-frames frames endpoint scheme-form?)
  "Return the decoded reply in FRAMES, from ENDPOINT; see `call-predictor'."
  (unless (and (= (length frames) 2) (zero? (bytevector-length (car frames))))
    (raise-protocol-error endpoint "expected 2 frames (delimiter, payload), found ~a"
                          (length frames)))
  (if scheme-form?
      (decode-reply (cadr frames) endpoint
                    #:map-key wire-key->scheme #:symbol-value? symbol-valued-key?)
      (decode-reply (cadr frames) endpoint)))

(define (discard-socket-and-raise condition)
  ;; A handler that does not unwind (cheaper to set up than one that does): the
  ;; socket is closed where the receive or the decoding raised, then the condition
  ;; goes on to the caller.
  (discard-socket!)
  (raise-exception condition))

(define (await-reply socket endpoint id until scheme-form?)
  "Return the decoded reply to request ID on SOCKET, or #f when time UNTIL (in
internal time units) passes first."
  (let wait ()
    (let ((left (- until (now))))
      (and (> left 0)
           ;; One blocking receive that gives up at UNTIL (rounded up: waking before
           ;; it would only mean waiting once more).  The payload is decoded straight
           ;; from libzmq's buffer, then released.
           (let ((reply (with-exception-handler discard-socket-and-raise
                          (lambda ()
                            (zmq-call-with-frames
                             socket
                             (lambda (frames)
                               (decode-frames frames endpoint scheme-form?))
                             #:timeout-ms (ceiling-quotient left units-per-ms))))))
             (cond ((not reply) (wait))  ; timed out: `left' tells whether time is up
                   ((equal? (reply-id reply) id) reply)
                   ;; A late answer to an earlier attempt: not ours, keep waiting.
                   (else (wait))))))))

(define request-packer
  ;; The request is packed here and sent from here: no bytevector per request.  Used
  ;; with the lock held; replaced when a large request made it grow above 64 KiB.
  (make-packer 4096))

(define (send-request socket id method params until)
  "Queue request ID on SOCKET without blocking; return #f when it cannot be queued."
  (packer-reset! request-packer)
  (pack-request! request-packer id method params
                 #:deadline-ms (max 1 (units->ms (- until (now)))))
  ;; A frame libzmq refuses (EAGAIN: not connected yet, ...) counts as not sent.
  (let ((sent? (and (zmq-send-bytes socket empty-frame 0 #:more? #t #:dont-wait? #t
                                    #:raise? #f)
                    (zmq-send-bytes socket (packer-buffer request-packer)
                                    (packer-position request-packer) #:dont-wait? #t
                                    #:raise? #f))))
    (when (> (bytevector-length (packer-buffer request-packer)) 65536)
      (set! request-packer (make-packer 4096)))
    sent?))

(define* (call-predictor method params
                         #:key (endpoint (ml-predictor-endpoint))
                         (timeout (ml-predictor-timeout))
                         (retries 1)
                         (scheme-form? #f))
  "Send METHOD with PARAMS (a wire-shaped alist) to the daemon at ENDPOINT and return
the reply's result (a wire-shaped alist).  Wait at most TIMEOUT seconds in all, then
raise `&ml-predictor-unavailable'.  Idempotent methods are tried RETRIES more times
within that budget, each attempt on a fresh socket (Lazy Pirate).  An error reply
raises `&ml-predictor-remote-error', a reply that breaks the protocol
`&ml-predictor-protocol-error'.  With SCHEME-FORM?, return the result as
`wire->scheme!' makes it (kebab-case symbol keys, lists, #f for nil, enum-like
values as symbols), decoded straight into that form."
  (with-mutex lock
    (let* ((start (now))
           (end (+ start (seconds->units timeout)))
           (attempts (if (member method non-idempotent-methods) 1 (+ 1 retries))))
      (let attempt ((n 0))
        (let ((remaining (- end (now))))
          (if (or (= n attempts) (<= remaining 0))
              (raise-unavailable endpoint timeout
                                 (string-append
                                  "waited "
                                  (number->string (/ (units->ms (- (now) start)) 1000.0))
                                  " s, " (number->string n) " attempt(s)"))
              (let* ((until (+ (now) (quotient remaining (- attempts n))))
                     (socket (socket-for endpoint))
                     (id (next-request-id))
                     (reply (and (send-request socket id method params until)
                                 (await-reply socket endpoint id until scheme-form?))))
                (cond ((not reply)
                       ;; Never reuse a socket that may hold a lost request.
                       (discard-socket!)
                       (attempt (+ n 1)))
                      ((reply-ok? reply) (reply-result reply))
                      (else (apply raise-remote-error (reply-error reply)))))))))))

(define no-fallback
  ;; The default of every #:fallback option: raise conditions, return no default.
  (list 'no-fallback))

(define (call-with-fallback fallback thunk)
  "Return the value of THUNK.  When it raises an ml-predictor condition (or a
`&zmq-error': libzmq missing, a bad endpoint) and FALLBACK is not `no-fallback',
return FALLBACK instead, or, when FALLBACK is a procedure, the result of calling it
with the condition.  Other errors (a malformed DEPLOYMENT, say) are raised as usual."
  (if (eq? fallback no-fallback)
      (thunk)
      (let ((outcome
             (with-exception-handler
                 (lambda (condition)
                   (if (or (ml-predictor-error? condition) (zmq-error? condition))
                       (cons fallback-tag condition)
                       (raise-exception condition)))
               thunk
               #:unwind? #t)))
        (if (and (pair? outcome) (eq? (car outcome) fallback-tag))
            (if (procedure? fallback) (fallback (cdr outcome)) fallback)
            outcome))))

(define fallback-tag (list 'fallback))

;;; client.scm ends here
