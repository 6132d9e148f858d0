;;; ml-predictor.scm -- ask the predictor daemon about deployments, from deploy-ledger

;;; Commentary:
;;;
;;; The public API of the plugin.  Each procedure sends one request of the predictor
;;; protocol (protocol/SPEC.md) to the daemon over ZeroMQ and returns its answer as an
;;; alist with kebab-case symbol keys, e.g.
;;;
;;;   (predict-deployment-outcome deployment)
;;;   => ((deployment-id . "dep-1042") (failure-probability . 0.18) (risk-level . medium)
;;;       (abstained . #f) (base-rate . 0.09) (factors ((feature . "change_size") ...))
;;;       (similar-deployments ...) (model-version . "failure-..."))
;;;
;;; Never hangs: every call waits at most `ml-predictor-timeout' seconds (default 2) and
;;; then raises a condition satisfying `ml-predictor-unavailable?', whose message names
;;; the endpoint and the seconds waited; the next call uses a fresh connection.  An error
;;; reply raises `ml-predictor-remote-error?' (code, message and field accessors); a
;;; reply that breaks the protocol raises `ml-predictor-protocol-error?'.  All three
;;; satisfy `ml-predictor-error?'.
;;;
;;; The questions take the protocol's main parameters as keywords, and #:options, an
;;; alist of any other parameter of the method in protocol/SPEC.md (kebab-case keys),
;;; e.g. #:options '((min-confidence . 0.5)).
;;;
;;; Every procedure takes #:fallback: a value returned instead of raising any of these
;;; conditions, or a procedure called with the condition whose result is returned:
;;;
;;;   (predict-deployment-outcome d #:fallback '((failure-probability . #f)))
;;;   (predict-deployment-outcome d #:fallback (lambda (condition) (log condition) #f))
;;;
;;; Latency and the garbage collector: Guile's collector (BDW-GC) stops the whole
;;; process for each collection, a few milliseconds for a small program and more as
;;; its live heap grows, and it collects whenever the heap it was asked to keep fills.
;;; A predict call allocates about 5 KB, mostly the answer itself: the request is
;;; packed in place into a kept buffer and the reply decoded straight into the
;;; answer.  On its first call the plugin grows the heap once by $PREDICTOR_GUILE_HEAP
;;; bytes (default 16M; 0 turns it off; nothing is done when GC_INITIAL_HEAP_SIZE is
;;; set): collections then fall on about one predict call in 4000 instead of one in
;;; 300, at the cost of up to that much more resident memory (see the heap module).
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor)
  #:use-module ((deploy-ledger plugins ml-predictor protocol)
                #:select (ml-predictor-error?
                          ml-predictor-unavailable?
                          ml-predictor-unavailable-endpoint
                          ml-predictor-unavailable-seconds
                          ml-predictor-remote-error?
                          ml-predictor-remote-error-code
                          ml-predictor-remote-error-message
                          ml-predictor-remote-error-field
                          ml-predictor-protocol-error?))
  #:use-module ((deploy-ledger plugins ml-predictor client)
                #:select (ml-predictor-endpoint ml-predictor-timeout ml-predictor-disconnect
                          call-predictor call-with-fallback no-fallback))
  #:use-module ((deploy-ledger plugins ml-predictor records)
                #:select (deployment->wire deployment-writer rollback->wire alist->wire value->wire))
  #:export (;; Before a deployment
            predict-deployment-outcome
            suggest-deployment-time
            analyze-risk
            estimate-deployment-resources
            ;; After a deployment
            record-deployment-outcome
            record-rollback
            ;; What has worked before
            deployment-recommendations
            environment-adaptations
            rollback-scenarios
            deployment-analytics
            ;; The daemon
            ml-predictor-ping)
  #:re-export (;; Settings
               ml-predictor-endpoint
               ml-predictor-timeout
               ml-predictor-disconnect
               ;; Conditions
               ml-predictor-error?
               ml-predictor-unavailable?
               ml-predictor-unavailable-endpoint
               ml-predictor-unavailable-seconds
               ml-predictor-remote-error?
               ml-predictor-remote-error-code
               ml-predictor-remote-error-message
               ml-predictor-remote-error-field
               ml-predictor-protocol-error?))

(define (ask method params fallback)
  "Call METHOD with wire PARAMS and return its result in Scheme form, or FALLBACK."
  ;; The reply is decoded straight into its Scheme form.
  (call-with-fallback fallback
                      (lambda () (call-predictor method params #:scheme-form? #t))))

(define (optional-params options . keys-and-values)
  "Return the wire params for KEYS-AND-VALUES (key value ...), leaving out #f values,
followed by OPTIONS, an alist of further parameters."
  (let loop ((rest keys-and-values) (params '()))
    (if (null? rest)
        (append (reverse! params) (alist->wire options))
        (let ((key (car rest)) (value (cadr rest)))
          (loop (cddr rest)
                (if value (cons (cons key (value->wire value key)) params) params))))))

(define* (predict-deployment-outcome deployment #:key (explain? #t) (options '())
                                     (fallback no-fallback))
  "Return how likely DEPLOYMENT is to fail, and why.
DEPLOYMENT is a deploy-ledger <deployment-event> or an alist with the same field
names (service-name and environment are needed; started defaults to now).  The
answer is an alist: failure-probability (0 to 1), risk-level (low, medium, high or
critical), abstained (#t when there is too little history, with a reason),
base-rate, factors, similar-deployments and model-version.  With EXPLAIN? #f the
factors and similar deployments are left empty and the answer comes faster.
OPTIONS and FALLBACK: see the module commentary."
  (ask "predict"
       `(("deployment" . ,(deployment-writer deployment))
         ,@(if explain? '() '(("explain" . #f)))
         ,@(alist->wire options))
       fallback))

(define* (suggest-deployment-time service-name
                                  #:key (environment 'production) (deployment-type #f)
                                  (from #f) (to #f) (count #f) (step-minutes #f)
                                  (constraints #f) (options '()) (fallback no-fallback))
  "Return the lowest-risk times to deploy SERVICE-NAME to ENVIRONMENT.
ENVIRONMENT defaults to production; DEPLOYMENT-TYPE is a symbol such as canary; FROM
and TO (SRFI-19 times or dates, or epoch seconds) bound the search; COUNT is how
many windows to return (the daemon's default is 3); STEP-MINUTES is the spacing of
the candidate times; CONSTRAINTS is an alist such as ((business-hours-only . #t)).
The answer is an alist: windows (each with start, end, failure-probability,
risk-level and reasons, lowest risk first), now (the same for starting now) and
model-version.  OPTIONS and FALLBACK: see the module commentary."
  (ask "suggest_time"
       (optional-params options
                        "service" service-name
                        "environment" environment
                        "deployment_type" deployment-type
                        "from" from
                        "to" to
                        "top_n" count
                        "step_minutes" step-minutes
                        "constraints" (and constraints (alist->wire constraints)))
       fallback))

(define (dependency->wire dependency)
  (if (and (list? dependency) (not (pair? (car dependency))))
      ;; (SERVICE DEPENDS-ON KIND)
      `(("service" . ,(value->wire (car dependency)))
        ("depends_on" . ,(value->wire (cadr dependency)))
        ,@(if (pair? (cddr dependency))
              `(("kind" . ,(value->wire (caddr dependency))))
              '()))
      (alist->wire dependency)))

(define* (analyze-risk deployment #:optional (dependencies '())
                       #:key (failure-probability #f) (max-depth #f) (options '())
                       (fallback no-fallback))
  "Return what else is at risk if DEPLOYMENT fails: its blast radius.
DEPLOYMENT is a <deployment-event> or an alist.  DEPENDENCIES, optional, are extra
edges of the service graph, each an alist ((service . \"checkout\") (depends-on .
\"payments\") (kind . hard)) or a list (SERVICE DEPENDS-ON KIND).
FAILURE-PROBABILITY (e.g. from `predict-deployment-outcome') and MAX-DEPTH (hops)
are optional.  The answer is an alist: risk-score, risk-level, affected (services
with distance, kind and criticality), affected-count and factors.  OPTIONS and
FALLBACK: see the module commentary."
  (ask "analyze_risk"
       `(("deployment" . ,(deployment->wire deployment))
         ,@(if (null? dependencies)
               '()
               `(("dependencies" . ,(list->vector (map dependency->wire dependencies)))))
         ,@(optional-params options
                            "failure_probability" failure-probability
                            "max_depth" max-depth))
       fallback))

(define* (estimate-deployment-resources deployment #:key (fallback no-fallback))
  "Return how long DEPLOYMENT will take and what it will need.
The answer is an alist: duration (#f without a duration model, else p50 and p90
seconds, history-count and service-median), resources (cpu, memory, replicas...),
model-version and insufficient-history (why the estimate leans on similar
services, or #f).  FALLBACK: see the module commentary."
  (ask "estimate" `(("deployment" . ,(deployment->wire deployment))) fallback))

(define* (record-deployment-outcome deployment #:key (fallback no-fallback))
  "Store DEPLOYMENT, with its outcome, in the predictor's history.
DEPLOYMENT needs id, service-name, environment, started and status; recording the
same id again updates it (status, completed, ...).  The answer counts what was
stored: deployments, rollbacks, services and outcomes.  FALLBACK: see the module
commentary."
  (ask "record" `(("deployments" . ,(vector (deployment->wire deployment)))) fallback))

(define* (record-rollback rollback #:key (fallback no-fallback))
  "Store ROLLBACK, a deploy-ledger <rollback-event> or an alist, in the history.
ROLLBACK needs id, service-name and started (a ledger record's timestamp).  The
answer counts what was stored.  FALLBACK: see the module commentary."
  (ask "record" `(("rollbacks" . ,(vector (rollback->wire rollback)))) fallback))

(define* (deployment-recommendations #:key (service #f) (environment #f)
                                     (deployment-type #f) (limit #f) (options '())
                                     (fallback no-fallback))
  "Return what has worked before for SERVICE in ENVIRONMENT, best supported first.
Each key is optional; LIMIT caps the number of recommendations (default 10).  The
answer is an alist whose recommendations entry lists alists of recommendation,
strategy, configuration, confidence, support, evidence and reasons.  OPTIONS (e.g.
min-confidence, min-support) and FALLBACK: see the module commentary."
  (ask "recommendations"
       (optional-params options "service" service "environment" environment
                        "deployment_type" deployment-type "limit" limit)
       fallback))

(define* (environment-adaptations #:key (service #f) (source-environment #f)
                                  (target-environment #f) (options '())
                                  (fallback no-fallback))
  "Return the configuration changes that worked moving SERVICE between environments.
SOURCE-ENVIRONMENT defaults to staging, TARGET-ENVIRONMENT to production.  The
answer's adaptations entry lists alists of key, source-value, target-value, change,
confidence, support and rule.  OPTIONS and FALLBACK: see the module commentary."
  (ask "adaptations"
       (optional-params options "service" service "source_environment" source-environment
                        "target_environment" target-environment)
       fallback))

(define* (rollback-scenarios #:key (service #f) (environment #f) (limit #f)
                             (options '()) (fallback no-fallback))
  "Return how past rollbacks of SERVICE in ENVIRONMENT went, by failure reason.
The answer's scenarios entry lists alists of trigger, count, success-rate,
mean-recovery-seconds, steps and summary.  OPTIONS and FALLBACK: see the module
commentary."
  (ask "rollback_scenarios"
       (optional-params options "service" service "environment" environment "limit" limit)
       fallback))

(define* (deployment-analytics #:key (service #f) (environment #f) (from #f) (to #f)
                               (options '()) (fallback no-fallback))
  "Return DORA keys and summary figures for SERVICE in ENVIRONMENT between FROM and TO.
FROM and TO are SRFI-19 times or dates or epoch seconds (default: the last 30
days).  The answer is an alist: period, deployments, failures,
deployment-frequency-per-day, change-failure-rate, lead-time-seconds, dora, daily
and note.  OPTIONS (e.g. days, metrics) and FALLBACK: see the module commentary."
  (ask "analytics"
       (optional-params options "service" service "environment" environment "from" from "to" to)
       fallback))

(define* (ml-predictor-ping #:key (fallback no-fallback))
  "Return #t when the daemon answers a ping within `ml-predictor-timeout' seconds.
Without FALLBACK, raise `ml-predictor-unavailable?' conditions; with #:fallback #f,
return #f when the daemon is not there."
  (call-with-fallback fallback
                      (lambda ()
                        (let ((result (call-predictor "ping" '())))
                          (eq? (assoc-ref result "pong") #t)))))

;;; ml-predictor.scm ends here
