;;; zmq-test.scm -- the libzmq binding over fresh ipc endpoints

(use-modules (srfi srfi-64)
             (rnrs bytevectors)
             (test-support)
             (deploy-ledger plugins ml-predictor zmq))

(start-suite "zmq")

(define (condition-of thunk)
  (catch #t (lambda () (thunk) #f) (lambda (key . args) (if (eq? key '%exception) (car args) key))))

(test-assert "the library loads and reports a 4.x version"
  (string-prefix? "4." (zmq-version)))

(define endpoint (fresh-endpoint))
(define router (make-zmq-socket ZMQ_ROUTER))
(define dealer (make-zmq-socket ZMQ_DEALER))
(zmq-bind router endpoint)
(zmq-connect dealer endpoint)

(define (echo-once)
  "Receive one message on the router and send it back unchanged."
  (and (zmq-wait-readable router 2000)
       (let ((frames (zmq-receive-frames router)))
         (zmq-send-frames router frames)
         frames)))

(test-group "DEALER to ROUTER and back"
  (zmq-send-frames dealer (list (make-bytevector 0) (string->utf8 "hello")))
  (let ((frames (echo-once)))
    (test-equal "the router sees identity, delimiter, payload" 3 (length frames))
    (test-equal "the payload arrives" "hello" (utf8->string (caddr frames))))
  (test-assert "the reply is waiting" (zmq-wait-readable dealer 2000))
  (test-equal "the dealer gets delimiter and payload"
    '(0 "hello")
    (let ((frames (zmq-receive-frames dealer)))
      (list (bytevector-length (car frames)) (utf8->string (cadr frames))))))

(test-group "frames of any size arrive whole"
  (for-each
   (lambda (size)
     (let ((payload (make-bytevector size)))
       (do ((i 0 (+ i 1))) ((= i size)) (bytevector-u8-set! payload i (modulo (* i 7) 251)))
       (zmq-send-frames dealer (list (make-bytevector 0) payload))
       (echo-once)
       (zmq-wait-readable dealer 2000)
       (test-equal (format #f "~a bytes" size)
         payload
         (cadr (zmq-receive-frames dealer)))))
   ;; Around the socket's send buffer (8192 bytes) too: copied there, or sent in place.
   (list 0 1 4095 4096 8191 8192 8193 65537 (* 3 1024 1024))))

(test-group "receiving without copying, and many frames"
  (let ((frames (map (lambda (i) (make-bytevector (* i 100) i)) (iota 7))))
    ;; Seven frames: more than the socket's four zmq_msg_t slots.
    (zmq-send-frames dealer frames)
    (test-equal "seven frames go through the router" 8 (length (echo-once)))
    (zmq-wait-readable dealer 2000)
    (test-equal "and come back whole, viewed in place"
      (map bytevector-length frames)
      (zmq-call-with-frames dealer (lambda (views) (map bytevector-length views))))
    (zmq-send-frames dealer frames)
    (echo-once)
    (zmq-wait-readable dealer 2000)
    (test-equal "or copied"
      frames
      (zmq-receive-frames dealer)))
  (zmq-send-frames dealer (list (make-bytevector 0) (string->utf8 "view")))
  (echo-once)
  (zmq-wait-readable dealer 2000)
  (test-equal "PROC's value is returned, built from the views"
    '(0 "view")
    (zmq-call-with-frames dealer
      (lambda (views) (list (bytevector-length (car views)) (utf8->string (cadr views))))))
  (zmq-send-frames dealer (list (make-bytevector 0) (string->utf8 "boom")))
  (echo-once)
  (zmq-wait-readable dealer 2000)
  (test-equal "a PROC that raises lets the condition through"
    'boom
    (catch 'boom
      (lambda () (zmq-call-with-frames dealer (lambda (views) (throw 'boom))))
      (lambda (key . args) key)))
  (zmq-send-frames dealer (list (make-bytevector 0) (string->utf8 "after")))
  (echo-once)
  (zmq-wait-readable dealer 2000)
  (test-equal "and the socket works on"
    "after"
    (zmq-call-with-frames dealer (lambda (views) (utf8->string (cadr views)))))
  (let ((condition (condition-of (lambda () (zmq-call-with-frames dealer car #:dont-wait? #t)))))
    (test-equal "with nothing waiting and DONT-WAIT?, EAGAIN"
      EAGAIN
      (and (zmq-error? condition) (zmq-error-errno condition)))))

(test-group "waiting and errors"
  (let ((start (get-internal-real-time)))
    (test-equal "waiting on a quiet socket times out" #f (zmq-wait-readable dealer 150))
    (test-assert "after about the time asked"
      (<= 0.14 (elapsed-seconds start) 1.0)))
  (let ((condition (condition-of (lambda () (zmq-receive-frames dealer #:dont-wait? #t)))))
    (test-assert "a receive with nothing there is a zmq-error" (zmq-error? condition))
    (test-equal "its errno is EAGAIN" EAGAIN (zmq-error-errno condition))
    (test-equal "it names the C function" "zmq_msg_recv" (zmq-error-function condition)))
  (let ((condition (condition-of (lambda () (zmq-connect dealer "nonsense://here")))))
    (test-assert "a bad endpoint is a zmq-error" (zmq-error? condition))
    (test-assert "whose message carries zmq_strerror's text and the endpoint"
      (let ((message ((@ (ice-9 exceptions) exception-message) condition)))
        (and (string-contains message (zmq-strerror (zmq-error-errno condition)))
             (string-contains message "nonsense://here")))))
  (let ((condition (condition-of
                    (lambda ()
                      (call-with-zmq-socket ZMQ_ROUTER
                        (lambda (socket)
                          (zmq-bind socket "ipc:///nonexistent-directory/x.sock")))))))
    (test-equal "binding in a missing directory fails with ENOENT"
      ENOENT
      (and (zmq-error? condition) (zmq-error-errno condition)))))

(test-group "receiving with a timeout"
  (let ((start (get-internal-real-time)))
    (test-equal "a timed receive on a quiet socket returns #f" #f
      (zmq-call-with-frames dealer (lambda (views) 'called) #:timeout-ms 150))
    (test-assert "after about the time asked"
      (<= 0.14 (elapsed-seconds start) 1.0)))
  (test-equal "zmq-receive-frames too" #f (zmq-receive-frames dealer #:timeout-ms 20))
  (test-equal "the timeout is set on the socket, once" 20 (zmq-get-option dealer ZMQ_RCVTIMEO))
  (zmq-send-frames dealer (list (make-bytevector 0) (string->utf8 "timed")))
  (echo-once)
  (test-equal "a message that is there is received"
    "timed"
    (zmq-call-with-frames dealer (lambda (views) (utf8->string (cadr views))) #:timeout-ms 2000))
  (test-equal "a receive without a timeout clears it first" -1
    (begin
      (zmq-send-frames dealer (list (make-bytevector 0) (string->utf8 "untimed")))
      (echo-once)
      (zmq-receive-frames dealer)
      (zmq-get-option dealer ZMQ_RCVTIMEO)))
  (zmq-set-option dealer ZMQ_RCVTIMEO 40)
  (test-equal "a timeout set as an option is known: an equal one is not set again, a new one is"
    '(40 #f 60)
    (let* ((before (zmq-get-option dealer ZMQ_RCVTIMEO))
           (received (zmq-receive-frames dealer #:timeout-ms 40)))
      (list before received
            (begin (zmq-receive-frames dealer #:timeout-ms 60)
                   (zmq-get-option dealer ZMQ_RCVTIMEO)))))
  (let ((alarms 0)
        (start (get-internal-real-time)))
    ;; SIGALRM every 20 ms: a signal that reaches the waiting thread interrupts the
    ;; receive (EINTR), which must wait again for the time that is left, not return
    ;; early or raise.
    (sigaction SIGALRM (lambda (signal) (set! alarms (+ alarms 1))))
    (setitimer ITIMER_REAL 0 20000 0 20000)
    (let ((received (catch #t
                      (lambda () (zmq-receive-frames dealer #:timeout-ms 300))
                      (lambda (key . args) (list 'raised key)))))
      (setitimer ITIMER_REAL 0 0 0 0)
      (sigaction SIGALRM SIG_DFL)
      (test-equal "a timed receive interrupted by signals still waits out its time"
        '(#f #t #t)
        (list received (<= 0.29 (elapsed-seconds start) 1.5) (> alarms 3)))))
  (let ((condition (condition-of (lambda () (zmq-receive-frames dealer #:timeout-ms 10
                                                                #:dont-wait? #t)))))
    (test-equal "DONT-WAIT? wins over a timeout: EAGAIN at once"
      EAGAIN
      (and (zmq-error? condition) (zmq-error-errno condition)))))

(test-group "options and lifetime"
  (zmq-set-option dealer ZMQ_LINGER 0)
  (test-equal "an int option reads back" 0 (zmq-get-option dealer ZMQ_LINGER))
  (zmq-set-option dealer ZMQ_MAXMSGSIZE (* 4 1024 1024))
  (test-equal "an int64 option reads back" (* 4 1024 1024) (zmq-get-option dealer ZMQ_MAXMSGSIZE))
  (zmq-close dealer)
  (test-assert "a closed socket says so" (not (zmq-socket-open? dealer)))
  (test-assert "its printer says closed"
    (string-contains (call-with-output-string (lambda (port) (write dealer port))) "closed"))
  (test-assert "using it raises a zmq-error"
    (zmq-error? (condition-of (lambda () (zmq-send-frames dealer (list (make-bytevector 1)))))))
  (test-equal "closing twice does nothing" #t (begin (zmq-close dealer) #t)))

(test-group "REQ and REP, through call-with-zmq-socket"
  (let ((endpoint (fresh-endpoint)))
    (call-with-zmq-socket ZMQ_REP
      (lambda (rep)
        (zmq-bind rep endpoint)
        (call-with-zmq-socket ZMQ_REQ
          (lambda (req)
            (zmq-connect req endpoint)
            (zmq-send-frames req (list (string->utf8 "ping")))
            (zmq-wait-readable rep 2000)
            (test-equal "REP gets the payload without a delimiter"
              '("ping")
              (map utf8->string (zmq-receive-frames rep)))
            (zmq-send-frames rep (list (string->utf8 "pong")))
            (zmq-wait-readable req 2000)
            (test-equal "REQ gets the answer"
              '("pong")
              (map utf8->string (zmq-receive-frames req)))
            (test-equal "a second send before a receive is refused with EFSM"
              EFSM
              (begin
                (zmq-send-frames req (list (string->utf8 "one")))
                (let ((condition (condition-of
                                  (lambda () (zmq-send-frames req (list (string->utf8 "two")))))))
                  (and (zmq-error? condition) (zmq-error-errno condition)))))))))))

(zmq-close router #:linger 0)
(test-end "zmq")
