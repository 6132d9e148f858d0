;;; types.scm -- a stand-in for deploy-ledger's (deploy-ledger core types), for the tests

;;; Commentary:
;;;
;;; Written for these tests (not taken from deploy-ledger): only the public names the
;;; plugin reads, a deployment event and a rollback event with keyword constructors
;;; and one accessor per field, as in the ledger's public API.
;;;
;;; Code:

(define-module (deploy-ledger core types)
  #:use-module (srfi srfi-9)
  #:export (make-deployment-event
            deployment-event?
            deployment-event-id
            deployment-event-service-name
            deployment-event-version
            deployment-event-environment
            deployment-event-deployment-type
            deployment-event-started
            deployment-event-completed
            deployment-event-status
            deployment-event-initiator
            deployment-event-metadata
            deployment-event-parent-id

            make-rollback-event
            rollback-event?
            rollback-event-id
            rollback-event-service-name
            rollback-event-from-version
            rollback-event-to-version
            rollback-event-reason
            rollback-event-timestamp
            rollback-event-initiator
            rollback-event-impact
            rollback-event-deployment-id))

(define-record-type <deployment-event>
  (%make-deployment-event id service-name version environment deployment-type
                          started completed status initiator metadata parent-id)
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

(define* (make-deployment-event #:key id service-name version (environment 'production)
                                (deployment-type 'rolling) started (completed #f)
                                (status 'pending) (initiator #f) (metadata '())
                                (parent-id #f))
  (%make-deployment-event id service-name version environment deployment-type
                          started completed status initiator metadata parent-id))

(define-record-type <rollback-event>
  (%make-rollback-event id service-name from-version to-version reason timestamp
                        initiator impact deployment-id)
  rollback-event?
  (id rollback-event-id)
  (service-name rollback-event-service-name)
  (from-version rollback-event-from-version)
  (to-version rollback-event-to-version)
  (reason rollback-event-reason)
  (timestamp rollback-event-timestamp)
  (initiator rollback-event-initiator)
  (impact rollback-event-impact)
  (deployment-id rollback-event-deployment-id))

(define* (make-rollback-event #:key id service-name from-version to-version reason
                              timestamp (initiator #f) (impact '()) (deployment-id #f))
  (%make-rollback-event id service-name from-version to-version reason timestamp
                        initiator impact deployment-id))

;;; types.scm ends here
