;;; msgpack.scm -- the msgpack profile of the predictor protocol, in pure Scheme

;;; Commentary:
;;;
;;; How msgpack values are represented in Scheme (both directions):
;;;
;;;   nil    <-> the unique object `msgpack-nil' (test with `msgpack-nil?')
;;;   bool   <-> #t / #f
;;;   int    <-> exact integer (int64 range; a uint64 above 2^63-1 is refused)
;;;   float  <-> inexact real (always packed as float64, 0xcb; +nan.0, +inf.0 included);
;;;              exact non-integer rationals are packed as float64 too
;;;   str    <-> string (packing also accepts a symbol, sent as its name); map keys
;;;              unpack as read-only strings shared between calls (see below)
;;;   bin    <-> bytevector
;;;   array  <-> vector
;;;   map    <-> association list of (KEY . VALUE) pairs, KEY a string (or a symbol when
;;;              packing); '() is the empty map.  Entries are packed in list order and
;;;              unpacked in wire order, so unpack-then-pack reproduces canonical bytes.
;;;              A hash table packs as a map with its keys sorted, so bytes never depend
;;;              on hash order.
;;;
;;; Every format uses the smallest encoding of its family.  Unpacking checks every length
;;; against the bytes that are left (or against `msgpack-max-length' on a port) before
;;; allocating, refuses map keys that are not strings, duplicate keys, the reserved byte
;;; 0xc1, ext types, invalid UTF-8, trailing bytes, payloads above `msgpack-max-length'
;;; and nesting deeper than `msgpack-max-depth' (the top-level container is level 1).
;;; Errors are `&msgpack-error' exceptions (`msgpack-error?') naming the byte offset.
;;;
;;; Unpacking a bytevector allocates little: numbers are read in place, strings built
;;; from their bytes, and ASCII map keys of up to 64 bytes are interned (the first 2048
;;; distinct ones), so the keys of every reply are the same read-only strings.  A
;;; caller needing a key it can change must copy it (`string-copy').  `unpack' can
;;; also build another form as it decodes (#:map-key, #:nil, #:arrays,
;;; #:symbol-value?): the plugin decodes replies straight into its answers that way,
;;; the converted keys and the symbols of enum values made once per interned string.
;;;
;;; Packing writes into a packer; `pack' copies its bytes out, a caller that sends them
;;; reads them in place (`make-packer', `pack-value!', `make-msgpack-writer').
;;;
;;; Code:

(define-module (deploy-ledger plugins ml-predictor msgpack)
  #:use-module (rnrs bytevectors)
  #:use-module ((rnrs io ports)
                #:select (put-bytevector get-u8 get-bytevector-n eof-object?))
  #:use-module ((srfi srfi-11) #:select (let-values))
  #:use-module ((srfi srfi-9) #:select (define-record-type))
  #:use-module ((ice-9 atomic) #:select (make-atomic-box atomic-box-swap! atomic-box-set!))
  #:use-module ((srfi srfi-9 gnu) #:select (set-record-type-printer!))
  #:use-module ((ice-9 exceptions)
                #:select (make-exception-type make-exception make-exception-with-message
                          &error raise-exception exception-accessor exception-predicate
                          exception-kind))
  #:export (;; Values
            msgpack-nil
            msgpack-nil?
            ;; Packing and unpacking
            pack
            pack-to-port
            ;; Packing in place, for callers that send what they pack
            make-packer
            packer?
            packer-reset!
            packer-buffer
            packer-position
            packer-max-depth
            packer-check-depth!
            packer-contents
            pack-value!
            pack-string!
            pack-raw!
            packed-string
            pack-key!
            pack-map-header!
            pack-array-header!
            make-msgpack-writer
            msgpack-writer?
            unpack
            unpack-from-port
            ;; Limits
            msgpack-max-depth
            msgpack-max-length
            ;; Errors
            msgpack-error?
            msgpack-error-offset))

;;;
;;; Values and errors.
;;;

(define-record-type <msgpack-nil>
  (make-msgpack-nil)
  msgpack-nil?)

(define msgpack-nil (make-msgpack-nil))

(set-record-type-printer! <msgpack-nil>
                          (lambda (nil port) (display "#<msgpack-nil>" port)))

(define msgpack-max-depth
  ;; Deepest nesting of arrays and maps `unpack' accepts (the protocol's limit).
  (make-parameter 32))

(define msgpack-max-length
  ;; Largest payload `unpack' accepts and largest str, bin, array or map length
  ;; `unpack-from-port' accepts: 4 MiB, the protocol's maximum message size.
  (make-parameter (* 4 1024 1024)))

(define &msgpack-error
  (make-exception-type '&msgpack-error &error '(offset)))

(define make-msgpack-error
  (record-constructor &msgpack-error))

(define msgpack-error?
  (exception-predicate &msgpack-error))

(define msgpack-error-offset
  (exception-accessor &msgpack-error
                      (record-accessor &msgpack-error 'offset)))

(define (msgpack-fail offset fmt . args)
  (raise-exception
   (make-exception (make-msgpack-error offset)
                   (make-exception-with-message
                    (string-append "msgpack: "
                                   (if offset
                                       (format #f "at byte ~a: " offset)
                                       "")
                                   (apply format #f fmt args))))))

;;;
;;; Packing: into a packer, a growing bytevector and a position, no port per value.
;;;
;;; The writers below are module-level procedures of the packer, so a `pack' allocates
;;; no closures: only its result (and a packer when the spare is taken).  The packer of
;;; `pack' is kept for the next one (one spare, taken by whichever thread packs next,
;;; so threads never share it) unless it grew above `spare-limit'.  A caller that sends
;;; what it packs keeps its own packer (`make-packer', `packer-reset!',
;;; `pack-value!') and reads the bytes in place, with no copy at all.  ASCII strings
;;; are copied in char by char, without the intermediate bytevector of `string->utf8'.
;;; A value made by `make-msgpack-writer' is packed by its own procedure, straight into
;;; the packer: a caller can pack a converted form of its data without building it.

(define-record-type <packer>
  (%make-packer buffer position max-depth)
  packer?
  (buffer packer-buffer set-packer-buffer!)
  (position packer-position set-packer-position!)
  (max-depth packer-max-depth set-packer-max-depth!))

(define* (make-packer #:optional (size 1024))
  "Return a new packer, an output buffer for `pack-value!', of SIZE bytes at first."
  (%make-packer (make-bytevector size) 0 (msgpack-max-depth)))

(define (packer-reset! packer)
  "Empty PACKER for a new message, and read `msgpack-max-depth' again."
  (set-packer-position! packer 0)
  (set-packer-max-depth! packer (msgpack-max-depth)))

(define (packer-contents packer)
  "Return a new bytevector holding the bytes packed into PACKER since its reset."
  (let* ((n (packer-position packer))
         (out (make-bytevector n)))
    (bytevector-copy! (packer-buffer packer) 0 out 0 n)
    out))

(define-record-type <msgpack-writer>
  (make-msgpack-writer procedure datum)
  msgpack-writer?
  (procedure msgpack-writer-procedure)
  (datum msgpack-writer-datum))

(define (reserve! packer n)
  "Return PACKER's buffer, grown if needed so that N more bytes fit after its position."
  (let* ((buffer (packer-buffer packer))
         (size (bytevector-length buffer))
         (pos (packer-position packer)))
    (if (<= (+ pos n) size)
        buffer
        (let ((bigger (make-bytevector (max (* 2 size) (+ pos n)))))
          (bytevector-copy! buffer 0 bigger 0 pos)
          (set-packer-buffer! packer bigger)
          bigger))))

(define (put-u8! packer byte)
  (let ((buffer (reserve! packer 1))
        (pos (packer-position packer)))
    (bytevector-u8-set! buffer pos byte)
    (set-packer-position! packer (+ pos 1))))

(define (put-tagged! packer tag n width)
  ;; TAG, then N as a big-endian unsigned or signed integer of WIDTH bytes.
  (let* ((buffer (reserve! packer (+ 1 width)))
         (pos (packer-position packer))
         (at (+ pos 1)))
    (bytevector-u8-set! buffer pos tag)
    (if (negative? n)
        (case width
          ((1) (bytevector-s8-set! buffer at n))
          ((2) (bytevector-s16-set! buffer at n (endianness big)))
          ((4) (bytevector-s32-set! buffer at n (endianness big)))
          (else (bytevector-s64-set! buffer at n (endianness big))))
        (case width
          ((1) (bytevector-u8-set! buffer at n))
          ((2) (bytevector-u16-set! buffer at n (endianness big)))
          ((4) (bytevector-u32-set! buffer at n (endianness big)))
          (else (bytevector-u64-set! buffer at n (endianness big)))))
    (set-packer-position! packer (+ at width))))

(define (put-bytes! packer bv)
  (let* ((n (bytevector-length bv))
         (buffer (reserve! packer n))
         (pos (packer-position packer)))
    (bytevector-copy! bv 0 buffer pos n)
    (set-packer-position! packer (+ pos n))))

(define (put-header! packer n fix-tag fix-max tag8 tag16 tag32)
  (cond ((and fix-tag (<= n fix-max)) (put-u8! packer (logior fix-tag n)))
        ((and tag8 (< n #x100)) (put-tagged! packer tag8 n 1))
        ((< n #x10000) (put-tagged! packer tag16 n 2))
        ((< n #x100000000) (put-tagged! packer tag32 n 4))
        (else (msgpack-fail #f "length ~a does not fit in 32 bits" n))))

(define (pack-map-header! packer n)
  "Write the header of a map of N entries to PACKER; its keys and values follow."
  (put-header! packer n #x80 15 #f #xde #xdf))

(define (pack-array-header! packer n)
  "Write the header of an array of N items to PACKER; its items follow."
  (put-header! packer n #x90 15 #f #xdc #xdd))

(define (put-integer! packer n)
  (cond ((<= 0 n 127) (put-u8! packer n))
        ((<= -32 n -1) (put-u8! packer (logand n #xff)))
        ((>= n 0)
         (cond ((< n #x100) (put-tagged! packer #xcc n 1))
               ((< n #x10000) (put-tagged! packer #xcd n 2))
               ((< n #x100000000) (put-tagged! packer #xce n 4))
               ((< n #x8000000000000000) (put-tagged! packer #xcf n 8))
               (else (msgpack-fail #f "integer ~a does not fit in int64" n))))
        ((>= n -128) (put-tagged! packer #xd0 n 1))
        ((>= n -32768) (put-tagged! packer #xd1 n 2))
        ((>= n -2147483648) (put-tagged! packer #xd2 n 4))
        ((>= n -9223372036854775808) (put-tagged! packer #xd3 n 8))
        (else (msgpack-fail #f "integer ~a does not fit in int64" n))))

(define (put-float! packer x)
  (let ((buffer (reserve! packer 9))
        (pos (packer-position packer)))
    (bytevector-u8-set! buffer pos #xcb)
    (bytevector-ieee-double-set! buffer (+ pos 1) (exact->inexact x) (endianness big))
    (set-packer-position! packer (+ pos 9))))

(define (put-ascii! packer text n)
  "Write the N chars of TEXT to PACKER as a str, its bytes copied char by char, and
return #t; or, when a char is not ASCII, write nothing and return #f.  One pass:
room for the header and the chars is made at once, the chars copied, and the header
and the new position written only when all of them were ASCII."
  (if (>= n #x100000000)
      (put-header! packer n #xa0 31 #xd9 #xda #xdb) ; raises: too long for a str
      (let* ((width (cond ((< n 32) 1) ((< n #x100) 2) ((< n #x10000) 3) (else 5)))
             (buffer (reserve! packer (+ width n)))
             (start (packer-position packer))
             (pos (+ start width)))
        (let copy ((i 0))
          (if (= i n)
              (begin
                (case width
                  ((1) (bytevector-u8-set! buffer start (logior #xa0 n)))
                  ((2) (bytevector-u8-set! buffer start #xd9)
                       (bytevector-u8-set! buffer (+ start 1) n))
                  ((3) (bytevector-u8-set! buffer start #xda)
                       (bytevector-u16-set! buffer (+ start 1) n (endianness big)))
                  (else (bytevector-u8-set! buffer start #xdb)
                        (bytevector-u32-set! buffer (+ start 1) n (endianness big))))
                (set-packer-position! packer (+ pos n))
                #t)
              (let ((code (char->integer (string-ref text i))))
                (and (< code 128)
                     (begin
                       (bytevector-u8-set! buffer (+ pos i) code)
                       (copy (+ i 1))))))))))

(define (pack-string! packer text)
  "Write the string TEXT to PACKER as a str."
  (unless (put-ascii! packer text (string-length text))
    (let ((utf8 (string->utf8 text)))
      (put-header! packer (bytevector-length utf8) #xa0 31 #xd9 #xda #xdb)
      (put-bytes! packer utf8))))

(define (pack-raw! packer bytes)
  "Write BYTES, a bytevector that already holds msgpack (such as `packed-string'
returns), to PACKER as they are.  A caller packing the same key or value again and
again packs it once and copies its bytes in with one call."
  (put-bytes! packer bytes))

(define (packed-string text)
  "Return a new bytevector holding the string TEXT packed as a msgpack str."
  (let ((packer (make-packer (+ 5 (* 4 (string-length text))))))
    (pack-string! packer text)
    (packer-contents packer)))

(define (pack-key! packer key)
  "Write KEY, a map key (string or symbol), to PACKER as a str."
  (cond ((string? key) (pack-string! packer key))
        ((symbol? key) (pack-string! packer (symbol->string key)))
        (else (msgpack-fail #f "map key ~s is not a string or symbol" key))))

(define (put-entries! packer entries depth)
  (pack-map-header! packer (length entries))
  (let loop ((entries entries))
    (when (pair? entries)
      (let ((entry (car entries)))
        (unless (pair? entry)
          (msgpack-fail #f "map entry ~s is not a (key . value) pair" entry))
        (pack-key! packer (car entry))
        (pack-value! packer (cdr entry) depth)
        (loop (cdr entries))))))

(define (hash-table->sorted-alist table)
  (sort (hash-map->list cons table)
        (lambda (a b)
          (string<? (key->string (car a)) (key->string (car b))))))

(define (key->string key)
  (if (symbol? key) (symbol->string key) key))

(define (packer-check-depth! packer depth)
  "Raise a `&msgpack-error' unless a container at DEPTH is within `msgpack-max-depth'."
  (let ((max-depth (packer-max-depth packer)))
    (when (>= depth max-depth)
      (msgpack-fail #f "nesting deeper than ~a levels" max-depth))))

(define* (pack-value! packer value #:optional (depth 0))
  "Write VALUE to PACKER in msgpack, smallest format per family, as `pack' does.
DEPTH is how many containers VALUE is in, for `msgpack-max-depth'."
  (cond ((eq? value #t) (put-u8! packer #xc3))
        ((eq? value #f) (put-u8! packer #xc2))
        ((string? value) (pack-string! packer value))
        ((exact-integer? value) (put-integer! packer value))
        ((real? value) (put-float! packer value))
        ((msgpack-nil? value) (put-u8! packer #xc0))
        ((symbol? value) (pack-string! packer (symbol->string value)))
        ((null? value) (put-u8! packer #x80))
        ((msgpack-writer? value)
         ((msgpack-writer-procedure value) packer (msgpack-writer-datum value) depth))
        ((or (pair? value) (vector? value) (hash-table? value))
         (packer-check-depth! packer depth)
         (cond ((vector? value)
                (let ((n (vector-length value)))
                  (pack-array-header! packer n)
                  (do ((i 0 (+ i 1))) ((= i n))
                    (pack-value! packer (vector-ref value i) (+ depth 1)))))
               ((pair? value)
                (unless (list? value)
                  (msgpack-fail #f "~s is not a proper association list" value))
                (put-entries! packer value (+ depth 1)))
               (else
                (put-entries! packer (hash-table->sorted-alist value) (+ depth 1)))))
        ((bytevector? value)
         (put-header! packer (bytevector-length value) #f 0 #xc4 #xc5 #xc6)
         (put-bytes! packer value))
        (else (msgpack-fail #f "cannot pack ~s" value))))

(define spare (make-atomic-box #f))
(define spare-limit 65536)

(define (pack value)
  "Return a bytevector holding VALUE in msgpack, smallest format per family.
Maps (association lists) are written in list order, hash tables in key order."
  (let ((packer (or (atomic-box-swap! spare #f) (make-packer))))
    (packer-reset! packer)
    (pack-value! packer value 0)
    (let ((out (packer-contents packer)))
      (when (<= (bytevector-length (packer-buffer packer)) spare-limit)
        (atomic-box-set! spare packer))
      out)))

(define (pack-to-port value port)
  "Write VALUE to binary output PORT in msgpack, smallest format per family."
  (put-bytevector port (pack value)))

;;;
;;; Unpacking from a port.  The bytevector decoder, below, is written apart for speed;
;;; the protocol's vectors are decoded through both (tests/scheme/msgpack-test.scm).
;;;

(define-syntax-rule (decode-tag tag at depth be signed blob text array entries float32 float64)
  ;; One msgpack value from its first byte TAG (read at offset AT), the rest read through the
  ;; decoder's own procedures.  The bytevector decoder has its own dispatch (`read-value'),
  ;; which returns the position after the value with it.
  (cond ((< tag #x80) tag)
        ((>= tag #xe0) (- tag 256))
        ((< tag #x90) (entries (- tag #x80) depth))
        ((< tag #xa0) (array (- tag #x90) depth))
        ((< tag #xc0) (text (- tag #xa0)))
        (else
         (case tag
           ((#xc0) msgpack-nil)
           ((#xc2) #f)
           ((#xc3) #t)
           ((#xc4) (blob (be 1)))
           ((#xc5) (blob (be 2)))
           ((#xc6) (blob (be 4)))
           ((#xca) (float32))
           ((#xcb) (float64))
           ((#xcc) (be 1))
           ((#xcd) (be 2))
           ((#xce) (be 4))
           ((#xcf) (let ((n (be 8)))
                     (if (> n #x7fffffffffffffff)
                         (msgpack-fail at "uint64 ~a is above the int64 range" n)
                         n)))
           ((#xd0) (signed 1))
           ((#xd1) (signed 2))
           ((#xd2) (signed 4))
           ((#xd3) (signed 8))
           ((#xd9) (text (be 1)))
           ((#xda) (text (be 2)))
           ((#xdb) (text (be 4)))
           ((#xdc) (array (be 2) depth))
           ((#xdd) (array (be 4) depth))
           ((#xde) (entries (be 2) depth))
           ((#xdf) (entries (be 4) depth))
           ((#xc1) (msgpack-fail at "reserved byte 0xc1"))
           (else (msgpack-fail at "ext type 0x~a is not part of the protocol"
                               (number->string tag 16)))))))

(define-syntax-rule (define-decoder (name source ...) next-u8 next-bytes room)
  ;; Define NAME, a procedure of SOURCE ... returning one value, built from four
  ;; procedures of the SOURCE variables and `pos' (bytes taken so far): NEXT-U8 and
  ;; NEXT-BYTES take bytes, ROOM is the most bytes still available.
  (define (name source ...)
    (define pos 0)
    (define (u8)
      (next-u8 source ... pos (lambda () (set! pos (+ pos 1)))))
    (define (bytes n)
      (let ((bv (next-bytes source ... pos n)))
        (set! pos (+ pos n))
        bv))
    (define (be count)
      (let loop ((i 0) (n 0))
        (if (= i count) n (loop (+ i 1) (+ (ash n 8) (u8))))))
    (define (signed count)
      (let ((n (be count)) (half (ash 1 (- (* 8 count) 1))))
        (if (>= n half) (- n (ash half 1)) n)))
    (define (check-length n per-item what)
      (let ((limit (room source ... pos)))
        (when (> (* n per-item) limit)
          (msgpack-fail pos "~a of length ~a but only ~a bytes can follow"
                        what n limit))))
    (define text-start 0)
    (define (text n)
      ;; Invalid UTF-8 raises decoding-error, turned into a msgpack error below.
      (check-length n 1 "str")
      (set! text-start pos)
      (utf8->string (bytes n)))
    (define (blob n)
      (check-length n 1 "bin")
      (bytes n))
    (define (float64)
      (bytevector-ieee-double-ref (bytes 8) 0 (endianness big)))
    (define (float32)
      (bytevector-ieee-single-ref (bytes 4) 0 (endianness big)))
    (define (array n depth)
      (check-depth depth)
      (check-length n 1 "array")
      (let ((v (make-vector n)))
        (let loop ((i 0))
          (when (< i n)
            (vector-set! v i (value (+ depth 1)))
            (loop (+ i 1))))
        v))
    (define (entries n depth)
      (check-depth depth)
      (check-length n 2 "map")
      (define seen (and (> n 8) (make-hash-table n)))
      (let loop ((i 0) (acc '()))
        (if (= i n)
            (reverse! acc)
            (let* ((at pos) (key (value (+ depth 1))))
              (unless (string? key)
                (msgpack-fail at "map key must be a str, found ~s" key))
              (when (if seen (hash-ref seen key) (assoc key acc))
                (msgpack-fail at "duplicate map key ~s" key))
              (when seen (hash-set! seen key #t))
              (loop (+ i 1) (cons (cons key (value (+ depth 1))) acc))))))
    (define (check-depth depth)
      (when (> depth (msgpack-max-depth))
        (msgpack-fail pos "nesting deeper than ~a levels" (msgpack-max-depth))))
    (define (value depth)
      (let* ((at pos) (tag (u8)))
        (decode-tag tag at depth be signed blob text array entries float32 float64)))
    (let ((v (catch 'decoding-error
               (lambda () (value 1))
               (lambda _ (msgpack-fail text-start "str is not valid UTF-8")))))
      (values v pos))))

;;;
;;; Unpacking from a bytevector: reads in place, no copy per value.
;;;
;;; A payload that is already in memory is read where
;;; it lies: numbers straight from the bytevector, strings built from their bytes, and
;;; only bin values copied.  Every length is still checked against the bytes that are
;;; left before anything is allocated.  Map keys, the same handful of names in every
;;; reply, are interned: see `interned-key'.  A str of up to `scratch-max' bytes is
;;; copied into a kept bytevector of its exact length and decoded from there by
;;; utf8->string (in C), so only the string itself is allocated.

(define key-buckets 512)                ; a power of two
(define key-table (make-vector key-buckets '()))
(define key-count 0)
(define key-limit 2048)                 ; keys kept at most, so memory stays bounded
(define key-max-length 64)              ; longer keys are never interned

(define scratch-max 64)

(define (make-scratch)
  "Return a vector whose element N is a bytevector of N bytes, N up to `scratch-max'."
  (let ((v (make-vector (+ scratch-max 1))))
    (do ((n 0 (+ n 1))) ((> n scratch-max) v)
      (vector-set! v n (make-bytevector n)))))

(define (ascii-string bv at n)
  "Return the N bytes of BV at AT as a new string, or #f when one is not ASCII."
  (let ((text (make-string n)))
    (let loop ((i 0))
      (if (= i n)
          text
          (let ((byte (bytevector-u8-ref bv (+ at i))))
            (and (< byte 128)
                 (begin
                   (string-set! text i (integer->char byte))
                   (loop (+ i 1)))))))))

(define (utf8-string bv at n)
  "Return the N bytes of BV at AT decoded as UTF-8 (raising decoding-error if invalid)."
  (let ((bytes (make-bytevector n)))
    (bytevector-copy! bv at bytes 0 n)
    (utf8->string bytes)))

(define-inlinable (same-bytes? a b at n)
  "Return true when bytevector A, of length N, holds the N bytes of B at AT.
Compares eight bytes at a time, the last word overlapping the one before it, so a
key of 8 to 16 bytes takes two comparisons.  Guile compiles the native readers to
one instruction, which reads any index (keys in a payload are not aligned), and
keeps the words unboxed when they are only compared; a reader given an endianness
is a procedure call."
  (cond ((>= n 8)
         (let words ((i 0))
           (if (< (+ i 8) n)
               (and (= (bytevector-u64-native-ref a i) (bytevector-u64-native-ref b (+ at i)))
                    (words (+ i 8)))
               (= (bytevector-u64-native-ref a (- n 8))
                  (bytevector-u64-native-ref b (+ at (- n 8)))))))
        ((>= n 4)
         (and (= (bytevector-u32-native-ref a 0) (bytevector-u32-native-ref b at))
              (= (bytevector-u32-native-ref a (- n 4))
                 (bytevector-u32-native-ref b (+ at (- n 4))))))
        (else
         (let bytes ((i 0))
           (or (= i n)
               (and (= (bytevector-u8-ref a i) (bytevector-u8-ref b (+ at i)))
                    (bytes (+ i 1))))))))

;;; A key is found in the table by a hash of its length and its first and last four
;;; bytes (two reads, whatever its length), then compared with each entry of its
;;; bucket in full.  Only a key not found is checked for ASCII, byte by byte, before
;;; an entry is made for it: an entry's bytes are ASCII, so any key equal to them is.

(define-inlinable (key-hash bv at n)
  "Return a hash (a fixnum) of the N bytes of BV at AT, N at most `key-max-length'."
  (if (>= n 4)
      ;; Words in native order (see `same-bytes?'): the hash only picks a bucket.
      (+ n (* 8 (bytevector-u32-native-ref bv at))
         (* 3 (bytevector-u32-native-ref bv (+ at (- n 4)))))
      (let bytes ((i 0) (h n))
        (if (= i n)
            h
            (bytes (+ i 1) (+ (* h 257) (bytevector-u8-ref bv (+ at i))))))))

(define-inlinable (hash-bucket h)
  ;; Two-argument logxor compiles to one instruction; more arguments, to a call.
  (logand (logxor (logxor h (ash h -9)) (logxor (ash h -18) (ash h -27)))
          (- key-buckets 1)))

(define (all-ascii? bv at n)
  "Return true when none of the N bytes of BV at AT is above 127."
  (let words ((i 0))
    (if (<= (+ i 4) n)
        (and (zero? (logand (bytevector-u32-native-ref bv (+ at i)) #x80808080))
             (words (+ i 4)))
        (let bytes ((i i))
          (or (= i n)
              (and (< (bytevector-u8-ref bv (+ at i)) 128)
                   (bytes (+ i 1))))))))

;;; Key entries and the reader are vectors with named slots, not records: Guile 3.0.8
;;; checks a record accessor's type, field count and field layout at every call (some
;;; 17 VM instructions), a vector-ref only the index against the length (6).  The
;;; decoder reads a dozen of these slots per map entry; as vectors, a reply decodes
;;; in a fifth less time.

(define-syntax-rule (define-slots (index getter setter) ...)
  ;; GETTER and SETTER of slot INDEX of a vector, for each INDEX, inlined where used.
  (begin
    (begin
      (define-inlinable (getter v) (vector-ref v index))
      (define-inlinable (setter v value) (vector-set! v index value)))
    ...))

;; An interned key: its bytes, their hash, the shared string, and what a decoder
;; with a #:map-key made of it (CONVERTER and PREDICATE, the procedures it was made
;; with: the converted key and whether its str values become symbols).
(define-slots
  (1 key-entry-bytes set-key-entry-bytes!)
  (2 key-entry-hash set-key-entry-hash!)
  ;; One of 60 bits, chosen by the hash: two entries of the same key have the same bit,
  ;; so a map whose keys' bits are all different has no duplicate key.
  (3 key-entry-bit set-key-entry-bit!)
  (4 key-entry-key set-key-entry-key!)
  (5 key-entry-converter set-key-entry-converter!)
  (6 key-entry-predicate set-key-entry-predicate!)
  (7 key-entry-converted set-key-entry-converted!)
  (8 key-entry-symbol-valued? set-key-entry-symbol-valued?!)
  (9 key-entry-symbol set-key-entry-symbol!) ; the key as a symbol, once asked
  ;; The entry of the key read after this one the last time: the next key read is
  ;; most likely the same (see `read-key').
  (10 key-entry-next set-key-entry-next!)
  ;; The one read after it the time before that, which `next' replaced: the key of
  ;; the last item of an array of maps, or of a value with two usual choices, has
  ;; two usual successors.
  (11 key-entry-alternate set-key-entry-alternate!))

(define key-entry-tag
  ;; Slot 0 of every key entry, so that no decoded value (a map key may be an array)
  ;; is taken for one.
  (list 'key-entry))

(define-inlinable (key-entry? x)
  (and (vector? x) (= (vector-length x) 12) (eq? (vector-ref x 0) key-entry-tag)))

(define (make-key-entry bytes hash key converter predicate converted symbol-valued? symbol next
                        alternate)
  (vector key-entry-tag bytes hash (ash 1 (modulo hash 60)) key converter predicate converted
          symbol-valued? symbol next alternate))

(define (interned-entry bv at n)
  "Return the key entry of the ASCII string in the N bytes of BV at AT, or #f when
those bytes are not ASCII or N is above `key-max-length'.  The table is shared by
all threads: a race can at worst lose an entry, which is made again."
  (and (<= n key-max-length)
       (let* ((h (key-hash bv at n))
              (bucket (hash-bucket h))
              (entries (vector-ref key-table bucket)))
         (let find ((rest entries))
           (cond ((null? rest)
                  (and (all-ascii? bv at n)
                       ;; A symbol's name is a read-only string: nobody can change the
                       ;; shared copy under another caller.
                       (let* ((key (symbol->string (string->symbol (ascii-string bv at n))))
                              (bytes (make-bytevector n))
                              (entry (make-key-entry bytes h key #f #f #f #f #f #f #f)))
                         (bytevector-copy! bv at bytes 0 n)
                         (when (< key-count key-limit)
                           (set! key-count (+ key-count 1))
                           (vector-set! key-table bucket (cons entry entries)))
                         entry)))
                 ((let ((entry (car rest)))
                    (and (eqv? (key-entry-hash entry) h)
                         (= (bytevector-length (key-entry-bytes entry)) n)
                         (same-bytes? (key-entry-bytes entry) bv at n)))
                  (car rest))
                 (else (find (cdr rest))))))))

(define (interned-key bv at n)
  "Return the ASCII string in the N bytes of BV at AT as a shared, read-only string,
or #f when those bytes are not ASCII or N is above `key-max-length'."
  (let ((entry (interned-entry bv at n)))
    (and entry (key-entry-key entry))))

(define-inlinable (entry-conversion! entry map-key symbol-value?)
  "Return the key MAP-KEY makes of ENTRY's key, made once per MAP-KEY and
SYMBOL-VALUE?; `key-entry-symbol-valued?' then says what SYMBOL-VALUE? said of it."
  (if (and (eq? (key-entry-converter entry) map-key)
           (eq? (key-entry-predicate entry) symbol-value?))
      (key-entry-converted entry)
      (convert-entry! entry map-key symbol-value?)))

(define (convert-entry! entry map-key symbol-value?)
  "Make and keep the key MAP-KEY makes of ENTRY's key; see `entry-conversion!'."
  (let ((converted (map-key (key-entry-key entry))))
    ;; Another thread may convert at once: both write the same values.
    (set-key-entry-converter! entry #f)
    (set-key-entry-converted! entry converted)
    (set-key-entry-symbol-valued?! entry (and symbol-value? (symbol-value? converted) #t))
    (set-key-entry-predicate! entry symbol-value?)
    (set-key-entry-converter! entry map-key)
    converted))

;;; The bytevector decoder keeps what a call does not change in a reader (a vector of
;;; named slots) and its procedures at module level, so an unpack allocates no closures, only the
;;; values it returns and one handler that does not unwind (cheaper to set up than
;;; `catch'), which turns the decoding-error of invalid UTF-8 into a `&msgpack-error'.
;;; The position is not in the reader: each procedure takes it and returns two values,
;;; what it read and the position after it, so a position costs no slot access.

(define-slots                           ; of a reader, a vector (see `define-slots')
  (0 reader-bv set-reader-bv!)
  (1 reader-start set-reader-start!)
  (2 reader-end set-reader-end!)
  ;; The position after the value, once read: returned through the exception handler
  ;; as one value, since two would be passed on in a list.
  (3 reader-stop set-reader-stop!)
  (4 reader-max-depth set-reader-max-depth!)
  (5 reader-scratch set-reader-scratch!)
  ;; The offset of the str being decoded, for the error of invalid UTF-8.
  (6 reader-text-start set-reader-text-start!)
  (7 reader-map-key set-reader-map-key!)
  (8 reader-nil set-reader-nil!)
  (9 reader-lists? set-reader-lists?!)
  (10 reader-symbol-value? set-reader-symbol-value?!)
  ;; The entry of the last key read, `message-start' before the first, or #f.
  (11 reader-last-key set-reader-last-key!))

(define (make-reader)
  (let ((r (make-vector 12 #f)))
    (set-reader-scratch! r (make-scratch))
    r))

(define spare-reader
  ;; One reader, with its scratch bytevectors, taken by an unpack and given back when
  ;; it returns (an unpack that raises drops it); an unpack that finds none makes one.
  (make-atomic-box #f))

(define-inlinable (offset r pos) (- pos (reader-start r)))

(define-inlinable (need r pos n)
  "Fail unless N bytes are left at POS."
  (when (> (+ pos n) (reader-end r))
    (msgpack-fail (offset r pos) "truncated input: need ~a bytes, ~a left" n
                  (- (reader-end r) pos))))

(define-syntax-rule (number-at r pos width ref8 ref16 ref32 ref64)
  ;; The big-endian number of WIDTH bytes at POS, read with the REF of that width, and
  ;; the position after it.
  (let ((bv (reader-bv r)))
    (values (case width
              ((1) (ref8 bv pos))
              ((2) (ref16 bv pos (endianness big)))
              ((4) (ref32 bv pos (endianness big)))
              (else (ref64 bv pos (endianness big))))
            (+ pos width))))

(define (read-be r pos width)
  "Return the unsigned big-endian number of WIDTH bytes at POS and the position after it."
  (if (= width 1)                       ; a missing byte has its own message
      (when (>= pos (reader-end r))
        (msgpack-fail (offset r pos) "truncated input: need 1 more byte"))
      (need r pos width))
  (number-at r pos width bytevector-u8-ref bytevector-u16-ref bytevector-u32-ref
             bytevector-u64-ref))

(define (read-signed r pos width)
  "Return the signed big-endian number of WIDTH bytes at POS and the position after it."
  (need r pos width)
  (number-at r pos width bytevector-s8-ref bytevector-s16-ref bytevector-s32-ref
             bytevector-s64-ref))

(define (read-float32 r pos)
  (need r pos 4)
  (values (bytevector-ieee-single-ref (reader-bv r) pos (endianness big)) (+ pos 4)))

(define (read-float64 r pos)
  (need r pos 8)
  (values (bytevector-ieee-double-ref (reader-bv r) pos (endianness big)) (+ pos 8)))

(define-inlinable (check-length r pos n per-item what)
  "Fail unless N items of at least PER-ITEM bytes each can follow POS."
  (let ((limit (- (reader-end r) pos)))
    (when (> (* n per-item) limit)
      (msgpack-fail (offset r pos) "~a of length ~a but only ~a bytes can follow"
                    what n limit))))

(define-inlinable (check-depth r pos depth)
  (when (> depth (reader-max-depth r))
    (msgpack-fail (offset r pos) "nesting deeper than ~a levels" (reader-max-depth r))))

(define (text-at r at n)
  "Return the str of N bytes at AT, already checked to be there, as a new string."
  (set-reader-text-start! r (offset r at))
  (if (<= n scratch-max)
      (let ((bytes (vector-ref (reader-scratch r) n)))
        (bytevector-copy! (reader-bv r) at bytes 0 n)
        (utf8->string bytes))
      (utf8-string (reader-bv r) at n)))

(define (read-text r pos n)
  "Return the str of N bytes at POS and the position after it."
  (check-length r pos n 1 "str")
  (values (text-at r pos n) (+ pos n)))

(define (read-blob r pos n)
  (check-length r pos n 1 "bin")
  (let ((out (make-bytevector n)))
    (bytevector-copy! (reader-bv r) pos out 0 n)
    (values out (+ pos n))))

(define (read-array r pos n depth)
  "Return the array of N items at POS and the position after it."
  (check-depth r pos depth)
  (check-length r pos n 1 "array")
  (if (reader-lists? r)
      ;; Each item is added after the LAST one, so none are reversed at the end.
      (let loop ((i 0) (pos pos) (first #f) (last #f))
        (if (= i n)
            (values (or first '()) pos)
            (let-values (((item pos) (read-value r pos (+ depth 1))))
              (let ((pair (list item)))
                (when last (set-cdr! last pair))
                (loop (+ i 1) pos (or first pair) pair)))))
      (let ((v (make-vector n)))
        (let loop ((i 0) (pos pos))
          (if (= i n)
              (values v pos)
              (let-values (((item pos) (read-value r pos (+ depth 1))))
                (vector-set! v i item)
                (loop (+ i 1) pos)))))))

(define-inlinable (str-start r pos)
  "Return two values: the length of the str whose header is at POS and the position
of its first byte, or #f and POS when no str is there."
  (let ((tag (if (< pos (reader-end r)) (bytevector-u8-ref (reader-bv r) pos) -1)))
    (cond ((and (>= tag #xa0) (< tag #xc0)) (values (- tag #xa0) (+ pos 1)))
          ((= tag #xd9) (read-be r (+ pos 1) 1))
          ((= tag #xda) (read-be r (+ pos 1) 2))
          ((= tag #xdb) (read-be r (+ pos 1) 4))
          (else (values #f pos)))))

(define-inlinable (entry-of? entry bv at n)
  "Return ENTRY (a key entry or #f) when its key is the N bytes of BV at AT; else #f."
  (and entry
       (= (bytevector-length (key-entry-bytes entry)) n)
       (same-bytes? (key-entry-bytes entry) bv at n)
       entry))

(define-inlinable (predicted-entry previous bv at n)
  "Return the entry that followed PREVIOUS (a key entry, or #f when there is none)
last time, or the time before, when its key is the N bytes of BV at AT; else #f."
  (and previous
       (or (entry-of? (key-entry-next previous) bv at n)
           (entry-of? (key-entry-alternate previous) bv at n))))

(define message-start
  ;; The `previous' of the first key of a payload, so that key is predicted too.
  ;; Not in the table: no key is ever read as this entry.
  (make-key-entry (make-bytevector 0) 0 "" #f #f #f #f #f #f #f))

(define (read-interned r at n)
  "Return the key entry of the str of N bytes at AT, or #f when it is not interned.
Replies of a method have their keys, and often the symbol values among them, in the
same order every time, so the entry that followed the one read before (the reader's
last key) last time is compared first: a byte comparison instead of a hash, a bucket
and a comparison.  The one that followed it the time before is compared next, then
the table is searched: the entry found becomes the one that follows, and the one it
replaces the one before."
  (check-length r at n 1 "str")
  (let* ((bv (reader-bv r))
         (previous (reader-last-key r))
         (entry (or (predicted-entry previous bv at n)
                    (let ((found (interned-entry bv at n)))
                      ;; Another thread may set them at once: any entry is right,
                      ;; as a predicted entry is compared in full before it is used.
                      (when (and found previous)
                        (set-key-entry-alternate! previous (key-entry-next previous))
                        (set-key-entry-next! previous found))
                      found))))
    (set-reader-last-key! r entry)
    entry))

(define (read-key r pos depth)
  "Return the map key at POS and the position after it: a str as its key entry (a
string when it is not interned); anything else decoded as usual, so the error can
show it."
  (let-values (((n at) (str-start r pos)))
    (if n
        (values (or (read-interned r at n) (text-at r at n)) (+ at n))
        (read-value r pos depth))))

(define (read-symbol r pos depth)
  "Return the value at POS of a key whose str values come back as symbols, and the
position after it: an interned str needs no string of its own.  Any other value is
decoded as usual."
  (let-values (((n at) (str-start r pos)))
    (if n
        (let ((entry (read-interned r at n)))
          (values (cond ((not entry) (string->symbol (text-at r at n)))
                        ((key-entry-symbol entry))
                        (else (let ((symbol (string->symbol (key-entry-key entry))))
                                (set-key-entry-symbol! entry symbol)
                                symbol)))
                  (+ at n)))
        (read-value r pos depth))))

(define-inlinable (raw-key key)
  (if (key-entry? key) (key-entry-key key) key))

(define (key-taken? key sent count)
  "Return true when one of the first COUNT keys of the vector SENT (key entries or
strings) is KEY, a key entry or a string.  Two entries differ when their hashes do,
which spares most comparisons of the strings."
  (let ((text (raw-key key)))
    (let loop ((i 0))
      (and (< i count)
           (let ((other (vector-ref sent i)))
             (or (eq? other key)
                 (if (and (key-entry? key) (key-entry? other))
                     (and (eqv? (key-entry-hash other) (key-entry-hash key))
                          (string=? (key-entry-key other) text))
                     (string=? (raw-key other) text))
                 (loop (+ i 1))))))))

(define (read-entries r pos n depth)
  "Return the map of N entries at POS, as an alist, and the position after it."
  (check-depth r pos depth)
  (check-length r pos n 2 "map")
  (let* ((bv (reader-bv r))
         (end (reader-end r))
         (map-key (reader-map-key r))
         (symbol-value? (reader-symbol-value? r))
         ;; Duplicates are told by the keys as sent, whatever MAP-KEY makes of them:
         ;; in a hash table for a large map, else in a vector looked through.
         (seen (and (> n 8) (make-hash-table n)))
         (sent (and (not seen) (make-vector n #f))))
    ;; Each entry is added after the LAST one, so none are reversed at the end.
    ;; BITS: the bits of the key entries read so far.
    (let loop ((i 0) (pos pos) (first #f) (last #f) (bits 0))
      (if (= i n)
          (values (or first '()) pos)
          ;; Most keys are a fixstr, the one predicted from the previous key: that
          ;; case is tried here, with no call; `read-key' reads any other key.
          (let* ((size (- (if (< pos end) (bytevector-u8-ref bv pos) 0) #xa0))
                 (hit (and (>= size 0) (< size 32) (<= (+ pos 1 size) end)
                           (predicted-entry (reader-last-key r) bv (+ pos 1) size))))
            (when hit (set-reader-last-key! r hit))
            (let-values (((key next) (if hit
                                         (values hit (+ pos 1 size))
                                         (read-key r pos (+ depth 1)))))
              (let* ((entry (and (key-entry? key) key))
                     (text (if entry (key-entry-key entry) key))
                     (bit (if entry (key-entry-bit entry) 0)))
                (unless (string? text)
                  (msgpack-fail (offset r pos) "map key must be a str, found ~s" text))
                (when (if seen
                          (hash-ref seen text)
                          ;; Only a key whose bit was seen before can be taken already.
                          (and (or (not entry) (logtest bit bits))
                               (key-taken? key sent i)))
                  (msgpack-fail (offset r pos) "duplicate map key ~s" text))
                (if seen (hash-set! seen text #t) (vector-set! sent i key))
                (let* ((name (cond ((not map-key) text)
                                   (entry (entry-conversion! entry map-key symbol-value?))
                                   (else (map-key text))))
                       (symbols? (and symbol-value?
                                      (if entry
                                          (key-entry-symbol-valued? entry)
                                          (symbol-value? name)))))
                  (let-values (((value next) (if symbols?
                                                 (read-symbol r next (+ depth 1))
                                                 (read-value r next (+ depth 1)))))
                    (let ((pair (list (cons name value))))
                      (when last (set-cdr! last pair))
                      (loop (+ i 1) next (or first pair) pair (logior bits bit))))))))))))

(define (read-value r pos depth)
  "Return the value at POS and the position after it."
  (when (>= pos (reader-end r))
    (msgpack-fail (offset r pos) "truncated input: need 1 more byte"))
  (let ((tag (bytevector-u8-ref (reader-bv r) pos))
        (next (+ pos 1)))
    ;; The tags of a reply, most frequent first; the others in `read-rare'.
    (cond ((< tag #x80) (values tag next))
          ((< tag #x90) (read-entries r next (- tag #x80) depth))
          ((< tag #xa0) (read-array r next (- tag #x90) depth))
          ((< tag #xc0) (read-text r next (- tag #xa0)))
          ((= tag #xcb) (read-float64 r next))
          ((>= tag #xe0) (values (- tag 256) next))
          ((= tag #xc0) (values (reader-nil r) next))
          ((= tag #xc2) (values #f next))
          ((= tag #xc3) (values #t next))
          (else (read-rare r pos tag depth)))))

(define (read-rare r pos tag depth)
  "Return the value whose tag TAG, not one `read-value' reads, is at POS, and the
position after it."
  (let ((next (+ pos 1)))
    (define-syntax-rule (with-length width (n at) body)
      ;; BODY with N, the WIDTH-byte length after the tag, and AT, the position after it.
      (let-values (((n at) (read-be r next width))) body))
    (case tag
      ((#xc4) (with-length 1 (n at) (read-blob r at n)))
      ((#xc5) (with-length 2 (n at) (read-blob r at n)))
      ((#xc6) (with-length 4 (n at) (read-blob r at n)))
      ((#xca) (read-float32 r next))
      ((#xcc) (read-be r next 1))
      ((#xcd) (read-be r next 2))
      ((#xce) (read-be r next 4))
      ((#xcf) (with-length 8 (n at)
                (if (> n #x7fffffffffffffff)
                    (msgpack-fail (offset r pos) "uint64 ~a is above the int64 range" n)
                    (values n at))))
      ((#xd0) (read-signed r next 1))
      ((#xd1) (read-signed r next 2))
      ((#xd2) (read-signed r next 4))
      ((#xd3) (read-signed r next 8))
      ((#xd9) (with-length 1 (n at) (read-text r at n)))
      ((#xda) (with-length 2 (n at) (read-text r at n)))
      ((#xdb) (with-length 4 (n at) (read-text r at n)))
      ((#xdc) (with-length 2 (n at) (read-array r at n depth)))
      ((#xdd) (with-length 4 (n at) (read-array r at n depth)))
      ((#xde) (with-length 2 (n at) (read-entries r at n depth)))
      ((#xdf) (with-length 4 (n at) (read-entries r at n depth)))
      ((#xc1) (msgpack-fail (offset r pos) "reserved byte 0xc1"))
      (else (msgpack-fail (offset r pos) "ext type 0x~a is not part of the protocol"
                          (number->string tag 16))))))

(define (unpack-bytevector bv start end map-key nil lists? symbol-value?)
  "Decode the value of BV that begins at START, reading no byte at or after END.
Return two values: the value and the number of bytes it took."
  (let ((r (or (atomic-box-swap! spare-reader #f)
               (make-reader))))
    (set-reader-bv! r bv)
    (set-reader-start! r start)
    (set-reader-end! r end)
    (set-reader-max-depth! r (msgpack-max-depth))
    (set-reader-map-key! r map-key)
    (set-reader-nil! r nil)
    (set-reader-lists?! r lists?)
    (set-reader-symbol-value?! r (and map-key symbol-value?))
    (set-reader-last-key! r message-start)
    (let ((v (with-exception-handler
                 (lambda (condition)
                   (if (eq? (exception-kind condition) 'decoding-error)
                       (msgpack-fail (reader-text-start r) "str is not valid UTF-8")
                       (raise-exception condition)))
               (lambda ()
                 (let-values (((v pos) (read-value r start 1)))
                   (set-reader-stop! r pos)
                   v))))
          (used (- (reader-stop r) start)))
      (set-reader-bv! r #f)               ; keep no payload alive
      (atomic-box-set! spare-reader r)
      (values v used))))

(define-decoder (unpack-port* port)
  (lambda (port pos advance!)
    (let ((b (get-u8 port)))
      (when (eof-object? b)
        (msgpack-fail pos "truncated input: end of port"))
      (advance!)
      b))
  (lambda (port pos n)
    (let ((bv (if (zero? n) (make-bytevector 0) (get-bytevector-n port n))))
      (when (or (eof-object? bv) (< (bytevector-length bv) n))
        (msgpack-fail pos "truncated input: need ~a bytes, ~a left" n
                      (if (eof-object? bv) 0 (bytevector-length bv))))
      bv))
  (lambda (port pos) (msgpack-max-length)))

(define* (unpack bv #:key (start 0) (end (bytevector-length bv)) (trailing? #f)
                 (map-key #f) (nil msgpack-nil) (arrays 'vector) (symbol-value? #f))
  "Return the value encoded in bytevector BV between START and END.
Raise a `&msgpack-error' for truncated or invalid input, and for bytes left after
the value unless TRAILING? is true; then return two values, the value and the
offset where the rest begins.
The other keywords choose another representation as it is decoded, with nothing
built in between: MAP-KEY, a procedure, is applied to each map key (duplicates
are still told by the keys as sent); NIL is returned for nil; ARRAYS 'list makes
arrays lists; SYMBOL-VALUE?, a predicate on keys as MAP-KEY returns them, says
which keys have their str values returned as symbols (with MAP-KEY only)."
  (unless (<= 0 start end (bytevector-length bv))
    (msgpack-fail #f "range ~a..~a outside a bytevector of ~a bytes"
                  start end (bytevector-length bv)))
  (when (> (- end start) (msgpack-max-length))
    (msgpack-fail #f "payload of ~a bytes is larger than ~a" (- end start)
                  (msgpack-max-length)))
  (let-values (((value used) (unpack-bytevector bv start end map-key nil
                                                (eq? arrays 'list) symbol-value?)))
    (cond (trailing? (values value (+ start used)))
          ((< (+ start used) end)
           (msgpack-fail used "~a trailing bytes after the value"
                         (- end start used)))
          (else value))))

(define (unpack-from-port port)
  "Read one msgpack value from binary input PORT and return it.
Lengths are checked against `msgpack-max-length' before allocating."
  (let-values (((value used) (unpack-port* port)))
    value))

;;; msgpack.scm ends here
