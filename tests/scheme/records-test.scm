;;; records-test.scm -- deploy-ledger records (the stand-in types) to wire maps

(use-modules (srfi srfi-64)
             (srfi srfi-19)
             (ice-9 format)
             (test-support)
             (deploy-ledger core types)
             (deploy-ledger plugins ml-predictor msgpack)
             (deploy-ledger plugins ml-predictor records))

(start-suite "records")

(define event
  (make-deployment-event #:id "dep-7" #:service-name "checkout" #:version "2.4.1"
                         #:environment 'production #:deployment-type 'canary
                         #:started (make-time time-utc 0 1771934400)
                         #:completed #f #:status 'in-progress #:initiator "alice"
                         #:metadata '((ticket . "OPS-7") (replicas . 3))))

(test-assert "the ledger's types module is found on the load path"
  (ledger-types))

(test-equal "a <deployment-event> becomes a wire Deployment"
  `(("id" . "dep-7") ("service" . "checkout") ("version" . "2.4.1")
    ("environment" . "production") ("deployment_type" . "canary")
    ("started" . 1771934400) ("completed" . ,msgpack-nil) ("status" . "in-progress")
    ("initiator" . "alice") ("metadata" ("ticket" . "OPS-7") ("replicas" . 3))
    ("parent_id" . ,msgpack-nil))
  (deployment->wire event))

(test-equal "a <rollback-event> becomes a wire Rollback"
  '(("id" . "rb-1") ("service" . "checkout") ("from_version" . "2.4.1")
    ("to_version" . "2.4.0") ("reason" . "error rate") ("started" . 1771935000)
    ("initiator" . "bob") ("impact" . "cart, search") ("deployment_id" . "dep-7"))
  (rollback->wire
   (make-rollback-event #:id "rb-1" #:service-name "checkout" #:from-version "2.4.1"
                        #:to-version "2.4.0" #:reason "error rate"
                        #:timestamp (make-time time-utc 0 1771935000) #:initiator "bob"
                        #:impact '(cart "search") #:deployment-id "dep-7")))

(test-equal "an alist with the record's field names gives the same map"
  (deployment->wire event)
  (deployment->wire
   `((id . "dep-7") (service-name . "checkout") (version . "2.4.1")
     (environment . "production") (deployment-type . canary) (started . 1771934400)
     (completed . #f) (status . in-progress) (initiator . "alice")
     (metadata (ticket . "OPS-7") (replicas . 3)) (parent-id . #f))))

(let ((before (assq-ref (gc-stats) 'heap-total-allocated)))
  (do ((i 0 (+ i 1))) ((= i 200)) (deployment->wire event))
  (let ((per-call (/ (- (assq-ref (gc-stats) 'heap-total-allocated) before) 200.0)))
    ;; 3.7 KB when each accessor's name was built and looked up again per call.
    (test-assert (format #f "converting a record allocates under 1.5 KB (~a bytes)" (round per-call))
      (< per-call 1500))))

;; deployment-writer packs what deployment->wire returns, without building it.
(for-each
 (lambda (name deployment)
   (test-equal (string-append "deployment-writer packs the bytes of deployment->wire: " name)
     (pack `(("deployment" . ,(deployment->wire deployment))))
     (pack `(("deployment" . ,(deployment-writer deployment))))))
 '("a record" "the bench's alist" "empty" "times, dates, vectors, nested lists"
   "#f booleans and nils, string keys, empty arrays and maps")
 (list event
       `((id . "bench-1") (service-name . "inventory") (version . "2.4.1")
         (environment . production) (deployment-type . canary) (started . 1771934400)
         (completed . #f) (status . in-progress) (initiator . "bench")
         (metadata (ticket . "OPS-7") (region . "eu-west-1")) (parent-id . #f)
         (change-size . 120) (strategy . "canary") (automated . #t) (resources "cpu" "memory"))
       '()
       `((started . ,(make-time time-utc 500000000 1771934400))
         (completed . ,(time-utc->date (make-time time-utc 0 1771938000) 0))
         (steps . #(a "b" 3 (x 1) ((k . v)))) (tags a b) (owners)
         (metadata (nested (deeper . #(1 2.5 sym)) (list 1 two "three")) (none . #f))
         (custom-key . sym))
       `(("service" . "s") (automated . #f) (active . #f) (parent-id . ,msgpack-nil)
         (resources) (labels) (weights 1 2 3))))

(test-equal "packing again, from the kept packed names of fields and symbols, gives the same bytes"
  (pack `(("deployment" . ,(deployment->wire event))))
  (begin
    (pack `(("deployment" . ,(deployment-writer event))))
    (pack `(("deployment" . ,(deployment-writer event))))))

(test-assert "deployment-writer refuses what is not a deployment, at once"
  (catch #t (lambda () (deployment-writer "not a deployment") #f) (lambda _ #t)))

(test-assert "deployment-writer keeps the nesting limit of pack"
  (catch #t
    (lambda ()
      (parameterize ((msgpack-max-depth 3))
        (pack `(("deployment" . ,(deployment-writer '((metadata (a (b . 1))))))))
        #f))
    (lambda (key . args) (and (eq? key '%exception) (msgpack-error? (car args))))))

(test-equal "and deployment->wire has the same limit"
  #t
  (catch #t
    (lambda ()
      (parameterize ((msgpack-max-depth 3))
        (pack `(("deployment" . ,(deployment->wire '((metadata (a (b . 1))))))))
        #f))
    (lambda (key . args) (and (eq? key '%exception) (msgpack-error? (car args))))))

(test-equal "a TAI time is read as UTC"
  '(("started" . 1771934400))
  (deployment->wire `((started . ,(time-utc->time-tai (make-time time-utc 0 1771934400))))))

(let* ((reply `(("risk_level" . "high") ("failure_probability" . 0.5) ("abstained" . #f)
                ("reason" . ,msgpack-nil) ("empty" . ()) ("none" . #())
                ("factors" . #((("feature" . "change_size") ("value" . 120))
                               (("feature" . "environment") ("value" . "production"))))
                ("similar_deployments" . #((("id" . "d-1") ("status" . "success")
                                            ("environment" . "staging") ("started" . 1.5))))))
       (payload (pack reply)))
  (test-equal "wire->scheme! of a fresh decode gives what wire->scheme gives"
    (wire->scheme (unpack payload))
    (wire->scheme! (unpack payload)))
  (test-equal "with kebab-case symbol keys, lists, #f for nil and symbols for enum values"
    '((risk-level . high) (failure-probability . 0.5) (abstained . #f) (reason . #f)
      (empty) (none)
      (factors ((feature . "change_size") (value . 120))
               ((feature . "environment") (value . "production")))
      (similar-deployments ((id . "d-1") (status . success) (environment . staging)
                            (started . 1.5))))
    (wire->scheme! (unpack payload)))
  (test-equal "unpack builds that form directly with #:map-key and #:symbol-value?"
    (wire->scheme! (unpack payload))
    (unpack payload #:map-key wire-key->scheme #:nil #f #:arrays 'list
            #:symbol-value? symbol-valued-key?)))

(test-equal "duplicates are told by the keys as sent, not as converted"
  '((a-b . 1) (a-b . 2))
  (unpack (pack '(("a_b" . 1) ("a-b" . 2))) #:map-key wire-key->scheme))

(test-equal "a symbol-valued key with a long or non-ASCII str, or a non-str value"
  `((status . ,(string->symbol (make-string 80 #\s))) (kind . ,(string->symbol "é")) (risk-level . 3)
    (environment (status . ok)))
  (unpack (pack `(("status" . ,(make-string 80 #\s)) ("kind" . "é") ("risk_level" . 3)
                  ("environment" ("status" . "ok"))))
          #:map-key wire-key->scheme #:nil #f #:arrays 'list
          #:symbol-value? symbol-valued-key?))

(test-end "records")
