;;; sqlite.scm -- a stand-in for deploy-ledger's storage module as it fails today, for the tests
;;;
;;; Upstream's readers step a statement and then ask `sqlite-done?', which guile-sqlite3 0.1.3
;;; does not export: the call fails with an unbound-variable error.  This module fails the
;;; same way, so collect-data.scm's fallback is exercised.  Written for these tests.

(define-module (deploy-ledger storage sqlite)
  #:use-module (deploy-ledger core types)
  #:use-module ((sqlite3) #:select (sqlite-prepare sqlite-step))
  #:export (list-deployments))

(define* (list-deployments db #:key service environment status limit offset)
  "Fail as upstream's reader does with guile-sqlite3 0.1.3."
  (let ((stmt (sqlite-prepare db "SELECT * FROM deployments")))
    (sqlite-step stmt)
    ((module-ref (current-module) 'sqlite-done?) stmt)))
