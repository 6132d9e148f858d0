;;; test-support.scm -- what the SRFI-64 files under tests/scheme share

;;; Commentary:
;;;
;;; A test runner that prints each failure with both sides and exits non-zero when
;;; anything failed (tests/scheme/test_guile.py reads its summary lines); the shared
;;; protocol vectors, read with guile-json and turned into the msgpack module's
;;; representation; `for-each-vector', the data-driven form over them; fresh ipc
;;; endpoints.
;;;
;;; Code:

(define-module (test-support)
  #:use-module (srfi srfi-64)
  #:use-module ((json parser) #:select (json-string->scm))
  #:use-module ((ice-9 textual-ports) #:select (get-string-all))
  #:use-module ((ice-9 regex) #:select (regexp-substitute/global))
  #:use-module (rnrs bytevectors)
  #:use-module ((deploy-ledger plugins ml-predictor msgpack) #:select (msgpack-nil))
  #:export (start-suite
            repository-root
            read-vectors
            for-each-vector
            tagged->value
            hex->bytevector
            bytevector->hex
            fresh-endpoint
            elapsed-seconds))

(define (repository-root)
  "Return the repository's top directory (two levels above this file)."
  (let ((here (search-path %load-path "test-support.scm")))
    (dirname (dirname (dirname (canonicalize-path here))))))

(define (failure-report runner)
  (format #t "FAIL ~a~%" (test-runner-test-name runner))
  (for-each (lambda (key)
              (let ((entry (assq key (test-result-alist runner))))
                (when entry
                  (format #t "  ~a: ~s~%" key (cdr entry)))))
            '(source-file source-line expected-value actual-value actual-error)))

(define (verbose-runner)
  (let ((runner (test-runner-null)))
    (test-runner-on-test-end!
     runner
     (lambda (runner)
       (case (test-result-kind runner)
         ((fail xpass) (failure-report runner))
         (else #t))))
    (test-runner-on-bad-end-name!
     runner
     (lambda (runner begin-name end-name)
       (format #t "FAIL test-end ~s does not match test-begin ~s~%" end-name begin-name)
       (exit 1)))
    (test-runner-on-final!
     runner
     (lambda (runner)
       (let ((failures (+ (test-runner-fail-count runner) (test-runner-xpass-count runner))))
         (format #t "# of expected passes ~a~%" (test-runner-pass-count runner))
         (format #t "# of unexpected failures ~a~%" failures)
         (format #t "# of skipped tests ~a~%" (test-runner-skip-count runner))
         (force-output)
         (exit (if (zero? failures) 0 1)))))
    runner))

(define (start-suite name)
  "Install the verbose runner and begin the suite NAME."
  (test-runner-current (verbose-runner))
  (test-begin name))

(define (read-vectors file)
  "Return the list of cases of protocol/vectors/FILE."
  (let* ((text (call-with-input-file (string-append (repository-root) "/protocol/vectors/" file)
                get-string-all))
         ;; guile-json reads -0.0 as 0.0: keep the sign by reading it as a tag string.
         (text (regexp-substitute/global #f "\\{\"float\": -0\\.0\\}" text
                                         'pre "{\"float\": \"-0.0\"}" 'post))
         (data (json-string->scm text)))
    (vector->list (assoc-ref data "cases"))))

(define-syntax-rule (for-each-vector (case file) body ...)
  ;; Evaluate BODY ... once per case of protocol/vectors/FILE, with CASE bound to it
  ;; (an alist with string keys, as guile-json reads it).
  (for-each (lambda (case) body ...) (read-vectors file)))

(define (hex->bytevector hex)
  (let* ((n (quotient (string-length hex) 2))
         (bv (make-bytevector n)))
    (do ((i 0 (+ i 1))) ((= i n) bv)
      (bytevector-u8-set! bv i (string->number (substring hex (* 2 i) (+ 2 (* 2 i))) 16)))))

(define (bytevector->hex bv)
  (string-concatenate
   (map (lambda (byte) (string-pad (number->string byte 16) 2 #\0))
        (bytevector->u8-list bv))))

(define (tagged->value tagged)
  "Return the Scheme value of a vector's tagged value TAGGED ({\"int\": 5}, ...)."
  (let* ((entry (car tagged)) (tag (car entry)) (data (cdr entry)))
    (cond ((string=? tag "nil") msgpack-nil)
          ((string=? tag "bool") data)
          ((string=? tag "int") data)
          ((string=? tag "float")
           (cond ((equal? data "NaN") +nan.0)
                 ((equal? data "-0.0") -0.0)
                 ((equal? data "Infinity") +inf.0)
                 ((equal? data "-Infinity") -inf.0)
                 (else (exact->inexact data))))
          ((string=? tag "str") data)
          ((string=? tag "bin") (hex->bytevector data))
          ((string=? tag "array") (list->vector (map tagged->value (vector->list data))))
          ((string=? tag "map")
           (map (lambda (pair)
                  (cons (tagged->value (vector-ref pair 0)) (tagged->value (vector-ref pair 1))))
                (vector->list data)))
          (else (error "unknown tag in vector" tag)))))

(define fresh-counter 0)

(define (fresh-endpoint)
  "Return a new ipc endpoint in a fresh temporary directory."
  (set! fresh-counter (+ fresh-counter 1))
  (let ((dir (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp") "/guile-zmq-XXXXXX"))))
    (string-append "ipc://" dir "/socket-" (number->string fresh-counter))))

(define (elapsed-seconds start)
  (exact->inexact (/ (- (get-internal-real-time) start) internal-time-units-per-second)))

;;; test-support.scm ends here
