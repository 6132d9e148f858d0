;;; records.scm -- deploy-ledger records and alists to wire maps, and answers back

;;; Commentary:
;;;
;;; Going out: a DEPLOYMENT is a deploy-ledger `<deployment-event>' (read through the
;;; accessors of `(deploy-ledger core types)' when that module is on the load path; it
;;; is resolved at run time, so this plugin loads without it) or an alist with the
;;; same field names (id service-name version environment deployment-type started
;;; completed status initiator metadata parent-id, plus any other key of the wire
;;; Deployment such as change-size).  A ROLLBACK is a `<rollback-event>' or an alist
;;; (id service-name from-version to-version reason started completed status initiator
;;; impact deployment-id recovery-seconds steps).  Keys become snake_case strings
;;; (service-name becomes "service"); symbols become strings; SRFI-19 times and dates
;;; become epoch seconds; #f becomes nil, except for the boolean fields; nested alists
;;; become maps and lists of non-pairs arrays.
;;;
;;; Coming back: maps become alists with kebab-case symbol keys, arrays lists, nil #f,
;;; and the string values of enum-like keys (risk-level, status, kind, ...) symbols.
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor records)
  #:use-module ((deploy-ledger plugins ml-predictor msgpack)
                #:select (msgpack-nil msgpack-nil? make-msgpack-writer pack-value! pack-string!
                          pack-raw! packed-string
                          pack-key! pack-map-header! pack-array-header!
                          packer-check-depth!))
  #:use-module ((srfi srfi-1) #:select (every filter-map filter))
  #:use-module ((srfi srfi-9) #:select (define-record-type))
  #:use-module ((srfi srfi-19)
                #:select (time? time-type time-second time-nanosecond date? date->time-utc
                          time-tai->time-utc time-monotonic->time-utc))
  #:export (deployment->wire
            deployment-writer
            rollback->wire
            alist->wire
            value->wire
            time->epoch
            wire->scheme
            wire->scheme!
            wire-key->scheme
            symbol-valued-key?
            ledger-types))

;;;
;;; The ledger's record types, when they are on the load path.
;;;

(define %ledger-types 'unresolved)

(define (ledger-types)
  "Return the module (deploy-ledger core types), or #f when it is not on the load path."
  (when (eq? %ledger-types 'unresolved)
    (set! %ledger-types
          (catch #t
            (lambda () (resolve-module '(deploy-ledger core types) #:ensure #f))
            (lambda _ #f))))
  %ledger-types)

(define ledger-procedures (make-hash-table))

(define (ledger-ref name)
  "Return the procedure NAME of (deploy-ledger core types), or #f."
  (let ((module (ledger-types)))
    (and module
         (or (hashq-ref ledger-procedures name)
             (let ((procedure
                    ;; SRFI-9 accessors are inlinable macros: evaluating the name
                    ;; in the module yields the procedure behind the macro.
                    (and (module-variable module name)
                         (eval name module))))
               (hashq-set! ledger-procedures name procedure)
               procedure)))))

(define field-accessors
  ;; PREFIX -> the list of (FIELD . ACCESSOR) found for it, made once per prefix.
  (make-hash-table))

(define (accessors-of prefix fields)
  "Return the (FIELD . ACCESSOR) pairs of the FIELDS whose accessor PREFIX-FIELD exists."
  (or (hashq-ref field-accessors prefix)
      (let ((found (filter-map (lambda (field)
                                 (let ((accessor (ledger-ref (symbol-append prefix field))))
                                   (and accessor (cons field accessor))))
                               fields)))
        (hashq-set! field-accessors prefix found)
        found)))

(define (record->alist value predicate-name prefix fields)
  "Return VALUE, a ledger record, as an alist of FIELDS read through the accessors
named PREFIX-FIELD; #f when VALUE is not a record of PREDICATE-NAME."
  (let ((predicate (ledger-ref predicate-name)))
    (and predicate (predicate value)
         (map (lambda (entry) (cons (car entry) ((cdr entry) value)))
              (accessors-of prefix fields)))))

(define deployment-fields
  '(id service-name version environment deployment-type started completed status
    initiator metadata parent-id))

(define rollback-fields
  '(id service-name from-version to-version reason timestamp initiator impact deployment-id))

;;;
;;; Scheme to wire.
;;;

(define renamed-keys
  '((service-name . "service")
    (timestamp . "started")))

(define time-keys '("started" "completed" "commit_time" "created" "updated" "from" "to"))

(define boolean-keys
  '("rollback_triggered" "rollback_successful" "automated" "active"
    "business_hours_only" "avoid_weekends" "useful"))

(define array-keys
  '("resources" "failure_reasons" "lessons_learned" "steps" "owners" "tags"
    "dependencies"))

(define (kebab->snake name)
  (string-map (lambda (c) (if (char=? c #\-) #\_ c)) name))

(define key-kinds
  ;; Wire key -> time, boolean or array: how its value is converted.
  (let ((table (make-hash-table)))
    (for-each (lambda (key) (hash-set! table key 'time)) time-keys)
    (for-each (lambda (key) (hash-set! table key 'boolean)) boolean-keys)
    (for-each (lambda (key) (hash-set! table key 'array)) array-keys)
    table))

(define (key-kind key)
  (and key (hash-ref key-kinds key)))

(define-record-type <wire-field>
  ;; What a key of a Scheme deployment is on the wire: its snake_case NAME, the
  ;; `key-kind' of that name, and NAME already packed as a msgpack str (#f when the
  ;; key was a string, not kept).
  (make-wire-field name kind packed)
  wire-field?
  (name wire-field-name)
  (kind wire-field-kind)
  (packed wire-field-packed))

(define wire-fields
  ;; Symbol -> its <wire-field>, filled as keys are met (a ledger uses a handful): a
  ;; field's name, kind and packed bytes cost one hashq-ref, not a hash of the string.
  (make-hash-table))

(define (wire-field key)
  "Return the <wire-field> of KEY, a symbol or string: its wire (snake_case string)
name, the `key-kind' of that name and, for a symbol, the name packed."
  (cond ((and (symbol? key) (hashq-ref wire-fields key)))
        ((string? key) (make-wire-field key (key-kind key) #f))
        ((symbol? key)
         (let* ((name (cond ((assq key renamed-keys) => cdr)
                            (else (kebab->snake (symbol->string key)))))
                (field (make-wire-field name (key-kind name) (packed-string name))))
           (hashq-set! wire-fields key field)
           field))
        (else (error "ml-predictor: expected a symbol or string key, found" key))))

(define (wire-key key)
  "Return the wire (snake_case string) name of KEY, a symbol or string."
  (if (string? key) key (wire-field-name (wire-field key))))

(define (time->epoch value)
  "Return VALUE, an SRFI-19 time or date or an epoch number, as epoch seconds."
  (cond ((real? value) value)
        ((date? value) (time->epoch (date->time-utc value)))
        ((time? value)
         (let ((utc (case (time-type value)
                      ((time-utc) value)
                      ((time-tai) (time-tai->time-utc value))
                      ((time-monotonic) (time-monotonic->time-utc value))
                      (else (error "ml-predictor: cannot read a time of type" (time-type value))))))
           (if (zero? (time-nanosecond utc))
               (time-second utc)
               (+ (time-second utc) (/ (time-nanosecond utc) 1e9)))))
        (else value)))

(define (alist? value)
  (and (pair? value) (list? value) (every pair? value)))

(define* (value->wire value #:optional (key #f))
  "Return VALUE (the value of wire KEY, when known) in its wire representation."
  (let ((kind (key-kind key)))
    (cond ((eq? value #f) (if (eq? kind 'boolean) #f msgpack-nil))
          ((or (string? value) (eq? value #t) (msgpack-nil? value)) value)
          ((eq? kind 'time) (time->epoch value))
          ((number? value) value)
          ((symbol? value) (symbol->string value))
          ((or (time? value) (date? value)) (time->epoch value))
          ((null? value) (if (eq? kind 'array) #() '()))
          ((and (eq? kind 'array) (list? value))
           (list->vector (map value->wire value)))
          ((alist? value)
           (map (lambda (entry)
                  (let ((name (if (symbol? (car entry)) (symbol->string (car entry)) (car entry))))
                    (cons name (value->wire (cdr entry)))))
                value))
          ((list? value)
           (if (every string? value)
               (list->vector value)
               (list->vector (map value->wire value))))
          ((vector? value) (list->vector (map value->wire (vector->list value))))
          (else value))))

(define (fields->wire alist)
  "Return ALIST (symbol or string keys) as a wire map: snake_case keys, wire values."
  (map (lambda (entry)
         (let ((key (wire-key (car entry))))
           (cons key (value->wire (cdr entry) key))))
       alist))

(define (alist->wire alist)
  "Return ALIST, with kebab-case symbol or string keys, as a wire map."
  (if (or (null? alist) (alist? alist))
      (fields->wire alist)
      (error "ml-predictor: expected an alist of options, found" alist)))

(define (deployment->wire deployment)
  "Return DEPLOYMENT, a ledger `<deployment-event>' or an alist, as a wire Deployment."
  (fields->wire
   (or (record->alist deployment 'deployment-event? 'deployment-event- deployment-fields)
       (if (or (alist? deployment) (null? deployment))
           deployment
           (error "ml-predictor: expected a <deployment-event> or an alist, found" deployment)))))

(define (impact->text impact)
  ;; The ledger keeps a rollback's impact as a list; the wire field is a str.
  (string-join (filter string? (vector->list impact)) ", "))

(define (rollback->wire rollback)
  "Return ROLLBACK, a ledger `<rollback-event>' or an alist, as a wire Rollback."
  (map (lambda (entry)
         (if (and (string=? (car entry) "impact") (vector? (cdr entry)))
             (cons "impact" (impact->text (cdr entry)))
             entry))
       (fields->wire
   (or (record->alist rollback 'rollback-event? 'rollback-event- rollback-fields)
       (if (alist? rollback)
           rollback
           (error "ml-predictor: expected a <rollback-event> or an alist, found" rollback))))))

;;;
;;; Scheme to wire bytes, without the wire form in between.
;;;
;;; `deployment-writer' packs what `deployment->wire' would return straight into the
;;; packer of the request, the same bytes: the wire alist, its nested maps and arrays
;;; and the names of symbols are never built.  Each procedure below mirrors the one
;;; above it that builds the wire form (`value->wire', `fields->wire').

(define packed-symbols
  ;; Symbol -> its name packed as a msgpack str, for the symbols met as values and
  ;; as keys of nested maps (a ledger uses a handful; 1024 at most are kept).
  (make-hash-table))

(define packed-symbol-count 0)

(define (packed-symbol symbol)
  "Return the name of SYMBOL packed as a msgpack str, made once per symbol."
  (or (hashq-ref packed-symbols symbol)
      (let ((bytes (packed-string (symbol->string symbol))))
        (when (< packed-symbol-count 1024)
          (set! packed-symbol-count (+ packed-symbol-count 1))
          (hashq-set! packed-symbols symbol bytes))
        bytes)))

(define (pack-field-name! packer field)
  "Write the wire name of FIELD, a <wire-field>, to PACKER as a str."
  (let ((packed (wire-field-packed field)))
    (if packed
        (pack-raw! packer packed)
        (pack-string! packer (wire-field-name field)))))

(define (pack-items! packer items depth)
  "Write the list ITEMS to PACKER as an array of their wire forms."
  (packer-check-depth! packer depth)
  (pack-array-header! packer (length items))
  (let loop ((rest items))
    (when (pair? rest)
      (pack-wire-value! packer (car rest) #f (+ depth 1))
      (loop (cdr rest)))))

(define (pack-wire-value! packer value kind depth)
  "Write (value->wire VALUE KEY) to PACKER, at nesting DEPTH, without building it;
KIND is (key-kind KEY), #f for a value with no key or a key of no kind."
  (cond ((eq? value #f) (pack-value! packer (if (eq? kind 'boolean) #f msgpack-nil) depth))
        ((string? value) (pack-string! packer value))
        ((or (eq? value #t) (msgpack-nil? value)) (pack-value! packer value depth))
        ((eq? kind 'time) (pack-value! packer (time->epoch value) depth))
        ((number? value) (pack-value! packer value depth))
        ((symbol? value) (pack-raw! packer (packed-symbol value)))
        ((or (time? value) (date? value)) (pack-value! packer (time->epoch value) depth))
        ((null? value) (pack-value! packer (if (eq? kind 'array) #() '()) depth))
        ((and (eq? kind 'array) (list? value)) (pack-items! packer value depth))
        ((alist? value)
         (packer-check-depth! packer depth)
         (pack-map-header! packer (length value))
         (let loop ((rest value))
           (when (pair? rest)
             (let ((name (caar rest)))
               (if (symbol? name)
                   (pack-raw! packer (packed-symbol name))
                   (pack-key! packer name))
               (pack-wire-value! packer (cdar rest) #f (+ depth 1))
               (loop (cdr rest))))))
        ((list? value) (pack-items! packer value depth))
        ((vector? value)
         (packer-check-depth! packer depth)
         (let ((n (vector-length value)))
           (pack-array-header! packer n)
           (do ((i 0 (+ i 1))) ((= i n))
             (pack-wire-value! packer (vector-ref value i) #f (+ depth 1)))))
        (else (pack-value! packer value depth))))

(define (pack-fields! packer alist depth)
  "Write (fields->wire ALIST) to PACKER, at nesting DEPTH."
  (packer-check-depth! packer depth)
  (pack-map-header! packer (length alist))
  (let loop ((rest alist))
    (when (pair? rest)
      (let ((field (wire-field (caar rest))))
        (pack-field-name! packer field)
        (pack-wire-value! packer (cdar rest) (wire-field-kind field) (+ depth 1))
        (loop (cdr rest))))))

(define (pack-deployment-record! packer record depth)
  "Write (fields->wire (record->alist RECORD ...)) for RECORD, a `<deployment-event>',
reading its fields as they are packed."
  (let ((accessors (accessors-of 'deployment-event- deployment-fields)))
    (packer-check-depth! packer depth)
    (pack-map-header! packer (length accessors))
    (let loop ((rest accessors))
      (when (pair? rest)
        (let ((field (wire-field (caar rest))))
          (pack-field-name! packer field)
          (pack-wire-value! packer ((cdar rest) record) (wire-field-kind field) (+ depth 1))
          (loop (cdr rest)))))))

(define (deployment-writer deployment)
  "Return DEPLOYMENT, a ledger `<deployment-event>' or an alist, as a value that
`pack' writes as the wire Deployment `deployment->wire' returns, without building it."
  (let ((record? (ledger-ref 'deployment-event?)))
    (cond ((and record? (record? deployment))
           (make-msgpack-writer pack-deployment-record! deployment))
          ((or (alist? deployment) (null? deployment))
           (make-msgpack-writer pack-fields! deployment))
          (else
           (error "ml-predictor: expected a <deployment-event> or an alist, found" deployment)))))

;;;
;;; Wire to Scheme.
;;;

(define symbol-valued-keys
  ;; Keys whose string values name one of a few choices; they come back as symbols.
  '(risk-level status environment deployment-type kind type outcome code role
    source-environment target-environment strategy band trend))

(define symbol-valued-table
  ;; The same, for `wire->scheme!': one hashq-ref instead of a walk down the list.
  (let ((table (make-hash-table)))
    (for-each (lambda (key) (hashq-set! table key #t)) symbol-valued-keys)
    table))

(define scheme-keys
  ;; Wire key string -> kebab-case symbol, filled as keys are met.
  (make-hash-table))

(define (snake->kebab name)
  (or (hash-ref scheme-keys name)
      (let ((key (string->symbol (string-map (lambda (c) (if (char=? c #\_) #\- c)) name))))
        (when (< (hash-count (const #t) scheme-keys) 4096)
          (hash-set! scheme-keys name key))
        key)))

;; What `wire->scheme!' does, for a decoder that builds the Scheme form directly
;; (`unpack' with #:map-key and #:symbol-value?).
(define (wire-key->scheme name)
  "Return the kebab-case symbol for the wire key NAME (a string)."
  (snake->kebab name))

(define (symbol-valued-key? key)
  "Return true when the str values of KEY, a kebab-case symbol, come back as symbols."
  (hashq-ref symbol-valued-table key))

(define (wire->scheme value)
  "Return VALUE, as decoded from the wire, with maps as alists of kebab-case symbol
keys, arrays as lists, nil as #f and enum-like strings as symbols."
  (cond ((msgpack-nil? value) #f)
        ((vector? value) (map wire->scheme (vector->list value)))
        ((pair? value)
         (map (lambda (entry)
                (let ((key (snake->kebab (car entry)))
                      (item (cdr entry)))
                  (cons key
                        (if (and (string? item) (memq key symbol-valued-keys))
                            (string->symbol item)
                            (wire->scheme item)))))
              value))
        (else value)))

(define (wire->scheme! value)
  "Return VALUE, freshly decoded from the wire, converted as by `wire->scheme' but
with the pairs of its maps reused: VALUE's maps are changed in place, so VALUE must
not be shared (a reply just decoded is not)."
  (cond ((msgpack-nil? value) #f)
        ((vector? value)
         (let loop ((i (- (vector-length value) 1)) (items '()))
           (if (< i 0)
               items
               (loop (- i 1) (cons (wire->scheme! (vector-ref value i)) items)))))
        ((pair? value)
         (let loop ((rest value))
           (when (pair? rest)
             (let* ((entry (car rest))
                    (key (snake->kebab (car entry)))
                    (item (cdr entry)))
               (set-car! entry key)
               (set-cdr! entry (if (and (string? item) (hashq-ref symbol-valued-table key))
                                   (string->symbol item)
                                   (wire->scheme! item)))
               (loop (cdr rest)))))
         value)
        (else value)))

;;; records.scm ends here
