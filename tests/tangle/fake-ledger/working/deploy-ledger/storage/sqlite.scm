;;; sqlite.scm -- a stand-in for deploy-ledger's (deploy-ledger storage sqlite), for the tests
;;;
;;; A `list-deployments' with the ledger's keywords (#:service #:environment #:status #:limit
;;; #:offset) that works with guile-sqlite3 0.1.3 and returns <deployment-event> records the
;;; way the ledger does (SRFI-19 times, symbols, metadata alists).  Each call is logged to the
;;; file named by $FAKE_LEDGER_LOG so a test can see the API was used.  Written for these tests.

(define-module (deploy-ledger storage sqlite)
  #:use-module (deploy-ledger core types)
  #:use-module ((srfi srfi-19) #:select (make-time time-utc))
  #:use-module ((sqlite3) #:select (sqlite-prepare sqlite-bind-arguments sqlite-step
                                    sqlite-finalize))
  #:export (list-deployments))

(define (log-call . args)
  (let ((file (getenv "FAKE_LEDGER_LOG")))
    (when file
      (let ((port (open-file file "a")))
        (write (cons 'list-deployments args) port)
        (newline port)
        (close-port port)))))

(define (row->event row)
  (define (time-of seconds) (and seconds (make-time time-utc 0 seconds)))
  (define (alist-of text)
    (if (or (not text) (string-null? text)) '() (call-with-input-string text read)))
  (make-deployment-event
   #:id (vector-ref row 0) #:service-name (vector-ref row 1) #:version (vector-ref row 2)
   #:environment (string->symbol (vector-ref row 3))
   #:deployment-type (string->symbol (vector-ref row 4))
   #:started (time-of (vector-ref row 5)) #:completed (time-of (vector-ref row 6))
   #:status (string->symbol (vector-ref row 7)) #:initiator (vector-ref row 8)
   #:metadata (alist-of (vector-ref row 9)) #:parent-id (vector-ref row 10)))

(define* (list-deployments db #:key service environment status limit offset)
  "List the deployments of DB, newest first, filtered by SERVICE, ENVIRONMENT and STATUS."
  (apply log-call (append (if service (list #:service service) '())
                          (if limit (list #:limit limit) '())
                          (if offset (list #:offset offset) '())))
  (let ((stmt (sqlite-prepare db "SELECT id, service_name, version, environment,
      deployment_type, started, completed, status, initiator, metadata, parent_id
    FROM deployments
    WHERE (?1 IS NULL OR service_name = ?1) AND (?2 IS NULL OR environment = ?2)
      AND (?3 IS NULL OR status = ?3)
    ORDER BY started DESC LIMIT ?4 OFFSET ?5")))
    (sqlite-bind-arguments stmt service (and environment (symbol->string environment))
                           (and status (symbol->string status)) (or limit -1) (or offset 0))
    (let loop ((events '()))
      (let ((row (sqlite-step stmt)))
        (if row
            (loop (cons (row->event row) events))
            (begin (sqlite-finalize stmt) (reverse events)))))))
