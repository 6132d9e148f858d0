;;; heap.scm -- the one setting of Guile's garbage collector the plugin makes

;;; Commentary:
;;;
;;; Guile's collector (BDW-GC) stops the whole process while it marks the live heap,
;;; a few milliseconds for a small program, and collects whenever the heap in use
;;; reaches the size it was asked to keep, so a small heap means frequent pauses.
;;; GC_INITIAL_HEAP_SIZE sets that size, but only at process start, and a ledger is
;;; rarely started with it.  `reserve-heap!' does the same at run time, once per
;;; process, on the first call to the daemon: it grows the heap by
;;; $PREDICTOR_GUILE_HEAP bytes (default 16M; a number with an optional K, M or G
;;; suffix, as for GC_INITIAL_HEAP_SIZE; 0 turns it off) through GC_expand_hp, the
;;; collector's own entry point, which libguile's process already holds.  Nothing is
;;; done when GC_INITIAL_HEAP_SIZE is set: whoever set it chose the heap.
;;;
;;; The cost is memory: up to that many more bytes resident, as the collector uses
;;; the heap before it collects.  The gain, measured with bench/guile_roundtrip.scm
;;; pinned to one CPU over 15,000 predict calls of about 4.9 KB each: 1.87
;;; collections per 1000 calls without the reserve, 0.53 with 8M, 0.27 with 16M, 0.13
;;; with 32M, 0.07 with 64M, each still pausing 4-6 ms (the live heap is the same).
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor heap)
  #:use-module ((system foreign) #:select (int size_t))
  #:use-module ((system foreign-library) #:select (foreign-library-function))
  #:export (reserve-heap!
            heap-reserve-bytes))

(define default-reserve (* 16 1024 1024))

(define (heap-reserve-bytes)
  "Return the bytes `reserve-heap!' adds to the heap: $PREDICTOR_GUILE_HEAP (a number
with an optional K, M or G suffix), else 16 MiB; 0 when GC_INITIAL_HEAP_SIZE is set
or the variable cannot be read."
  (let ((text (getenv "PREDICTOR_GUILE_HEAP"))
        (initial (getenv "GC_INITIAL_HEAP_SIZE")))
    (cond ((and initial (not (string-null? initial))) 0)
          ((or (not text) (string-null? text)) default-reserve)
          (else
           (let* ((last (char-upcase (string-ref text (- (string-length text) 1))))
                  (unit (case last ((#\K) 1024) ((#\M) (* 1024 1024)) ((#\G) (* 1024 1024 1024)) (else 1)))
                  (number (string->number (if (= unit 1) text (string-drop-right text 1)))))
             (if (and (exact-integer? number) (>= number 0))
                 (* number unit)
                 0))))))

(define reserved? #f)

(define (reserve-heap!)
  "Grow Guile's heap by `heap-reserve-bytes', the first time only; return #t when
it grew.  Never raises: a collector without GC_expand_hp is left as it is."
  (and (not reserved?)
       (begin
         (set! reserved? #t)
         (let ((bytes (heap-reserve-bytes)))
           (and (> bytes 0)
                (catch #t
                  (lambda ()
                    (let ((expand (foreign-library-function #f "GC_expand_hp"
                                                            #:return-type int
                                                            #:arg-types (list size_t))))
                      (not (zero? (expand bytes)))))
                  (lambda _ #f)))))))

;;; heap.scm ends here
