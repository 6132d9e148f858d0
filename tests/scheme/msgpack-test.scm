;;; msgpack-test.scm -- the msgpack codec against every vector of protocol/vectors/msgpack.json

(use-modules (srfi srfi-64)
             (rnrs bytevectors)
             ((rnrs io ports) #:select (open-bytevector-input-port))
             (test-support)
             (deploy-ledger plugins ml-predictor msgpack))

(start-suite "msgpack")

(define (refused? thunk)
  (catch #t
    (lambda () (thunk) #f)
    (lambda (key . args)
      (and (eq? key '%exception) (msgpack-error? (car args))))))

(for-each-vector (case "msgpack.json")
  (let ((name (assoc-ref case "name"))
        (bytes (hex->bytevector (assoc-ref case "hex"))))
    (if (assoc-ref case "reject")
        (test-assert (string-append "reject: " name)
          (refused? (lambda () (unpack bytes))))
        (let ((value (tagged->value (assoc-ref case "value"))))
          (test-equal (string-append "encode: " name)
            (assoc-ref case "hex")
            (bytevector->hex (pack value)))
          (test-equal (string-append "decode: " name)
            value
            (unpack bytes))
          (test-equal (string-append "decode from port: " name)
            value
            (unpack-from-port (open-bytevector-input-port bytes)))
          (for-each (lambda (other)
                      (test-equal (string-append "decode accepted " other ": " name)
                        value
                        (unpack (hex->bytevector other))))
                    (vector->list (assoc-ref case "accept")))))))

(test-group "packing choices of the Scheme representation"
  (test-equal "symbols pack as str" "a3616263" (bytevector->hex (pack 'abc)))
  (test-equal "symbol keys pack as str keys" "81a16101" (bytevector->hex (pack '((a . 1)))))
  (test-equal "exact rationals pack as float64" "cb3fe0000000000000" (bytevector->hex (pack 1/2)))
  (test-equal "hash tables pack in key order, not hash order"
    "83a16101a16202a16303"
    (let ((table (make-hash-table)))
      (for-each (lambda (key value) (hash-set! table key value)) '("c" "a" "b") '(3 1 2))
      (bytevector->hex (pack table))))
  (test-assert "integers beyond int64 are refused"
    (refused? (lambda () (pack (expt 2 63)))))
  (test-assert "a procedure cannot be packed"
    (refused? (lambda () (pack car))))
  (test-assert "an improper alist cannot be packed"
    (refused? (lambda () (pack '(("a" . 1) . 5)))))
  (test-assert "packing nests no deeper than the limit"
    (refused? (lambda ()
                (pack (let loop ((n 40)) (if (zero? n) 0 (vector (loop (- n 1))))))))))

(test-group "bounds"
  (test-assert "a str length beyond the input is refused before allocating"
    (refused? (lambda () (unpack (hex->bytevector "dbffffffff61")))))
  (test-assert "a payload above msgpack-max-length is refused"
    (refused? (lambda ()
                (parameterize ((msgpack-max-length 4))
                  (unpack (pack "0123456789"))))))
  (test-assert "a port length above msgpack-max-length is refused"
    (refused? (lambda ()
                (parameterize ((msgpack-max-length 4))
                  (unpack-from-port (open-bytevector-input-port (pack "0123456789")))))))
  (test-equal "trailing? returns the value and where the rest begins"
    '(1 1)
    (call-with-values (lambda () (unpack (hex->bytevector "0102") #:trailing? #t)) list))
  (test-equal "a large bin survives the round trip"
    200000
    (bytevector-length (unpack (pack (make-bytevector 200000 7)))))
  (test-equal "the error names the offset of the bad byte"
    2
    (catch #t
      (lambda () (unpack (hex->bytevector "9201c1")))
      (lambda (key exn) (msgpack-error-offset exn)))))

(test-end "msgpack")
