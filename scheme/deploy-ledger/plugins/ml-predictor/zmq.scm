;;; zmq.scm -- the part of libzmq the predictor needs, bound through Guile's FFI

;;; Commentary:
;;;
;;; libzmq (libzmq5 from the system) is loaded lazily, on the first call that needs it,
;;; so this module loads without it.  The library name comes from the environment
;;; variable PREDICTOR_LIBZMQ, default "libzmq", then "libzmq.so.5" (Debian ships only
;;; the versioned name without the -dev package).  Each C function is bound once,
;;; through `define-zmq-function'.
;;;
;;; A failing call raises a `&zmq-error' carrying the C function name, errno and the
;;; text of zmq_strerror; compare errno to the named constants (EAGAIN, EINTR, ETERM,
;;; EFSM, ...).  Frames are received through zmq_msg_t, so a frame of any size arrives
;;; whole: nothing is read into a fixed buffer.
;;;
;;; The memory a call needs on the C side (the zmq_pollitem_t, the zmq_msg_t of
;;; each frame, a send buffer for small frames, the int of ZMQ_RCVTIMEO) is allocated
;;; once per socket with its pointers, so sending, waiting and receiving allocate
;;; little on the Scheme heap;
;;; `bytevector->pointer', which is slow and registers a weak reference each time, is
;;; only used for frames above `send-buffer-size'.  A receive with a timeout is one
;;; blocking zmq_msg_recv under ZMQ_RCVTIMEO, set only when the timeout changes: a
;;; zmq_poll before a non-blocking receive would cost three more system calls.  Like
;;; a ZeroMQ socket itself, a socket is to be used by one thread at a time.
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor zmq)
  #:use-module (system foreign)
  #:use-module ((system foreign-library)
                #:select (load-foreign-library foreign-library-function))
  #:use-module (rnrs bytevectors)
  #:use-module ((srfi srfi-11) #:select (let-values))
  #:use-module ((srfi srfi-9) #:select (define-record-type))
  #:use-module ((srfi srfi-9 gnu) #:select (set-record-type-printer!))
  #:use-module ((ice-9 exceptions)
                #:select (make-exception-type make-exception make-exception-with-message
                          make-exception-with-origin &error raise-exception
                          exception-accessor exception-predicate))
  #:export (;; Library
            zmq-library-name
            zmq-version
            ;; Sockets
            zmq-socket?
            zmq-socket-open?
            make-zmq-socket
            zmq-close
            call-with-zmq-socket
            zmq-connect
            zmq-bind
            zmq-set-option
            zmq-get-option
            ;; Messages
            zmq-send-frames
            zmq-send-bytes
            zmq-receive-frames
            zmq-call-with-frames
            zmq-wait-readable
            ;; Errors
            &zmq-error
            zmq-error?
            zmq-error-errno
            zmq-error-function
            zmq-strerror
            ETERM
            EFSM
            ;; Constants
            ZMQ_REQ ZMQ_REP ZMQ_DEALER ZMQ_ROUTER
            ZMQ_LINGER ZMQ_RCVTIMEO ZMQ_SNDTIMEO ZMQ_SNDHWM ZMQ_RCVHWM
            ZMQ_MAXMSGSIZE ZMQ_IMMEDIATE ZMQ_RCVMORE
            ZMQ_DONTWAIT ZMQ_SNDMORE))

;;;
;;; Constants (zmq.h of libzmq 4.3).
;;;

(define ZMQ_REQ 3)
(define ZMQ_REP 4)
(define ZMQ_DEALER 5)
(define ZMQ_ROUTER 6)

(define ZMQ_RCVMORE 13)
(define ZMQ_LINGER 17)
(define ZMQ_MAXMSGSIZE 22)
(define ZMQ_SNDHWM 23)
(define ZMQ_RCVHWM 24)
(define ZMQ_RCVTIMEO 27)
(define ZMQ_SNDTIMEO 28)
(define ZMQ_IMMEDIATE 39)

(define ZMQ_DONTWAIT 1)
(define ZMQ_SNDMORE 2)
(define ZMQ_POLLIN 1)

(define ZMQ_HAUSNUMERO 156384712)
(define EFSM (+ ZMQ_HAUSNUMERO 51))
(define ETERM (+ ZMQ_HAUSNUMERO 53))

(define socket-type-names
  `((,ZMQ_REQ . "REQ") (,ZMQ_REP . "REP") (,ZMQ_DEALER . "DEALER") (,ZMQ_ROUTER . "ROUTER")))

(define int64-options
  ;; Options whose value is an int64_t; every other integer option is an int.
  (list ZMQ_MAXMSGSIZE))

;;;
;;; Loading the library and binding functions.
;;;

(define (zmq-library-name)
  "Return the name of the libzmq shared library this module loads.
It is $PREDICTOR_LIBZMQ when set, else \"libzmq\" (falling back to \"libzmq.so.5\")."
  (let ((explicit (getenv "PREDICTOR_LIBZMQ")))
    (if (and explicit (not (string-null? explicit))) explicit "libzmq")))

(define %library #f)

(define (zmq-library)
  "Return the loaded libzmq, loading it on first use."
  (or %library
      (let* ((name (zmq-library-name))
             (library
              (catch #t
                (lambda () (load-foreign-library name))
                (lambda (key . args)
                  (catch #t
                    (lambda ()
                      (if (string=? name "libzmq")
                          (load-foreign-library "libzmq.so.5")
                          (apply throw key args)))
                    (lambda (key . args)
                      (raise-exception
                       (make-exception
                        (make-zmq-error "load-foreign-library" ENOENT)
                        (make-exception-with-message
                         (format #f "cannot load libzmq from ~s (~a): install libzmq5 or set PREDICTOR_LIBZMQ to the library's path"
                                 name
                                 (call-with-output-string
                                   (lambda (port) (print-exception port #f key args)))))))))))))
        (set! %library library)
        library)))

(define-syntax define-zmq-function
  ;; Define NAME as the C function C-NAME of libzmq, bound on first call: the Scheme
  ;; procedure takes ARG ... and returns two values, the C result and errno.
  (syntax-rules ()
    ((_ name c-name return-type (arg arg-type) ...)
     (define name
       (let ((proc #f))
         (lambda (arg ...)
           (unless proc
             (set! proc (foreign-library-function (zmq-library) c-name
                                                  #:return-type return-type
                                                  #:arg-types (list arg-type ...)
                                                  #:return-errno? #t)))
           (proc arg ...)))))))

(define-zmq-function %zmq-version "zmq_version" void
  (major '*) (minor '*) (patch '*))
(define-zmq-function %zmq-strerror "zmq_strerror" '* (errnum int))
(define-zmq-function %zmq-ctx-new "zmq_ctx_new" '*)
(define-zmq-function %zmq-socket "zmq_socket" '* (context '*) (type int))
(define-zmq-function %zmq-close "zmq_close" int (socket '*))
(define-zmq-function %zmq-connect "zmq_connect" int (socket '*) (endpoint '*))
(define-zmq-function %zmq-bind "zmq_bind" int (socket '*) (endpoint '*))
(define-zmq-function %zmq-setsockopt "zmq_setsockopt" int
  (socket '*) (option int) (value '*) (size size_t))
(define-zmq-function %zmq-getsockopt "zmq_getsockopt" int
  (socket '*) (option int) (value '*) (size '*))
(define-zmq-function %zmq-send "zmq_send" int
  (socket '*) (buffer '*) (size size_t) (flags int))
(define-zmq-function %zmq-msg-init "zmq_msg_init" int (msg '*))
(define-zmq-function %zmq-msg-recv "zmq_msg_recv" int (msg '*) (socket '*) (flags int))
(define-zmq-function %zmq-msg-data "zmq_msg_data" '* (msg '*))
(define-zmq-function %zmq-msg-size "zmq_msg_size" size_t (msg '*))
(define-zmq-function %zmq-msg-more "zmq_msg_more" int (msg '*))
(define-zmq-function %zmq-msg-close "zmq_msg_close" int (msg '*))
(define-zmq-function %zmq-poll "zmq_poll" int (items '*) (count int) (timeout long))

;;;
;;; Errors.
;;;

(define &zmq-error
  (make-exception-type '&zmq-error &error '(function errno)))

(define make-zmq-error (record-constructor &zmq-error))

(define zmq-error? (exception-predicate &zmq-error))

(define zmq-error-function
  (exception-accessor &zmq-error (record-accessor &zmq-error 'function)))

(define zmq-error-errno
  (exception-accessor &zmq-error (record-accessor &zmq-error 'errno)))

(define (zmq-strerror errno)
  "Return the text libzmq gives for ERRNO."
  (let-values (((text _) (%zmq-strerror errno)))
    (pointer->string text)))

(define (zmq-fail function errno . context)
  "Raise a `&zmq-error' for C FUNCTION failing with ERRNO."
  (raise-exception
   (make-exception (make-zmq-error function errno)
                   (make-exception-with-origin function)
                   (make-exception-with-message
                    (format #f "~a~a: ~a (errno ~a)" function
                            (if (null? context) "" (format #f " ~a" (car context)))
                            (zmq-strerror errno) errno)))))

(define (zmq-version)
  "Return the version of the loaded libzmq as a string such as \"4.3.4\"."
  (let ((parts (make-bytevector (* 3 (sizeof int)) 0)))
    (%zmq-version (bytevector->pointer parts 0)
                  (bytevector->pointer parts (sizeof int))
                  (bytevector->pointer parts (* 2 (sizeof int))))
    (string-join (map number->string
                      (bytevector->sint-list parts (native-endianness) (sizeof int)))
                 ".")))

;;;
;;; The context and sockets.
;;;

(define %context #f)

(define (zmq-context)
  "Return the process's ZeroMQ context, creating it on first use."
  (or %context
      (let-values (((context errno) (%zmq-ctx-new)))
        (when (null-pointer? context)
          (zmq-fail "zmq_ctx_new" errno))
        (set! %context context)
        context)))

(define-record-type <zmq-socket>
  (%make-zmq-socket handle type buffers receive-timeout)
  zmq-socket?
  (handle zmq-socket-handle set-zmq-socket-handle!)
  (type zmq-socket-type)
  (buffers zmq-socket-buffers set-zmq-socket-buffers!)
  ;; The socket's ZMQ_RCVTIMEO as last set through this module (-1, libzmq's
  ;; default, at first), so a timed receive sets it only when it changes.
  (receive-timeout zmq-socket-receive-timeout set-zmq-socket-receive-timeout!))

;;; The C-side memory of a socket: one bytevector, its pieces' pointers made once.

(define zmq-msg-size
  ;; sizeof (zmq_msg_t) in libzmq 4.x: 64 bytes, pointer-aligned.
  64)

(define message-slots
  ;; zmq_msg_t kept per socket: frames of a message beyond these get temporary ones.
  4)

(define send-buffer-size
  ;; Frames up to this size are copied into the socket's send buffer for zmq_send
  ;; (which copies them again); larger ones are passed in place.
  8192)

(define-record-type <buffers>
  (%make-buffers memory poll-items option messages send-buffer send-pointer)
  buffers?
  (memory buffers-memory)               ; the bytevector that holds it all
  (poll-items buffers-poll-items)       ; pointer to one zmq_pollitem_t (16 bytes)
  (option buffers-option)               ; pointer to an int option value (at 16)
  (messages buffers-messages)           ; vector of pointers to zmq_msg_t
  (send-buffer buffers-send-buffer)     ; a bytevector in MEMORY ...
  (send-pointer buffers-send-pointer))  ; ... and its address

(define (make-buffers handle)
  "Return the C-side buffers of the socket HANDLE, its poll item already filled in."
  (let* ((messages-at 64)
         (send-at (+ messages-at (* message-slots zmq-msg-size)))
         (memory (make-bytevector (+ send-at send-buffer-size) 0))
         (base (bytevector->pointer memory))
         (address (pointer-address base)))
    ;; zmq_msg_t and zmq_pollitem_t need pointer alignment; Guile's bytevector
    ;; contents have at least that, checked rather than assumed.
    (unless (zero? (modulo address 8))
      (error "zmq: socket buffers are not 8-byte aligned" address))
    ;; zmq_pollitem_t: void *socket; int fd; short events; short revents.
    (bytevector-u64-native-set! memory 0 (pointer-address handle))
    (bytevector-s16-native-set! memory 12 ZMQ_POLLIN)
    (%make-buffers memory base (make-pointer (+ address 16))
                   (let ((v (make-vector message-slots)))
                     (do ((i 0 (+ i 1))) ((= i message-slots) v)
                       (vector-set! v i (make-pointer (+ address messages-at (* i zmq-msg-size))))))
                   (pointer->bytevector base send-buffer-size send-at)
                   (make-pointer (+ address send-at)))))

(define (socket-buffers socket)
  (or (zmq-socket-buffers socket) (begin (live-handle socket) #f)))

(set-record-type-printer!
 <zmq-socket>
 (lambda (socket port)
   (format port "#<zmq-socket ~a ~a>"
           (or (assv-ref socket-type-names (zmq-socket-type socket))
               (zmq-socket-type socket))
           (let ((handle (zmq-socket-handle socket)))
             (if handle
                 (format #f "0x~x" (pointer-address handle))
                 "closed")))))

(define (zmq-socket-open? socket)
  "Return true when SOCKET has not been closed."
  (and (zmq-socket-handle socket) #t))

(define (live-handle socket)
  (or (zmq-socket-handle socket)
      (raise-exception
       (make-exception (make-zmq-error "zmq-socket" 0)
                       (make-exception-with-message
                        (format #f "~a is closed" socket))))))

(define (make-zmq-socket type)
  "Return a new ZeroMQ socket of TYPE (ZMQ_DEALER, ZMQ_ROUTER, ZMQ_REQ, ZMQ_REP).
Close it with `zmq-close', or use `call-with-zmq-socket'."
  (let-values (((handle errno) (%zmq-socket (zmq-context) type)))
    (when (null-pointer? handle)
      (zmq-fail "zmq_socket" errno))
    (%make-zmq-socket handle type (make-buffers handle) -1)))

(define* (zmq-close socket #:key (linger #f))
  "Close SOCKET; with LINGER (milliseconds), set ZMQ_LINGER first.
Closing an already closed socket does nothing."
  (let ((handle (zmq-socket-handle socket)))
    (when handle
      (when linger
        (zmq-set-option socket ZMQ_LINGER linger))
      (set-zmq-socket-handle! socket #f)
      (set-zmq-socket-buffers! socket #f)
      (let-values (((rc errno) (%zmq-close handle)))
        (when (< rc 0)
          (zmq-fail "zmq_close" errno))))))

(define (call-with-zmq-socket type proc)
  "Call PROC with a new socket of TYPE; close it (linger 0) however PROC exits."
  (let ((socket (make-zmq-socket type)))
    (dynamic-wind
      (lambda () #t)
      (lambda () (proc socket))
      (lambda () (zmq-close socket #:linger 0)))))

(define (zmq-connect socket endpoint)
  "Connect SOCKET to ENDPOINT, a string such as \"ipc:///run/predictor.sock\"."
  (let-values (((rc errno) (%zmq-connect (live-handle socket)
                                         (string->pointer endpoint "UTF-8"))))
    (when (< rc 0)
      (zmq-fail "zmq_connect" errno endpoint))))

(define (zmq-bind socket endpoint)
  "Bind SOCKET to ENDPOINT, a string such as \"ipc:///tmp/test.sock\"."
  (let-values (((rc errno) (%zmq-bind (live-handle socket)
                                      (string->pointer endpoint "UTF-8"))))
    (when (< rc 0)
      (zmq-fail "zmq_bind" errno endpoint))))

(define (option-width option)
  (if (memv option int64-options) 8 (sizeof int)))

(define (zmq-set-option socket option value)
  "Set integer OPTION (ZMQ_LINGER, ZMQ_RCVTIMEO, ...) of SOCKET to VALUE."
  (let* ((width (option-width option))
         (bv (make-bytevector width)))
    (bytevector-sint-set! bv 0 value (native-endianness) width)
    (let-values (((rc errno) (%zmq-setsockopt (live-handle socket) option
                                              (bytevector->pointer bv) width)))
      (when (< rc 0)
        (zmq-fail "zmq_setsockopt" errno (format #f "option ~a" option)))
      (when (= option ZMQ_RCVTIMEO)
        (set-zmq-socket-receive-timeout! socket value)))))

(define (use-receive-timeout! socket handle buffers ms)
  "Make MS (milliseconds, -1 for none) the ZMQ_RCVTIMEO of SOCKET, unless it is
already; through the option slot of BUFFERS, so nothing is allocated."
  (unless (eqv? ms (zmq-socket-receive-timeout socket))
    (bytevector-s32-native-set! (buffers-memory buffers) 16 ms)
    (let-values (((rc errno) (%zmq-setsockopt handle ZMQ_RCVTIMEO (buffers-option buffers)
                                              (sizeof int))))
      (when (< rc 0)
        (zmq-fail "zmq_setsockopt" errno (format #f "option ~a" ZMQ_RCVTIMEO))))
    (set-zmq-socket-receive-timeout! socket ms)))

(define (zmq-get-option socket option)
  "Return the value of integer OPTION of SOCKET."
  (let* ((width (option-width option))
         (bv (make-bytevector width 0))
         (size (make-bytevector (sizeof size_t) 0)))
    (bytevector-uint-set! size 0 width (native-endianness) (sizeof size_t))
    (let-values (((rc errno) (%zmq-getsockopt (live-handle socket) option
                                              (bytevector->pointer bv)
                                              (bytevector->pointer size))))
      (when (< rc 0)
        (zmq-fail "zmq_getsockopt" errno (format #f "option ~a" option)))
      (bytevector-sint-ref bv 0 (native-endianness) width))))

;;;
;;; Sending and receiving.
;;;

(define empty-frame (make-bytevector 0))

(define (send-frame handle buffers bytes size flags raise?)
  "Send the first SIZE bytes of bytevector BYTES as one frame with FLAGS; return #t,
or, when libzmq refuses it and RAISE? is false, #f."
  (let ((data (cond ((zero? size) %null-pointer)
                    ((<= size send-buffer-size)
                     ;; zmq_send copies the bytes before returning.
                     (bytevector-copy! bytes 0 (buffers-send-buffer buffers) 0 size)
                     (buffers-send-pointer buffers))
                    (else (bytevector->pointer bytes)))))
    (let retry ()
      (let-values (((rc errno) (%zmq-send handle data size flags)))
        (cond ((>= rc 0) #t)
              ((= errno EINTR) (retry))
              (raise? (zmq-fail "zmq_send" errno))
              (else #f))))))

(define* (zmq-send-frames socket frames #:key (dont-wait? #f))
  "Send FRAMES, a list of bytevectors, on SOCKET as one multipart message.
With DONT-WAIT?, raise a `&zmq-error' with errno EAGAIN instead of blocking when
the message cannot be queued.  Interrupted sends (EINTR) are retried."
  (let* ((handle (live-handle socket))
         (buffers (socket-buffers socket))
         (wait-flag (if dont-wait? ZMQ_DONTWAIT 0)))
    (let loop ((frames frames))
      (unless (null? frames)
        (let ((frame (car frames)))
          (send-frame handle buffers frame (bytevector-length frame)
                      (if (null? (cdr frames)) wait-flag (logior wait-flag ZMQ_SNDMORE))
                      #t)
          (loop (cdr frames)))))))

(define* (zmq-send-bytes socket bytes size #:key (more? #f) (dont-wait? #f) (raise? #t))
  "Send the first SIZE bytes of bytevector BYTES on SOCKET as one frame, without
copying them out first; with MORE?, as a frame that more frames of the same
message follow.  DONT-WAIT? and errors are as for `zmq-send-frames', except that
with RAISE? #f a frame libzmq refuses (EAGAIN, ETERM...) returns #f instead of
raising; #t otherwise."
  (unless (<= 0 size (bytevector-length bytes))
    (error "zmq-send-bytes: size outside the bytevector" size (bytevector-length bytes)))
  (send-frame (live-handle socket) (socket-buffers socket) bytes size
              (logior (if dont-wait? ZMQ_DONTWAIT 0) (if more? ZMQ_SNDMORE 0))
              raise?))

(define (temporary-message)
  "Return a pointer to a fresh zmq_msg_t (for frames beyond a socket's slots)."
  (bytevector->pointer (make-bytevector zmq-msg-size 0)))

(define (receive-message socket dont-wait? timeout-ms frame finish)
  "Receive one multipart message from SOCKET and return (FINISH FRAMES), FRAMES the
list of (FRAME MSG SIZE) for each of its frames in order.  Each zmq_msg_t MSG stays
open until FINISH returns; all are closed then, or when anything raises.  Unless
DONT-WAIT?, wait at most TIMEOUT-MS milliseconds (#f: without end) for the message
and return #f, without calling FINISH, when none came in time."
  (let* ((handle (live-handle socket))
         (buffers (socket-buffers socket))
         (slots (buffers-messages buffers))
         (start (and timeout-ms (get-internal-real-time)))
         (open '()))                    ; messages to close, newest first
    (unless dont-wait?
      ;; One blocking receive that gives up after the timeout (libzmq's own wait):
      ;; cheaper than zmq_poll, which polls once without waiting before it waits.
      (use-receive-timeout! socket handle buffers (if timeout-ms (whole-ms timeout-ms) -1)))
    (dynamic-wind
      (lambda () #t)
      (lambda ()
        (let loop ((frames '()) (i 0) (flags (if dont-wait? ZMQ_DONTWAIT 0)))
          (let ((msg (if (< i message-slots) (vector-ref slots i) (temporary-message))))
            (let-values (((rc errno) (%zmq-msg-init msg)))
              (when (< rc 0)
                (zmq-fail "zmq_msg_init" errno)))
            (set! open (cons msg open))
            (let retry ()
              (let-values (((size errno) (%zmq-msg-recv msg handle flags)))
                (cond
                 ((>= size 0)
                  (let* ((frames (cons (frame msg size) frames))
                         (more (let-values (((more _) (%zmq-msg-more msg))) more)))
                    (if (zero? more)
                        (finish (reverse! frames))
                        ;; The rest of a multipart message is already here.
                        (loop frames (+ i 1) 0))))
                 ((= errno EINTR)
                  (if (and start (null? frames))
                      ;; Wait again for the time that is left, if any.
                      (let ((left (ms-left timeout-ms start)))
                        (and left
                             (begin (use-receive-timeout! socket handle buffers left)
                                    (retry))))
                      (retry)))
                 ((and (= errno EAGAIN) timeout-ms (not dont-wait?) (null? frames)) #f)
                 (else (zmq-fail "zmq_msg_recv" errno))))))))
      (lambda ()
        (for-each %zmq-msg-close open)
        (set! open '())))))

(define (whole-ms ms)
  "Return MS, milliseconds, as a whole number of them, rounded up; at least 0."
  (max 0 (if (exact-integer? ms) ms (inexact->exact (ceiling ms)))))

(define (ms-left timeout-ms start)
  "Return the whole milliseconds (rounded up) left of TIMEOUT-MS since START, in
internal time units, or #f when none are."
  (let* ((units-per-ms (/ internal-time-units-per-second 1000))
         (left (- (* (whole-ms timeout-ms) units-per-ms) (- (get-internal-real-time) start))))
    (and (> left 0) (ceiling-quotient left units-per-ms))))

(define (message-view msg size)
  "Return a bytevector that is the SIZE bytes of the open zmq_msg_t MSG, not a copy."
  (if (zero? size)
      empty-frame
      (let-values (((data _) (%zmq-msg-data msg)))
        (pointer->bytevector data size))))

(define* (zmq-receive-frames socket #:key (dont-wait? #f) (timeout-ms #f))
  "Receive one multipart message from SOCKET and return its frames, a list of
bytevectors, each as long as the frame that arrived.  With DONT-WAIT?, raise a
`&zmq-error' with errno EAGAIN when no message is waiting.  With TIMEOUT-MS, wait
at most that many milliseconds and return #f when no message came.  Interrupted
receives (EINTR) are resumed, for the time that is left."
  (receive-message socket dont-wait? timeout-ms
                   (lambda (msg size)
                     (let ((frame (make-bytevector size)))
                       (unless (zero? size)
                         (bytevector-copy! (message-view msg size) 0 frame 0 size))
                       frame))
                   (lambda (frames) frames)))

(define* (zmq-call-with-frames socket proc #:key (dont-wait? #f) (timeout-ms #f))
  "Receive one multipart message from SOCKET and return the result of calling PROC
with its frames, a list of bytevectors, without copying them: each frame is a view
of libzmq's buffer, valid only until PROC returns, when the message is closed.  PROC
must not keep a frame, only values built from its bytes (as `unpack' builds them).
DONT-WAIT?, TIMEOUT-MS and errors are as for `zmq-receive-frames': with TIMEOUT-MS,
#f is returned, and PROC not called, when no message came in time."
  (receive-message socket dont-wait? timeout-ms message-view proc))

(define (zmq-wait-readable socket timeout-ms)
  "Wait at most TIMEOUT-MS milliseconds for a message on SOCKET.
Return #t when one is waiting, #f when the time ran out.  Interrupted waits are
resumed for the time that is left."
  (let ((items (buffers-poll-items (socket-buffers socket)))
        (start (get-internal-real-time)))
    (let loop ((timeout (whole-ms timeout-ms)))
      (let-values (((rc errno) (%zmq-poll items 1 timeout)))
        (cond ((> rc 0) #t)
              ((= rc 0) #f)
              ((= errno EINTR)
               (let ((left (ms-left timeout-ms start)))
                 (and left (loop left))))
              (else (zmq-fail "zmq_poll" errno)))))))

;;; zmq.scm ends here
