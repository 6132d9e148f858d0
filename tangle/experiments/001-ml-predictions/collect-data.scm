#!/usr/bin/env -S guile -s
!#
;;; collect-data.scm -- export a deploy-ledger history for `predictor ingest'
;;;
;;; Usage: guile collect-data.scm --db LEDGER.db --out HISTORY.sexp [--features FEATURES.lines]
;;;                               [--services SERVICES.jsonl]
;;;
;;; Writes the ledger's S-expression export (version 1) and, with --features, one feature
;;; line per service; with --services, the services and their dependencies as JSON Lines
;;; (the export has no place for them).  The ledger database is only ever opened read-only.

(use-modules ((ice-9 format) #:select (format))
             ((ice-9 getopt-long) #:select (getopt-long option-ref))
             ((ice-9 match) #:select (match match-lambda))
             ((srfi srfi-1) #:select (every delete-duplicates filter-map))
             ((srfi srfi-9) #:select (define-record-type))
             ((srfi srfi-11) #:select (let*-values))
             ((srfi srfi-19) #:select (time? time-second))
             ((sqlite3) #:select (sqlite-open sqlite-close sqlite-prepare
                                  sqlite-bind-arguments sqlite-step sqlite-finalize
                                  SQLITE_OPEN_READONLY)))

(read-disable 'positions)             ; stored S-expressions need no source locations

(define (fail fmt . args)
  "Print the message made of FMT and ARGS on the error port and exit with status 1."
  (format (current-error-port) "collect-data: ~?~%" fmt args)
  (exit 1))

;;; The ledger database

(define (query-rows db sql . params)
  "Run SQL with PARAMS bound in order on DB; return its rows as a list of vectors."
  (let ((stmt (sqlite-prepare db sql)))
    (dynamic-wind
      (const #t)
      (lambda ()
        (apply sqlite-bind-arguments stmt params)
        (let loop ((rows '()))
          (match (sqlite-step stmt)
            (#f (reverse rows))
            (row (loop (cons row rows))))))
      (lambda () (sqlite-finalize stmt)))))

(define (table-columns db table)
  "Return the column names of TABLE in DB; the empty list when DB has no such table."
  (map (lambda (row) (vector-ref row 0))
       (query-rows db "SELECT name FROM pragma_table_info(?)" table)))

(define (ledger-schema db path)
  "Return the schema variant of the ledger database DB read from PATH: 'init or 'migrations."
  (let ((deployments (table-columns db "deployments"))
        (rollbacks (table-columns db "rollbacks"))
        (services (table-columns db "service_metadata")))
    (define (has? columns . names)
      (every (lambda (name) (member name columns)) names))
    (unless (has? deployments "id" "service_name" "version" "environment" "deployment_type"
                  "started" "completed" "status" "initiator" "metadata" "parent_id")
      (fail "~a: not a deploy-ledger database: table deployments has columns ~s" path deployments))
    (cond
     ((and (has? rollbacks "initiated" "completed" "status")
           (has? services "service_name" "description" "team"))
      'init)
     ((and (has? rollbacks "timestamp" "initiator" "impact")
           (has? services "name" "type" "owners"))
      'migrations)
     (else
      (fail "~a: unknown ledger schema: rollbacks has columns ~s, service_metadata has ~s; ~
expected the init-database! variant (rollbacks.initiated, service_metadata.service_name) ~
or the migrations variant (rollbacks.timestamp, service_metadata.name)"
            path rollbacks services)))))

;;; Values as the ledger stores them

(define (place where)
  "Return the text naming WHERE, a list (FILE TABLE-ROW ID COLUMN), for an error message."
  (apply format #f "~a: ~a ~s, column ~a" where))

(define (epoch-seconds value where)
  "Return VALUE (epoch seconds as stored, or a SRFI-19 time) as an exact integer or #f.
WHERE, a list (FILE TABLE-ROW ID COLUMN), names the place for an error message."
  (cond ((not value) #f)
        ((and (integer? value) (exact? value)) value)
        ((real? value) (inexact->exact (round value)))
        ((time? value) (time-second value))
        ((and (string? value) (string->number value)) => (lambda (n) (epoch-seconds n where)))
        (else (fail "~a: expected epoch seconds, found ~s" (place where) value))))

(define (sexp-text value where)
  "Read the S-expression text VALUE (how the ledger stores alists and lists); #f when empty.
A value that is already a list (from the ledger's own reader) is returned as it is."
  (cond ((or (not value) (equal? value "")) #f)
        ((pair? value) value)
        ((null? value) #f)
        ((string? value)
         (catch #t
           (lambda () (call-with-input-string value read))
           (lambda _ (fail "~a: expected an S-expression, found ~s" (place where) value))))
        (else (fail "~a: expected S-expression text, found ~s" (place where) value))))

(define (as-symbol value)
  "Return VALUE (a string or symbol as the ledger stores enumerations) as a symbol."
  (if (string? value) (string->symbol value) value))

(define (civil-date days)
  "Return the (YEAR MONTH DAY) of DAYS since 1970-01-01 in the proleptic Gregorian calendar."
  ;; Howard Hinnant's days-to-civil: eras of 400 years, years starting in March.
  (let* ((z (+ days 719468))
         (era (floor-quotient z 146097))
         (day-of-era (- z (* era 146097)))
         (year-of-era (quotient (- day-of-era (quotient day-of-era 1460)
                                   (- (quotient day-of-era 36524))
                                   (quotient day-of-era 146096))
                                365))
         (day-of-year (- day-of-era (+ (* 365 year-of-era) (quotient year-of-era 4)
                                       (- (quotient year-of-era 100)))))
         (shifted-month (quotient (+ (* 5 day-of-year) 2) 153))
         (day (+ 1 (- day-of-year (quotient (+ (* 153 shifted-month) 2) 5))))
         (month (if (< shifted-month 10) (+ shifted-month 3) (- shifted-month 9))))
    (list (+ year-of-era (* era 400) (if (<= month 2) 1 0)) month day)))

(define (two-digits n)
  "Return N (0-99) as two decimal digits."
  (if (< n 10) (string-append "0" (number->string n)) (number->string n)))

(define (iso8601 seconds)
  "Return epoch SECONDS as an ISO-8601 UTC time such as 2026-11-21T15:30:05Z, or #f."
  (and seconds
       (let ((time-of-day (floor-remainder seconds 86400)))
         (match (civil-date (floor-quotient seconds 86400))
           ((year month day)
            (string-append (number->string year) "-" (two-digits month) "-" (two-digits day)
                           "T" (two-digits (quotient time-of-day 3600))
                           ":" (two-digits (quotient (remainder time-of-day 3600) 60))
                           ":" (two-digits (remainder time-of-day 60)) "Z"))))))

;;; Deployments

(define-record-type <deployment>
  (make-deployment id service version environment type started completed status
                   initiator metadata parent-id)
  deployment?
  (id deployment-id)
  (service deployment-service)
  (version deployment-version)
  (environment deployment-environment)      ; symbol
  (type deployment-type)                    ; symbol
  (started deployment-started)              ; epoch seconds
  (completed deployment-completed)          ; epoch seconds or #f
  (status deployment-status)                ; symbol
  (initiator deployment-initiator)
  (metadata deployment-metadata)            ; alist
  (parent-id deployment-parent-id))

(define (row->deployment row path)
  "Make a <deployment> of ROW, the eleven ledger columns in order, read from PATH."
  (match (vector->list row)
    ((id service version environment type started completed status initiator metadata parent-id)
     (let ((where (lambda (column) (list path "deployment" id column))))
       (make-deployment id service version (as-symbol environment) (as-symbol type)
                        (or (epoch-seconds started (where "started"))
                            (fail "~a: missing start time" (place (where "started"))))
                        (epoch-seconds completed (where "completed"))
                        (as-symbol status) initiator
                        (let ((alist (or (sexp-text metadata (where "metadata")) '())))
                          (unless (list? alist)
                            (fail "~a: expected an association list, found ~s"
                                  (place (where "metadata")) metadata))
                          alist)
                        parent-id)))))

(define (ledger-deployment-rows db)
  "Return every deployment row of DB, oldest first, reading the table directly."
  (query-rows db "SELECT id, service_name, version, environment, deployment_type, started,
                         completed, status, initiator, metadata, parent_id
                  FROM deployments ORDER BY started, id"))

(define (ledger-api)
  "Return the procedures of the ledger's public storage API, as (LIST-DEPLOYMENTS . FIELD),
when a deploy-ledger installation is on the load path, else #f.  FIELD maps a field name
to its accessor on the ledger's <deployment-event> records from (deploy-ledger core types)."
  (let ((storage (false-if-exception (resolve-interface '(deploy-ledger storage sqlite))))
        (types (false-if-exception (resolve-module '(deploy-ledger core types) #:ensure #f))))
    (and storage types
         (module-defined? storage 'list-deployments)
         (cons (module-ref storage 'list-deployments)
               (lambda (field)
                 ;; The accessors may be inlinable macros (SRFI-9 in Guile 3), so they are
                 ;; called from code expanded inside the types module, not fetched as values.
                 (eval `(lambda (event) (,(symbol-append 'deployment-event- field) event))
                       types))))))

(define (api-deployment-rows api db)
  "Read every deployment of DB through the ledger's `list-deployments' (see `ledger-api');
return rows like `ledger-deployment-rows', or #f when the ledger's reader fails here."
  (match api
    ((list-deployments . field)
     (catch #t
       (lambda ()
         ;; Probe with one row first: the upstream readers call `sqlite-done?', which
         ;; guile-sqlite3 0.1.3 does not have.
         (list-deployments db #:limit 1)
         (let ((fields (map field '(id service-name version environment deployment-type
                                    started completed status initiator metadata parent-id))))
           (sort (map (lambda (event)
                        (list->vector (map (lambda (accessor) (accessor event)) fields)))
                      (list-deployments db))
                 (lambda (a b)
                   (define (started row)
                     (epoch-seconds (vector-ref row 5)
                                    (list "ledger API" "deployment" (vector-ref row 0) "started")))
                   (let ((sa (started a)) (sb (started b)))
                     (or (< sa sb)
                         (and (= sa sb) (string<? (vector-ref a 0) (vector-ref b 0)))))))))
       (lambda (key . args)
         (format (current-error-port)
                 "collect-data: the ledger's list-deployments failed here (~a ~s); ~
reading the database directly~%" key args)
         #f)))))

(define (read-deployments db path)
  "Return the deployments of the ledger database DB (read from PATH), oldest first, and
how they were read: 'ledger-api or 'direct."
  (let* ((api (ledger-api))
         (api-rows (and api (api-deployment-rows api db)))
         (rows (or api-rows (ledger-deployment-rows db))))
    (values (map (lambda (row) (row->deployment row path)) rows)
            (if api-rows 'ledger-api 'direct))))

;;; Rollbacks

(define (read-rollbacks db path schema)
  "Return the rollbacks of DB (read from PATH, schema variant SCHEMA) as export fields."
  (define (where id column) (list path "rollback" id column))
  (case schema
    ((migrations)
     (map (match-lambda
            (#(id service from to reason timestamp initiator impact deployment-id)
             `((id . ,id) (service . ,service) (from-version . ,from) (to-version . ,to)
               (reason . ,reason)
               (timestamp . ,(iso8601 (epoch-seconds timestamp (where id "timestamp"))))
               (initiator . ,initiator)
               (impact . ,(sexp-text impact (where id "impact")))
               (deployment-id . ,deployment-id))))
          (query-rows db "SELECT id, service_name, from_version, to_version, reason,
                                 timestamp, initiator, impact, deployment_id
                          FROM rollbacks ORDER BY timestamp, id")))
    ((init)
     (map (match-lambda
            (#(id service from to reason initiated completed status deployment-id)
             `((id . ,id) (service . ,service) (from-version . ,from) (to-version . ,to)
               (reason . ,reason)
               (timestamp . ,(iso8601 (epoch-seconds initiated (where id "initiated"))))
               (initiator . #f)
               (impact . #f)
               (deployment-id . ,deployment-id)
               (completed . ,(iso8601 (epoch-seconds completed (where id "completed"))))
               (status . ,(and status (as-symbol status))))))
          (query-rows db "SELECT id, service_name, from_version, to_version, reason,
                                 initiated, completed, status, deployment_id
                          FROM rollbacks ORDER BY initiated, id")))))

;;; Services

(define (sexp-list text where)
  "Return the list stored as S-expression TEXT (owners, tags, dependencies); '() when empty."
  (let ((value (or (sexp-text text where) '())))
    (if (list? value)
        value
        (fail "~a: expected a list, found ~s" (place where) text))))

(define (name-of value)
  "Return VALUE, a service name or tag stored as a string or a symbol, as a string."
  (if (symbol? value) (symbol->string value) value))

(define (dependency-objects names kinds)
  "Return the JSON dependency objects of NAMES (from service_metadata.dependencies: names, or
(NAME . KIND) pairs) and KINDS (an alist NAME -> KIND from service_dependencies)."
  (let* ((listed (map (match-lambda
                        ((name . kind) (cons (name-of name) (name-of kind)))
                        (name (cons (name-of name) #f)))
                      names))
         (all (delete-duplicates (append (map car listed) (map car kinds)))))
    (list->vector
     (map (lambda (name)
            `(@ ("depends_on" . ,name)
                ("kind" . ,(or (assoc-ref kinds name) (assoc-ref listed name) "hard"))))
          all))))

(define (read-services db path schema)
  "Return the services DB describes, each a JSON object in the form `write-json' takes."
  (define (where name column) (list path "service" name column))
  (define (strings text name column)
    (list->vector (map name-of (sexp-list text (where name column)))))
  (define (time text name column)
    (let ((seconds (epoch-seconds text (where name column))))
      (if seconds (iso8601 seconds) 'null)))
  (define (text value) (or value 'null))
  (case schema
    ((migrations)
     (let ((kinds (if (null? (table-columns db "service_dependencies"))
                      '()                  ; before the ledger's second migration
                      (map (match-lambda (#(service depends-on kind) (list service depends-on kind)))
                           (query-rows db "SELECT service_name, depends_on, dependency_type
                                           FROM service_dependencies
                                           ORDER BY service_name, depends_on")))))
       (map (match-lambda
              (#(name type dependencies owners repository health-check created updated active tags)
               `(@ ("record" . "service") ("name" . ,name) ("type" . ,(text type))
                   ("owners" . ,(strings owners name "owners"))
                   ("repository" . ,(text repository)) ("health_check" . ,(text health-check))
                   ("tags" . ,(strings tags name "tags"))
                   ("active" . ,(if (memv active '(0 "0" "false" #f)) 'false 'true))
                   ("created" . ,(time created name "created"))
                   ("updated" . ,(time updated name "updated"))
                   ("dependencies"
                    . ,(dependency-objects
                        (sexp-list dependencies (where name "dependencies"))
                        (filter-map (match-lambda
                                      ((service depends-on kind)
                                       (and (equal? service name) (cons depends-on (or kind "hard")))))
                                    kinds))))))
            (query-rows db "SELECT name, type, dependencies, owners, repository, health_check,
                                   created, updated, active, tags
                            FROM service_metadata ORDER BY name"))))
    ((init)
     (map (match-lambda
            (#(name description team repository documentation health-check dependencies tags)
             `(@ ("record" . "service") ("name" . ,name) ("description" . ,(text description))
                 ("team" . ,(text team)) ("repository" . ,(text repository))
                 ("documentation_url" . ,(text documentation))
                 ("health_check" . ,(text health-check))
                 ("tags" . ,(strings tags name "tags"))
                 ("dependencies" . ,(dependency-objects
                                     (sexp-list dependencies (where name "dependencies")) '())))))
          (query-rows db "SELECT service_name, description, team, repository_url, documentation_url,
                                 health_check_url, dependencies, tags
                          FROM service_metadata ORDER BY service_name")))))

(define (service-name service)
  "Return the name of SERVICE, a JSON object from `read-services'."
  (assoc-ref (cdr service) "name"))

;;; JSON Lines (services)

(define (write-json-string text port)
  "Write TEXT to PORT as a JSON string."
  (write-char #\" port)
  (string-for-each
   (lambda (char)
     (case char
       ((#\") (display "\\\"" port))
       ((#\\) (display "\\\\" port))
       ((#\newline) (display "\\n" port))
       ((#\return) (display "\\r" port))
       ((#\tab) (display "\\t" port))
       (else (if (< (char->integer char) 32)
                 (format port "\\u~4,'0x" (char->integer char))
                 (write-char char port)))))
   text)
  (write-char #\" port))

(define (write-json value port)
  "Write VALUE to PORT as JSON.  Objects are (@ (KEY . VALUE) ...) with string keys, arrays are
vectors, and the symbols null, true and false stand for themselves."
  (match value
    (('@ . members)
     (display "{" port)
     (let loop ((members members) (first? #t))
       (match members
         (() #t)
         (((key . item) . rest)
          (unless first? (display ", " port))
          (write-json-string key port)
          (display ": " port)
          (write-json item port)
          (loop rest #f))))
     (display "}" port))
    ((? vector?)
     (display "[" port)
     (let loop ((index 0))
       (when (< index (vector-length value))
         (unless (zero? index) (display ", " port))
         (write-json (vector-ref value index) port)
         (loop (1+ index))))
     (display "]" port))
    ((? string?) (write-json-string value port))
    ((and (? number?) (? exact?)) (display value port))
    ((? symbol?) (display value port))
    (_ (error "write-json: not a JSON value" value))))

(define (write-services services port)
  "Write SERVICES, JSON objects, to PORT as JSON Lines."
  (for-each (lambda (service) (write-json service port) (newline port)) services))

;;; The export

(define (alist? value)
  "Return #t when VALUE is a non-empty list of pairs."
  (and (pair? value) (list? value) (every pair? value)))

(define (write-datum value port)
  "Write VALUE to PORT like `write', but with every entry of an association list dotted:
((configuration . ((replicas . 4)))) rather than ((configuration (replicas . 4))).  Both
are the same datum; the dotted form is the layout of the ledger's examples, and readers
that look at the surface syntax take it for an association list without guessing."
  (if (alist? value)
      (begin
        (display "(" port)
        (let loop ((entries value) (first? #t))
          (unless (null? entries)
            (unless first? (display " " port))
            (display "(" port)
            (write (caar entries) port)
            (display " . " port)
            (write-datum (cdar entries) port)
            (display ")" port)
            (loop (cdr entries) #f)))
        (display ")" port))
      (write value port)))

(define (write-entry tag fields port)
  "Write the export entry (TAG (NAME VALUE) ...) for the alist FIELDS to PORT, one field a line."
  (display "(" port)
  (display tag port)
  (for-each (match-lambda
              ((name . value)
               (display "\n (" port)
               (display name port)
               (display " " port)
               (write-datum value port)
               (display ")" port)))
            fields)
  (display ")\n" port))

(define (deployment-fields d)
  "Return the export fields of the <deployment> D, in the ledger's order."
  `((id . ,(deployment-id d))
    (service . ,(deployment-service d))
    (version . ,(deployment-version d))
    (environment . ,(deployment-environment d))
    (type . ,(deployment-type d))
    (started . ,(iso8601 (deployment-started d)))
    (completed . ,(iso8601 (deployment-completed d)))
    (status . ,(deployment-status d))
    (initiator . ,(deployment-initiator d))
    (metadata . ,(deployment-metadata d))
    (parent-id . ,(deployment-parent-id d))))

(define (write-export deployments rollbacks port)
  "Write the ledger's S-expression export (version 1) of DEPLOYMENTS and ROLLBACKS to PORT."
  (write '(deploy-ledger-export (version 1)) port)
  (newline port)
  (for-each (lambda (d) (write-entry 'deployment (deployment-fields d) port)) deployments)
  (for-each (lambda (r) (write-entry 'rollback r port)) rollbacks))

;;; The feature lines of experiment 001

(define failed-statuses '(failure rolled-back partial))

(define (hour-of-day seconds)
  "Return the UTC hour (0-23) of epoch SECONDS."
  (quotient (floor-remainder seconds 86400) 3600))

(define (day-of-week seconds)
  "Return the UTC day of the week of epoch SECONDS, 0 for Sunday as SRFI-19 counts."
  (floor-remainder (+ 4 (floor-quotient seconds 86400)) 7))   ; 1970-01-01 was a Thursday

(define (service-features service deployments)
  "Return the feature alist of SERVICE from its DEPLOYMENTS."
  (let ((hourly (make-vector 24 0))
        (weekly (make-vector 7 0))
        (failures '()))                                ; ((type . count) ...)
    (define (bump! vec i) (vector-set! vec i (1+ (vector-ref vec i))))
    (for-each
     (lambda (d)
       (bump! hourly (hour-of-day (deployment-started d)))
       (bump! weekly (day-of-week (deployment-started d)))
       (when (memq (deployment-status d) failed-statuses)
         (let ((entry (assq (deployment-type d) failures)))
           (if entry
               (set-cdr! entry (1+ (cdr entry)))
               (set! failures (acons (deployment-type d) 1 failures))))))
     deployments)
    `((service . ,service)
      (total-deployments . ,(length deployments))
      (hourly-distribution . ,hourly)
      (weekly-distribution . ,weekly)
      (failure-patterns
       . ,(map (match-lambda ((type . count) `((,service . ,type) . ,count)))
               (sort failures (lambda (a b) (string<? (symbol->string (car a))
                                                      (symbol->string (car b))))))))))

(define (write-feature-lines deployments service-names port)
  "Write one feature line per service (those of SERVICE-NAMES and those deployed) to PORT."
  (let ((by-service (make-hash-table)))
    (for-each (lambda (name) (hash-set! by-service name '())) service-names)
    (for-each (lambda (d)
                (hash-set! by-service (deployment-service d)
                           (cons d (hash-ref by-service (deployment-service d) '()))))
              deployments)
    (for-each (lambda (service)
                (write-alist-line (service-features service (reverse (hash-ref by-service service)))
                                  port))
              (sort (hash-map->list (lambda (k v) k) by-service) string<?))))

(define (write-alist-line alist port)
  "Write ALIST to PORT on one line, every entry dotted (see `write-datum')."
  (write-datum alist port)
  (newline port))

;;; Command line

(define (call-with-output-file/atomic file proc)
  "Call PROC with a port on a temporary file beside FILE, then rename it to FILE."
  (let ((tmp (string-append file ".tmp")))
    (call-with-output-file tmp proc #:encoding "UTF-8")
    (rename-file tmp file)))

(define option-spec
  '((db (value #t))
    (out (value #t))
    (features (value #t))
    (services (value #t))
    (help (single-char #\h))))

(define usage
  "Usage: guile collect-data.scm --db LEDGER.db --out HISTORY.sexp [--features FEATURES.lines]
                              [--services SERVICES.jsonl]")

(define (main args)
  "Export the ledger database named on the command line ARGS."
  (let* ((options (catch 'misc-error
                    (lambda () (getopt-long args option-spec))
                    (lambda (key who fmt fmt-args . _)
                      (fail "~?~%~a" fmt fmt-args usage))))
         (db-path (option-ref options 'db #f))
         (out (option-ref options 'out #f))
         (features (option-ref options 'features #f))
         (services-out (option-ref options 'services #f)))
    (when (option-ref options 'help #f)
      (display usage) (newline) (exit 0))
    (unless (and db-path out) (fail "--db and --out are required~%~a" usage))
    (unless (file-exists? db-path) (fail "~a: no such file" db-path))
    (let ((db (sqlite-open db-path SQLITE_OPEN_READONLY)))
      (catch 'sqlite-error
        (lambda ()
          (let*-values (((schema) (ledger-schema db db-path))
                        ((deployments how) (read-deployments db db-path))
                        ((rollbacks) (read-rollbacks db db-path schema))
                        ((services) (read-services db db-path schema)))
            (sqlite-close db)
            (call-with-output-file/atomic out
              (lambda (port) (write-export deployments rollbacks port)))
            (when features
              (call-with-output-file/atomic features
                (lambda (port)
                  (write-feature-lines deployments (map service-name services) port))))
            (when services-out
              (call-with-output-file/atomic services-out
                (lambda (port) (write-services services port))))
            (format (current-error-port)
                    "collect-data: ~a (~a schema, deployments read ~a): ~a deployments, ~
~a rollbacks, ~a services -> ~a~%"
                    db-path schema (if (eq? how 'direct) "directly" "through the ledger's API")
                    (length deployments) (length rollbacks) (length services) out)))
        (lambda (key who code message . _)
          (fail "~a: cannot read the ledger database: ~a (sqlite code ~a)" db-path message code))))))

(main (command-line))
