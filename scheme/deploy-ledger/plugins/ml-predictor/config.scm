;;; config.scm -- where the predictor daemon listens: the rule shared with predictor/config.py

;;; Commentary:
;;;
;;; The same rule as `predictor.config.default_endpoint' in Python, so the daemon, the
;;; CLI and this plugin meet without configuration:
;;;
;;;   $PREDICTOR_ENDPOINT, else ipc://$XDG_RUNTIME_DIR/predictor.sock when XDG_RUNTIME_DIR
;;;   is set and PREDICTOR_HOME is not, else ipc://<home>/predictor.sock, where <home> is
;;;   $PREDICTOR_HOME (with ~ expanded), else $XDG_DATA_HOME/predictor, else
;;;   ~/.local/share/predictor.
;;;
;;; An empty variable counts as unset, and paths are normalized as pathlib does
;;; (repeated slashes and "." components dropped), as in Python.
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor config)
  #:export (default-endpoint
            predictor-home))

(define socket-file-name "predictor.sock")

(define (env name)
  "Return the value of environment variable NAME, or #f when unset or empty."
  (let ((value (getenv name)))
    (and value (not (string-null? value)) value)))

(define (user-home)
  (or (getenv "HOME") (passwd:dir (getpwuid (getuid)))))

(define (expand-user path)
  "Return PATH with a leading ~ or ~USER replaced by that home directory."
  (if (not (string-prefix? "~" path))
      path
      (let* ((slash (string-index path #\/))
             (user (substring path 1 (or slash (string-length path))))
             (rest (if slash (substring path slash) ""))
             (home (if (string-null? user)
                       (user-home)
                       (catch #t
                         (lambda () (passwd:dir (getpwnam user)))
                         (lambda _ #f)))))
        (if home
            (let ((home (string-trim-right home #\/)))
              (if (and (string-null? home) (string-null? rest))
                  "/"
                  (string-append home rest)))
            path))))

(define (normalize-path path)
  "Return PATH as Python's pathlib writes it: no repeated slashes, no \".\" parts."
  (let* ((root (cond ((and (string-prefix? "//" path) (not (string-prefix? "///" path))) "//")
                     ((string-prefix? "/" path) "/")
                     (else "")))
         (parts (filter (lambda (part)
                          (not (or (string-null? part) (string=? part "."))))
                        (string-split path #\/)))
         (joined (string-append root (string-join parts "/"))))
    (if (string-null? joined) "." joined)))

(define (join-path . parts)
  (normalize-path (string-join parts "/")))

(define (predictor-home)
  "Return the directory that holds the predictor's store (not created)."
  (cond ((env "PREDICTOR_HOME") => (lambda (home) (normalize-path (expand-user home))))
        (else (join-path (or (env "XDG_DATA_HOME") (join-path (user-home) ".local" "share"))
                         "predictor"))))

(define (default-endpoint)
  "Return the ZeroMQ endpoint shared by the daemon, the CLI and this plugin."
  (cond ((env "PREDICTOR_ENDPOINT"))
        ((and (env "XDG_RUNTIME_DIR") (not (env "PREDICTOR_HOME")))
         (string-append "ipc://" (join-path (env "XDG_RUNTIME_DIR") socket-file-name)))
        (else
         (string-append "ipc://" (join-path (predictor-home) socket-file-name)))))

;;; config.scm ends here
