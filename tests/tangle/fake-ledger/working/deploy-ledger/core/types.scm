;;; types.scm -- a stand-in for deploy-ledger's (deploy-ledger core types), for the tests
;;;
;;; Only the <deployment-event> record and its accessors, with the field names the ledger
;;; uses: enough for collect-data.scm's API path.  Written for these tests.

(define-module (deploy-ledger core types)
  #:use-module (srfi srfi-9)
  #:export (make-deployment-event
            deployment-event?
            deployment-event-id deployment-event-service-name deployment-event-version
            deployment-event-environment deployment-event-deployment-type
            deployment-event-started deployment-event-completed deployment-event-status
            deployment-event-initiator deployment-event-metadata deployment-event-parent-id))

(define-record-type <deployment-event>
  (make-deployment-event id service-name version environment deployment-type started
                         completed status initiator metadata parent-id)
  deployment-event?
  (id deployment-event-id)
  (service-name deployment-event-service-name)
  (version deployment-event-version)
  (environment deployment-event-environment)
  (deployment-type deployment-event-deployment-type)
  (started deployment-event-started)
  (completed deployment-event-completed)
  (status deployment-event-status)
  (initiator deployment-event-initiator)
  (metadata deployment-event-metadata)
  (parent-id deployment-event-parent-id))
