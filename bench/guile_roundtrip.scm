;;; guile_roundtrip.scm -- time predict-deployment-outcome from Guile, and the msgpack codec
;;;
;;; Usage: guile -L scheme bench/guile_roundtrip.scm ENDPOINT SERVICE CALLS [WARMUP]
;;; Prints one line of KEY=VALUE figures (microseconds) for bench/guile_roundtrip.py,
;;; with what the timed calls cost the garbage collector: collections per 1000 calls,
;;; milliseconds per collection (the world is stopped meanwhile) and bytes allocated
;;; per call, from (gc-stats).  The codec figures time what the plugin does per call:
;;; the request packed into a kept packer, the daemon's reply to it decoded straight into
;;; the answer.

(use-modules (ice-9 format)
             (rnrs bytevectors)
             (deploy-ledger plugins ml-predictor)
             (deploy-ledger plugins ml-predictor msgpack)
             (deploy-ledger plugins ml-predictor protocol)
             (deploy-ledger plugins ml-predictor records)
             (deploy-ledger plugins ml-predictor zmq))

(define-values (endpoint service calls warmup)
  (let ((args (cdr (command-line))))
    (values (car args) (cadr args) (string->number (caddr args))
            (if (pair? (cdddr args)) (string->number (cadddr args)) 1500))))

(define deployment
  ;; The fields the ledger sends, plus a few the wire Deployment knows: 15 in all.
  `((id . "bench-1") (service-name . ,service) (version . "2.4.1") (environment . production)
    (deployment-type . canary) (started . 1771934400) (completed . #f) (status . in-progress)
    (initiator . "bench") (metadata (ticket . "OPS-7") (region . "eu-west-1"))
    (parent-id . #f) (change-size . 120) (strategy . "canary") (automated . #t)
    (resources "cpu" "memory")))

(define (now-ns) (get-internal-real-time))

(define (percentile sorted p)
  (vector-ref sorted (min (- (vector-length sorted) 1)
                          (inexact->exact (floor (* p (vector-length sorted)))))))

(define outcome 'ok)

(define (one-call)
  (catch #t
    (lambda () (predict-deployment-outcome deployment))
    (lambda (key . args)
      (if (and (eq? key '%exception) (ml-predictor-remote-error? (car args)))
          (set! outcome (string->symbol (ml-predictor-remote-error-code (car args))))
          (apply throw key args)))))

(define cpu-us-per-call 0)

(define (cpu-seconds)
  (let ((t (times)))
    (/ (+ (tms:utime t) (tms:stime t)) internal-time-units-per-second 1.0)))

(define (time-calls n)
  (let ((samples (make-vector n 0))
        (cpu-start (cpu-seconds)))
    (do ((i 0 (+ i 1))) ((= i n))
      (let ((start (now-ns)))
        (one-call)
        (vector-set! samples i (- (now-ns) start))))
    (set! cpu-us-per-call (/ (* 1e6 (- (cpu-seconds) cpu-start)) n))
    (sort! samples <)
    samples))

(define (per-op-us n thunk)
  (let ((start (now-ns)))
    (do ((i 0 (+ i 1))) ((= i n)) (thunk))
    (/ (- (now-ns) start) n 1000.0)))

(define ns->us (lambda (ns) (/ ns 1000.0)))

(define (daemon-reply request)
  "Return the payload of the daemon's reply to REQUEST, sent on a socket of its own."
  (call-with-zmq-socket ZMQ_DEALER
    (lambda (socket)
      (zmq-connect socket endpoint)
      (zmq-send-frames socket (list (make-bytevector 0) request))
      (let ((frames (zmq-receive-frames socket #:timeout-ms 2000)))
        (unless frames
          (error "no reply from the daemon within 2 s" endpoint))
        (cadr frames)))))

(define (gc-stat key) (assq-ref (gc-stats) key))

(define gc-figures #f)                 ; (collections bytes-allocated gc-seconds)

(define (time-calls/gc n)
  (let ((collections (gc-stat 'gc-times))
        (allocated (gc-stat 'heap-total-allocated))
        (gc-time (gc-stat 'gc-time-taken)))
    (let ((samples (time-calls n)))
      (set! gc-figures
            (list (- (gc-stat 'gc-times) collections)
                  (- (gc-stat 'heap-total-allocated) allocated)
                  (/ (- (gc-stat 'gc-time-taken) gc-time) internal-time-units-per-second 1.0)))
      samples)))

(parameterize ((ml-predictor-endpoint endpoint))
  (time-calls (min warmup calls))              ; warm up
  (let* ((samples (time-calls/gc calls))
         (params `(("deployment" . ,(deployment->wire deployment))))
         (request (encode-request "guile-1-1" "predict" params #:deadline-ms 2000))
         ;; The decode figure is for the daemon's own reply to this request.
         (reply (daemon-reply request)))
    (format #t "guile outcome=~a calls=~a p50_us=~,1f p99_us=~,1f cpu_us=~,1f gc_per_1000=~,2f gc_pause_us=~,0f alloc_per_call=~,0f encode_us=~,2f decode_us=~,2f request_bytes=~a reply_bytes=~a~%"
            outcome calls
            (ns->us (percentile samples 0.5)) (ns->us (percentile samples 0.99)) cpu-us-per-call
            (* 1000.0 (/ (car gc-figures) calls))
            (if (zero? (car gc-figures)) 0 (* 1e6 (/ (caddr gc-figures) (car gc-figures))))
            (/ (cadr gc-figures) calls 1.0)
            ;; What the plugin does per call: pack into its kept packer, decode the
            ;; reply straight into the answer.
            (let ((packer (make-packer)))
              (per-op-us 5000 (lambda ()
                                (packer-reset! packer)
                                (pack-request! packer "guile-1-1" "predict"
                                               `(("deployment" . ,(deployment-writer deployment)))
                                               #:deadline-ms 2000))))
            (per-op-us 5000 (lambda ()
                              (reply-result (decode-reply reply endpoint
                                                          #:map-key wire-key->scheme
                                                          #:symbol-value? symbol-valued-key?))))
            (bytevector-length request) (bytevector-length reply))))
