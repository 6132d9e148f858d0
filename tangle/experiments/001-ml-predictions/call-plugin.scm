#!/usr/bin/env -S guile --no-auto-compile -s
!#
;;; call-plugin.scm -- ask the running predictor daemon from Guile, as deploy-ledger does
;;;
;;; Usage: guile call-plugin.scm --features FEATURES.lines --at 2026-04-04T10:00:00Z
;;;
;;; Asks about a canary deployment to production of the busiest service of FEATURES.lines
;;; (collect-data.scm's feature lines), starting at the given UTC time.  Tangled from
;;; README.org: edit it there.

(use-modules ((ice-9 getopt-long) #:select (getopt-long option-ref))
             ((ice-9 match) #:select (match))
             ((ice-9 pretty-print) #:select (pretty-print))
             ((ice-9 exceptions) #:select (exception-with-message? exception-message))
             ((srfi srfi-34) #:select (guard))
             ((srfi srfi-19) #:select (string->date date->time-utc add-duration make-time
                                       time-duration time-utc))
             ((deploy-ledger plugins ml-predictor)
              #:select (predict-deployment-outcome suggest-deployment-time analyze-risk
                        ml-predictor-timeout ml-predictor-error?)))

(define (busiest-service features-file)
  "Return the name of the service with the most deployments in FEATURES-FILE."
  (call-with-input-file features-file
    (lambda (port)
      (let loop ((best #f) (best-count -1))
        (match (read port)
          ((? eof-object?) (or best (error "no feature lines in" features-file)))
          (line
           (let ((count (assq-ref line 'total-deployments)))
             (if (> count best-count)
                 (loop (assq-ref line 'service) count)
                 (loop best best-count)))))))))

(define (ask question thunk)
  "Print QUESTION, then the plugin's answer from THUNK (or the condition it raised).
Return #t when the plugin answered."
  (format #t ";; ~a~%" question)
  (let ((answered? (guard (condition
                           ((ml-predictor-error? condition)
                            (format #t ";; no answer: ~a~%" (condition-text condition))
                            #f))
                     (pretty-print (thunk))
                     #t)))
    (newline)
    answered?))

(define (condition-text condition)
  "Return the message of the plugin CONDITION."
  (if (exception-with-message? condition)
      (exception-message condition)
      (call-with-output-string (lambda (port) (write condition port)))))

(define (main args)
  "Ask the daemon the three questions of experiment 001 about the deployment ARGS describe."
  (let* ((options (getopt-long args '((features (value #t) (required? #t))
                                      (at (value #t) (required? #t)))))
         (service (busiest-service (option-ref options 'features #f)))
         (started (date->time-utc (string->date (option-ref options 'at #f)
                                                "~Y-~m-~dT~H:~M:~S~z")))
         (deployment `((id . "experiment-001-probe")
                       (service-name . ,service)
                       (version . "next")
                       (environment . production)
                       (deployment-type . canary)
                       (started . ,started)
                       (status . pending)
                       (initiator . "experiment-001"))))
    (ml-predictor-timeout 10)
    (let ((predicted?
           (ask (format #f "predict-deployment-outcome: ~a to production, canary" service)
                (lambda () (predict-deployment-outcome deployment)))))
      (ask (format #f "suggest-deployment-time: ~a, the next 7 days" service)
           (lambda ()
             (suggest-deployment-time service #:environment 'production
                                      #:deployment-type 'canary #:from started
                                      #:to (add-duration started
                                                         (make-time time-duration 0 (* 7 86400)))
                                      #:count 3)))
      (ask (format #f "analyze-risk: ~a to production" service)
           (lambda () (analyze-risk deployment)))
      (exit (if predicted? 0 1)))))

(main (command-line))
