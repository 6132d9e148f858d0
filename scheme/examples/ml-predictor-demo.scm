;;; ml-predictor-demo.scm -- what deploy-ledger asks the predictor before a deployment
;;;
;;; Usage: guile -L "$(predictor scheme-path)" scheme/examples/ml-predictor-demo.scm SERVICE [ENVIRONMENT [START]]
;;; with a daemon running (`predictor serve`) at $PREDICTOR_ENDPOINT or the default endpoint.
;;; Asks for the failure risk, the best windows in the following week and the blast radius of
;;; a deployment of SERVICE starting at START (UTC epoch seconds; default: now), and prints
;;; the answers for a person.  A question the daemon cannot answer yet is reported, not fatal.

(use-modules (ice-9 format)
             (srfi srfi-19)
             (deploy-ledger plugins ml-predictor))

(define (usage)
  (format (current-error-port) "usage: ml-predictor-demo.scm SERVICE [ENVIRONMENT [START-EPOCH-SECONDS]]~%")
  (exit 2))

(define-values (service environment start)
  (let ((args (cdr (command-line))))
    (when (null? args) (usage))
    (values (car args)
            (if (pair? (cdr args)) (string->symbol (cadr args)) 'production)
            (if (and (pair? (cdr args)) (pair? (cddr args)))
                (or (string->number (caddr args)) (usage))
                (time-second (current-time time-utc))))))

(define deployment
  `((id . "demo-guile-1") (service-name . ,service) (version . "next")
    (environment . ,environment) (deployment-type . canary)
    (started . ,start) (status . pending) (initiator . "guile-demo")))

(define (not-yet condition)
  "Return a one-line note saying why there is no answer (for #:fallback)."
  (list 'not-available
        (if (ml-predictor-remote-error? condition)
            (ml-predictor-remote-error-message condition)
            (call-with-output-string (lambda (port) (display condition port))))))

(define (show title answer show-answer)
  (format #t "~%~a~%" title)
  (if (and (pair? answer) (eq? (car answer) 'not-available))
      (format #t "  not available yet: ~a~%" (cadr answer))
      (show-answer answer)))

(define (epoch->text seconds)
  (date->string (time-utc->date (make-time time-utc 0 (inexact->exact (round seconds))) 0)
                "~a ~Y-~m-~d ~H:~M UTC"))

(format #t "ml-predictor at ~a, deployment of ~a to ~a at ~a~%"
        (ml-predictor-endpoint) service environment (epoch->text start))

(show "predict-deployment-outcome"
      (predict-deployment-outcome deployment #:fallback not-yet)
      (lambda (answer)
        (format #t "  failure probability ~,2f (~a risk)~a; model ~a~%"
                (assq-ref answer 'failure-probability) (assq-ref answer 'risk-level)
                (if (assq-ref answer 'abstained) ", little history: base rate" "")
                (assq-ref answer 'model-version))
        (for-each (lambda (factor) (format #t "  - ~a~%" (assq-ref factor 'description)))
                  (or (assq-ref answer 'factors) '()))))

(show "suggest-deployment-time"
      (suggest-deployment-time service #:environment environment #:count 3
                               #:from start #:to (+ start (* 7 24 3600)) #:fallback not-yet)
      (lambda (answer)
        (for-each (lambda (window)
                    (format #t "  ~a  failure probability ~,2f~%"
                            (epoch->text (assq-ref window 'start))
                            (assq-ref window 'failure-probability)))
                  (or (assq-ref answer 'windows) '()))))

(show "analyze-risk"
      (analyze-risk deployment #:fallback not-yet)
      (lambda (answer)
        (format #t "  risk score ~,2f (~a)~%" (assq-ref answer 'risk-score) (assq-ref answer 'risk-level))
        (for-each (lambda (affected)
                    (format #t "  - ~a (~a hop~:p, ~a dependency)~%"
                            (assq-ref affected 'service) (assq-ref affected 'distance)
                            (assq-ref affected 'kind)))
                  (or (assq-ref answer 'affected) '()))))
