;;; protocol-test.scm -- envelopes against protocol/vectors/envelopes.json, and the conversions

(use-modules (srfi srfi-64)
             (srfi srfi-19)
             (test-support)
             (deploy-ledger plugins ml-predictor msgpack)
             (deploy-ledger plugins ml-predictor protocol)
             (deploy-ledger plugins ml-predictor records))

(start-suite "protocol")

(define (condition-of thunk)
  "Return the condition THUNK raises, or #f."
  (catch #t (lambda () (thunk) #f) (lambda (key . args) (if (eq? key '%exception) (car args) key))))

(define (ref alist . keys)
  (let loop ((value alist) (keys keys))
    (if (null? keys) value (loop (assoc-ref value (car keys)) (cdr keys)))))

(for-each-vector (case "envelopes.json")
  (let* ((name (assoc-ref case "name"))
         (hex (assoc-ref case "hex"))
         (value (tagged->value (assoc-ref case "value"))))
    (test-equal (string-append "encode: " name) hex (bytevector->hex (pack value)))
    (test-equal (string-append "decode: " name) value (unpack (hex->bytevector hex)))
    (if (string=? (assoc-ref case "direction") "request")
        (test-equal (string-append "encode-request rebuilds: " name)
          hex
          (bytevector->hex
           (encode-request (ref value "id") (ref value "method") (ref value "params")
                           #:deadline-ms (ref value "deadline_ms"))))
        (let ((reply (decode-reply (hex->bytevector hex) "ipc://vectors"))
              (direct (decode-reply (hex->bytevector hex) "ipc://vectors"
                                    #:map-key wire-key->scheme
                                    #:symbol-value? symbol-valued-key?)))
          (test-equal (string-append "decode-reply into the Scheme form: " name)
            ;; An ok reply's result in the Scheme form (a nil id as #f); any other
            ;; reply as sent.
            (if (reply-ok? reply)
                (list (let ((id (reply-id reply))) (and (string? id) id))
                      #t (wire->scheme (reply-result reply)))
                (list (reply-id reply) #f (reply-error reply)))
            (list (reply-id direct) (reply-ok? direct) (vector-ref direct 2)))
          (test-equal (string-append "decode-reply id: " name)
            (ref value "id")
            (reply-id reply))
          (if (ref value "ok")
              (test-equal (string-append "decode-reply result: " name)
                (ref value "result")
                (reply-result reply))
              (test-equal (string-append "decode-reply error: " name)
                (let ((field (ref value "error" "field")))
                  (list (ref value "error" "code") (ref value "error" "message")
                        (and (string? field) field)))
                (reply-error reply)))))))

(define (vector-value name)
  (let loop ((cases (read-vectors "envelopes.json")))
    (if (string=? (assoc-ref (car cases) "name") name)
        (tagged->value (assoc-ref (car cases) "value"))
        (loop (cdr cases)))))

(test-group "a deployment alist becomes the spec's predict request"
  (test-equal "byte for byte"
    (bytevector->hex (pack (vector-value "predict-request")))
    (bytevector->hex
     (encode-request "c1-0002" "predict"
                     `(("deployment"
                        . ,(deployment->wire
                            '((id . "dep-1042") (service-name . "checkout") (version . "2.4.1")
                              (environment . production) (deployment-type . canary)
                              (started . 1771934400) (initiator . "alice") (change-size . 120)
                              (metadata (ticket . "OPS-7"))))))
                     #:deadline-ms 2000))))

(test-group "wire conversions"
  (test-equal "SRFI-19 time-utc becomes epoch seconds"
    '(("started" . 1771934400) ("completed" . 1771934700.5))
    (deployment->wire
     `((started . ,(make-time time-utc 0 1771934400))
       (completed . ,(make-time time-utc 500000000 1771934700)))))
  (test-equal "an SRFI-19 date becomes epoch seconds"
    '(("started" . 1771934400))
    (deployment->wire `((started . ,(time-utc->date (make-time time-utc 0 1771934400) 3600)))))
  (test-equal "#f becomes nil, except in boolean fields"
    `(("completed" . ,msgpack-nil) ("parent_id" . ,msgpack-nil) ("automated" . #f))
    (deployment->wire '((completed . #f) (parent-id . #f) (automated . #f))))
  (test-equal "list fields become arrays, metadata a map"
    `(("resources" . #("cpu" "db")) ("failure_reasons" . #()) ("metadata" . ()))
    (deployment->wire '((resources "cpu" db) (failure-reasons) (metadata))))
  (test-equal "a rollback's list impact becomes a str, timestamp started"
    '(("id" . "rb-1") ("service" . "checkout") ("started" . 10) ("impact" . "checkout, cart"))
    (rollback->wire '((id . "rb-1") (service-name . "checkout") (timestamp . 10)
                      (impact checkout "cart"))))
  (test-assert "a string is not a deployment"
    (condition-of (lambda () (deployment->wire "checkout")))))

(test-group "answers come back as Scheme data"
  (let* ((wire (ref (vector-value "predict-reply") "result"))
         (result (wire->scheme wire)))
    (test-equal "risk-level is a symbol"
      (string->symbol (ref wire "risk_level"))
      (assq-ref result 'risk-level))
    (test-equal "failure-probability"
      (ref wire "failure_probability")
      (assq-ref result 'failure-probability))
    (test-equal "abstained stays a boolean" #f (assq-ref result 'abstained))
    (test-equal "factors become a list of alists with kebab keys"
      (map (lambda (factor) (ref factor "feature")) (vector->list (ref wire "factors")))
      (map (lambda (factor) (assq-ref factor 'feature)) (assq-ref result 'factors)))
    (test-equal "status inside similar-deployments is a symbol"
      (string->symbol (ref (vector-ref (ref wire "similar_deployments") 0) "status"))
      (assq-ref (car (assq-ref result 'similar-deployments)) 'status))
    (test-equal "the keys are kebab-case symbols"
      (map (lambda (entry) (string->symbol (string-map (lambda (c) (if (char=? c #\_) #\- c))
                                                       (car entry))))
           wire)
      (map car result)))
  (test-equal "nil becomes #f"
    '((model-version . #f))
    (wire->scheme `(("model_version" . ,msgpack-nil)))))

(test-group "replies that break the protocol"
  (define (protocol-error? payload)
    ;; Decoded as wire values and straight into the Scheme form alike.
    (let ((conditions
           (list (condition-of (lambda () (decode-reply payload "ipc://fake")))
                 (condition-of (lambda () (decode-reply payload "ipc://fake"
                                                        #:map-key wire-key->scheme
                                                        #:symbol-value? symbol-valued-key?))))))
      (and-map (lambda (condition)
                 (and condition (not (symbol? condition)) (ml-predictor-protocol-error? condition)))
               conditions)))
  (test-assert "garbage bytes" (protocol-error? (hex->bytevector "c1c1c1")))
  (test-assert "not a map" (protocol-error? (pack #(1 2))))
  (test-assert "missing ok" (protocol-error? (pack '(("protocol" . 1) ("id" . "x")))))
  (test-assert "another protocol version"
    (protocol-error? (pack '(("protocol" . 2) ("id" . "x") ("ok" . #t) ("result")))))
  (test-assert "ok without a result map"
    (protocol-error? (pack '(("protocol" . 1) ("id" . "x") ("ok" . #t) ("result" . 5)))))
  (test-assert "an error without a code"
    (protocol-error? (pack '(("protocol" . 1) ("id" . "x") ("ok" . #f) ("error" ("message" . "m"))))))
  (test-assert "an error whose code is not a str"
    (protocol-error? (pack '(("protocol" . 1) ("id" . "x") ("ok" . #f)
                             ("error" ("code" . 5) ("message" . "m"))))))
  (test-assert "ok nil, even with a well-formed error"
    (protocol-error? (pack `(("protocol" . 1) ("id" . "x") ("ok" . ,msgpack-nil)
                             ("error" ("code" . "c") ("message" . "m"))))))
  (test-assert "a duplicate key"
    (protocol-error? (hex->bytevector "82a16101a16102")))
  (test-assert "the message names the endpoint"
    (string-contains
     (let ((condition (condition-of (lambda () (decode-reply (hex->bytevector "c1") "ipc://fake")))))
       ((@ (ice-9 exceptions) exception-message) condition))
     "ipc://fake")))

(test-end "protocol")
