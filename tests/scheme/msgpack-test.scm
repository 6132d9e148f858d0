;;; msgpack-test.scm -- the msgpack codec against every vector of protocol/vectors/msgpack.json

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (every append-map filter))
             (ice-9 format)
             ((ice-9 exceptions) #:select (exception-message))
             (ice-9 threads)
             (rnrs bytevectors)
             ((rnrs io ports) #:select (open-bytevector-input-port))
             (test-support)
             (deploy-ledger plugins ml-predictor msgpack))

(start-suite "msgpack")

(define (bytevector-head bv n)
  "Return the first N bytes of BV as a new bytevector."
  (let ((out (make-bytevector n)))
    (bytevector-copy! bv 0 out 0 n)
    out))

(define (refused? thunk)
  (catch #t
    (lambda () (thunk) #f)
    (lambda (key . args)
      (and (eq? key '%exception) (msgpack-error? (car args))))))

(for-each-vector (case "msgpack.json")
  (let ((name (assoc-ref case "name"))
        (bytes (hex->bytevector (assoc-ref case "hex"))))
    (if (assoc-ref case "reject")
        (test-assert (string-append "reject: " name)
          (refused? (lambda () (unpack bytes))))
        (let ((value (tagged->value (assoc-ref case "value"))))
          (test-equal (string-append "encode: " name)
            (assoc-ref case "hex")
            (bytevector->hex (pack value)))
          (test-equal (string-append "decode: " name)
            value
            (unpack bytes))
          (test-equal (string-append "decode from port: " name)
            value
            (unpack-from-port (open-bytevector-input-port bytes)))
          (for-each (lambda (other)
                      (test-equal (string-append "decode accepted " other ": " name)
                        value
                        (unpack (hex->bytevector other))))
                    (vector->list (assoc-ref case "accept")))))))

(test-group "packing choices of the Scheme representation"
  (test-equal "symbols pack as str" "a3616263" (bytevector->hex (pack 'abc)))
  (test-equal "symbol keys pack as str keys" "81a16101" (bytevector->hex (pack '((a . 1)))))
  (test-equal "exact rationals pack as float64" "cb3fe0000000000000" (bytevector->hex (pack 1/2)))
  (test-equal "hash tables pack in key order, not hash order"
    "83a16101a16202a16303"
    (let ((table (make-hash-table)))
      (for-each (lambda (key value) (hash-set! table key value)) '("c" "a" "b") '(3 1 2))
      (bytevector->hex (pack table))))
  (test-assert "integers beyond int64 are refused"
    (refused? (lambda () (pack (expt 2 63)))))
  (test-assert "a procedure cannot be packed"
    (refused? (lambda () (pack car))))
  (test-assert "an improper alist cannot be packed"
    (refused? (lambda () (pack '(("a" . 1) . 5)))))
  (test-assert "packing nests no deeper than the limit"
    (refused? (lambda ()
                (pack (let loop ((n 40)) (if (zero? n) 0 (vector (loop (- n 1))))))))))

(test-group "bounds"
  (test-assert "a str length beyond the input is refused before allocating"
    (refused? (lambda () (unpack (hex->bytevector "dbffffffff61")))))
  (test-assert "a payload above msgpack-max-length is refused"
    (refused? (lambda ()
                (parameterize ((msgpack-max-length 4))
                  (unpack (pack "0123456789"))))))
  (test-assert "a port length above msgpack-max-length is refused"
    (refused? (lambda ()
                (parameterize ((msgpack-max-length 4))
                  (unpack-from-port (open-bytevector-input-port (pack "0123456789")))))))
  (test-equal "trailing? returns the value and where the rest begins"
    '(1 1)
    (call-with-values (lambda () (unpack (hex->bytevector "0102") #:trailing? #t)) list))
  (test-equal "a large bin survives the round trip"
    200000
    (bytevector-length (unpack (pack (make-bytevector 200000 7)))))
  (test-equal "the error names the offset of the bad byte"
    2
    (catch #t
      (lambda () (unpack (hex->bytevector "9201c1")))
      (lambda (key exn) (msgpack-error-offset exn)))))

;; A map shaped like a predict reply's result, used for the allocation budget below.
(define reply-like
  `(("deployment_id" . "bench-1") ("base_rate" . 0.12) ("model_version" . "failure-20261202T060416Z")
    ("failure_probability" . 0.107) ("risk_level" . "medium") ("abstained" . #f)
    ("factors" . ,(make-vector 5 '(("feature" . "past_outcomes") ("value" . 60.0)
                                   ("contribution" . 0.64)
                                   ("description" . "60 finished deployments of the service so far raises the risk"))))
    ("similar_deployments" . ,(make-vector 3 '(("id" . "dep-0000303") ("service" . "inventory")
                                               ("version" . "6.1.3") ("environment" . "production")
                                               ("deployment_type" . "canary") ("status" . "success")
                                               ("started" . 1769005504.0) ("similarity" . 0.0922))))))

(define (allocated-by thunk n)
  "Return the bytes allocated on the GC heap per call of THUNK, over N calls."
  (thunk)
  (let ((before (assq-ref (gc-stats) 'heap-total-allocated)))
    (do ((i 0 (+ i 1))) ((= i n)) (thunk))
    (/ (- (assq-ref (gc-stats) 'heap-total-allocated) before) n)))

(test-group "unpacking a bytevector in place"
  (let ((a (unpack (pack '(("risk_level" . "low")))))
        (b (unpack (pack '(("risk_level" . "high"))))))
    (test-equal "the keys of two payloads are equal" (caar a) (caar b))
    (test-assert "and are the same interned string" (eq? (caar a) (caar b)))
    (test-assert "which is read-only, so no caller can change it under another"
      (catch #t (lambda () (string-set! (caar a) 0 #\x) #f) (lambda _ #t)))
    (test-equal "and still reads back" "risk_level" (caar b)))
  (let ((long-key (make-string 100 #\k)))
    (test-equal "a long key (not interned) and non-ASCII keys decode"
      `((,long-key . 1) ("clé" . 2) ("ключ" . 3) ("k" . 4))
      (unpack (pack `((,long-key . 1) ("clé" . 2) ("ключ" . 3) ("k" . 4))))))
  (test-equal "keys differing only in their last word or byte are told apart"
    '(("abcdefgh" . 1) ("abcdefgi" . 2) ("abcdefghi" . 3) ("abcdefghj" . 4))
    (unpack (pack '(("abcdefgh" . 1) ("abcdefgi" . 2) ("abcdefghi" . 3) ("abcdefghj" . 4)))))
  (for-each
   (lambda (n)
     (let ((ascii (make-string n #\a))
           (accented (string-append (make-string (max 0 (- n 2)) #\a) "é")))
       (test-equal (format #f "strings of ~a bytes, ASCII or not, round-trip" n)
         (list ascii accented)
         (vector->list (unpack (pack (vector ascii accented)))))))
   '(0 1 15 16 17 40))
  (for-each
   (lambda (n header)
     ;; The ASCII fast path writes its header after the chars: each width at its edges.
     (test-equal (format #f "an ASCII str of ~a bytes has the header ~a" n header)
       (list header n)
       (let ((packed (pack (make-string n #\a))))
         (list (bytevector->hex (bytevector-head packed (quotient (string-length header) 2)))
               (string-length (unpack packed))))))
   '(31 32 255 256 65535 65536)
   '("bf" "d920" "d9ff" "da0100" "daffff" "db00010000"))
  (test-equal "a str packed once and copied in with pack-raw! gives pack's bytes"
    (bytevector->hex (pack (vector "deployment" "clé" "deployment")))
    (let ((packer (make-packer 4))
          (key (packed-string "deployment")))
      (pack-array-header! packer 3)
      (pack-raw! packer key)
      (pack-raw! packer (packed-string "clé"))
      (pack-raw! packer key)
      (bytevector->hex (packer-contents packer))))
  (let ((orders '((("p" . 1) ("q" . 2) ("r" . 3))
                  (("q" . 1) ("p" . 2) ("r" . 3))
                  (("p" . 1) ("qq" . 2) ("r" . 3))
                  (("p" . 1) ("q" . #((("r" . 1) ("p" . 2)))) ("r" . 3)))))
    ;; Each key is first compared with the one that followed the previous key last
    ;; time: keys in another order, or of another length, are still read right.
    (test-equal "maps whose keys change order from one payload to the next decode"
      (append orders orders)
      (map (lambda (value) (unpack (pack value))) (append orders orders)))
    (test-assert "a duplicate of the key predicted from the previous one is refused"
      (begin
        (unpack (pack '(("x" . 1) ("y" . 2) ("z" . 3))))
        (refused? (lambda () (unpack (hex->bytevector "83a17801a17902a17903"))))))
    (test-equal "and so is one after it, with a #:map-key"
      #t
      (begin
        (unpack (pack '(("x" . 1) ("y" . 2) ("z" . 3))) #:map-key string->symbol)
        (refused? (lambda () (unpack (hex->bytevector "83a17801a17902a17802")
                                     #:map-key string->symbol))))))
  (let ((payloads
         ;; "k" followed by two keys in turn, then by a third; arrays of maps whose
         ;; last key is followed by the next item's first key or by the outer map's
         ;; next key; and first keys that change from one payload to the next.
         '((("k" . 1) ("m" . 2)) (("k" . 1) ("n" . 2)) (("k" . 1) ("m" . 2))
           (("k" . 1) ("n" . 2)) (("k" . 1) ("o" . 2)) (("k" . 1) ("m" . 2))
           (("k" . 1) ("n" . 2)) (("k" . 1))
           (("l" . #((("a" . 1) ("b" . 2)) (("a" . 3) ("b" . 4)))) ("b" . 5) ("k" . 6))
           (("m" . 1) ("k" . "n") ("status" . "failed") ("o" . 2))
           (("m" . 1) ("k" . "m") ("status" . "succeeded") ("o" . 2))
           (("m" . 1) ("k" . "o") ("status" . "rolled_back") ("o" . 2)))))
    ;; A key is compared with the two that followed the previous key the last two
    ;; times, and the first key of a payload with the first keys of the last ones.
    (test-equal "keys with two or more usual successors decode"
      (append payloads payloads payloads)
      (map (lambda (value) (unpack (pack value))) (append payloads payloads payloads)))
    (test-equal "and so do they with a #:map-key and symbol values"
      (map (lambda (value)
             (let convert ((value value))
               (cond ((vector? value) (map convert (vector->list value)))
                     ((pair? value)
                      (map (lambda (entry)
                             (let ((key (string->symbol (car entry))))
                               (cons key
                                     (if (and (memq key '(k status)) (string? (cdr entry)))
                                         (string->symbol (cdr entry))
                                         (convert (cdr entry))))))
                           value))
                     (else value))))
           (append payloads payloads))
      (map (lambda (value)
             (unpack (pack value) #:map-key string->symbol #:arrays 'list
                     #:symbol-value? (lambda (key) (memq key '(k status)))))
           (append payloads payloads))))
  (test-assert "a duplicate of the key predicted second from the previous one is refused"
    (begin
      (unpack (pack '(("x" . 1) ("y" . 2))))
      (unpack (pack '(("x" . 1) ("z" . 2))))
      (and (refused? (lambda () (unpack (hex->bytevector "83a17901a17802a17903"))))
           (refused? (lambda () (unpack (hex->bytevector "83a17901a17802a17903")
                                        #:map-key string->symbol))))))
  (test-assert "invalid UTF-8 in a short str is refused"
    (refused? (lambda () (unpack (hex->bytevector "a2c328")))))
  (test-assert "invalid UTF-8 in a long str is refused"
    (refused? (lambda () (unpack (hex->bytevector "b4616161616161616161616161616161616161c328")))))
  (test-assert "invalid UTF-8 in a map key is refused"
    (refused? (lambda () (unpack (hex->bytevector "81a2c32801")))))
  (test-assert "a non-str map key is refused"
    (refused? (lambda () (unpack (hex->bytevector "810101")))))
  (test-assert "a duplicate interned key is refused"
    (refused? (lambda () (unpack (hex->bytevector "82a16101a16102")))))
  (let* ((long-key (make-string 70 #\k))      ; above the interned length
         (payload (lambda (keys) (pack (map (lambda (key) (cons key 1)) keys)))))
    (for-each
     (lambda (keys)
       (test-assert (format #f "duplicate keys among interned and long keys are refused: ~a"
                            (map string-length keys))
         (and (refused? (lambda () (unpack (payload keys))))
              (refused? (lambda () (unpack (payload keys) #:map-key string->symbol))))))
     (list (list long-key "a" long-key) (list "a" long-key "a") (list "b" "a" "c" "a"))))
  (let* ((bit (lambda (key)               ; the duplicate-check bit of KEY's entry
                (let ((bytes (string->utf8 key)))
                  ((@@ (deploy-ledger plugins ml-predictor msgpack) key-entry-bit)
                   ((@@ (deploy-ledger plugins ml-predictor msgpack) interned-entry)
                    bytes 0 (bytevector-length bytes))))))
         (keys (map (lambda (n) (string-append "key-" (number->string n))) (iota 200)))
         (bits (map bit keys))
         ;; Pairs of distinct keys with the same bit, each made into a map of 8 keys.
         (pairs (let find ((rest keys) (rest-bits bits) (out '()))
                  (if (or (null? rest) (= (length out) 20))
                      out
                      (let ((twin (let look ((k (cdr rest)) (b (cdr rest-bits)))
                                    (cond ((null? k) #f)
                                          ((= (car b) (car rest-bits)) (car k))
                                          (else (look (cdr k) (cdr b)))))))
                        (find (cdr rest) (cdr rest-bits)
                              (if twin (cons (list (car rest) twin) out) out))))))
         (group (lambda (pair)
                  (append (list (car pair))
                          (list-head (filter (lambda (key) (not (member key pair))) keys) 6)
                          (list (cadr pair)))))
         (as-map (lambda (keys) (map (lambda (key) (cons key 1)) keys))))
    ;; A map's keys are checked for duplicates by one of 60 bits per key; keys that
    ;; share a bit are compared in full.
    (test-equal "20 pairs of keys sharing a bit are found among 200 keys" 20 (length pairs))
    (test-equal "maps of 8 distinct keys, two of which share a bit, decode"
      (map (lambda (pair) (as-map (group pair))) pairs)
      (map (lambda (pair) (unpack (pack (as-map (group pair))))) pairs))
    (test-assert "and each is refused with its first key repeated in place of its last"
      (every (lambda (pair)
               (let ((keys (group pair)))
                 (refused? (lambda ()
                             (unpack (pack (as-map (append (list-head keys 7)
                                                           (list (car keys))))))))))
             pairs)))
  (let ((variants
         ;; For each length from 1 to 20, a key and the same key with one byte changed,
         ;; at each position: keys are compared a word at a time, the last word
         ;; overlapping, so every byte must still count.
         (append-map (lambda (n)
                       (let ((key (list->string (map (lambda (i) (integer->char (+ 97 (modulo i 26))))
                                                     (iota n)))))
                         (map (lambda (j)
                                (let ((other (string-copy key)))
                                  (string-set! other j #\Z)
                                  (list key other)))
                              (iota n))))
                     (iota 20 1))))
    (test-assert "a key that differs from the predicted one in any one byte is read as itself"
      (every (lambda (pair)
               (let ((key (car pair)) (other (cadr pair)))
                 ;; The key after "p" is predicted to be KEY, then OTHER comes.
                 (unpack (pack `(("p" . 1) (,key . 2))))
                 (unpack (pack `(("p" . 1) (,key . 2))))
                 (equal? `(("p" . 1) (,other . 2)) (unpack (pack `(("p" . 1) (,other . 2)))))))
             variants)))
  (test-equal "a truncated uint16 is refused at the offset of its bytes"
    2
    (catch #t
      (lambda () (unpack (hex->bytevector "91cd01")))
      (lambda (key exn) (msgpack-error-offset exn))))
  (test-equal "numbers of every width decode in place"
    '(255 65535 4294967295 9223372036854775807 -128 -32768 -2147483648 -9223372036854775808 1.5 0.25)
    (vector->list
     (unpack (pack (vector 255 65535 4294967295 9223372036854775807 -128 -32768 -2147483648
                           -9223372036854775808 1.5 0.25)))))
  (test-equal "a float32 decodes" 1.5 (unpack (hex->bytevector "ca3fc00000")))
  (for-each
   (lambda (case)
     ;; Each refusal of the bytevector decoder, with the offset and message it gives
     ;; (each branch of the decoder checks its own bounds).
     (let ((hex (car case)) (expected (cdr case)))
       (test-equal (string-append "refused with its offset and message: " hex)
         expected
         (catch #t
           (lambda () (unpack (hex->bytevector hex)) 'accepted)
           (lambda (key exn) (list (msgpack-error-offset exn) (exception-message exn)))))))
   `(("c1" 0 "msgpack: at byte 0: reserved byte 0xc1")
     ("91c1" 1 "msgpack: at byte 1: reserved byte 0xc1")
     ("d9" 1 "msgpack: at byte 1: truncated input: need 1 more byte")
     ("d90561" 2 "msgpack: at byte 2: str of length 5 but only 1 bytes can follow")
     ("da00" 1 "msgpack: at byte 1: truncated input: need 2 bytes, 1 left")
     ("81a36162" 2 "msgpack: at byte 2: str of length 3 but only 2 bytes can follow")
     ("81d903616263" 6 "msgpack: at byte 6: truncated input: need 1 more byte")
     ("cb3ff0" 1 "msgpack: at byte 1: truncated input: need 8 bytes, 2 left")
     ("dc000501" 3 "msgpack: at byte 3: array of length 5 but only 1 bytes can follow")
     ("810101" 1 "msgpack: at byte 1: map key must be a str, found 1")
     ("8191a16101" 1 "msgpack: at byte 1: map key must be a str, found #(\"a\")")
     ;; Key entries are vectors of 12 slots inside the decoder: an array key of 12
     ;; items is still no str.
     ("819c000102030405060708090a0b01" 1
      "msgpack: at byte 1: map key must be a str, found #(0 1 2 3 4 5 6 7 8 9 10 11)")
     ("82a16101a16102" 4 "msgpack: at byte 4: duplicate map key \"a\"")
     ("a2c328" 1 "msgpack: at byte 1: str is not valid UTF-8")
     ("91a2c328" 2 "msgpack: at byte 2: str is not valid UTF-8")
     ("81a2c32801" 2 "msgpack: at byte 2: str is not valid UTF-8")
     ("cfffffffffffffffff" 0 "msgpack: at byte 0: uint64 18446744073709551615 is above the int64 range")
     ("d40000" 0 "msgpack: at byte 0: ext type 0xd4 is not part of the protocol")
     ("0102" 1 "msgpack: at byte 1: 1 trailing bytes after the value")
     ("81a16101a161" 4 "msgpack: at byte 4: 2 trailing bytes after the value")
     ("c4" 1 "msgpack: at byte 1: truncated input: need 1 more byte")
     ("c40301" 2 "msgpack: at byte 2: bin of length 3 but only 1 bytes can follow")
     ("8f" 1 "msgpack: at byte 1: map of length 15 but only 0 bytes can follow")
     ("de0001" 3 "msgpack: at byte 3: map of length 1 but only 0 bytes can follow")
     ("91" 1 "msgpack: at byte 1: array of length 1 but only 0 bytes can follow")
     ("81a161" 3 "msgpack: at byte 3: truncated input: need 1 more byte")
     ("d1ff" 1 "msgpack: at byte 1: truncated input: need 2 bytes, 1 left")
     ("ca00" 1 "msgpack: at byte 1: truncated input: need 4 bytes, 1 left")
     ("82a16101a26101" 7 "msgpack: at byte 7: truncated input: need 1 more byte")
     (,(string-append (string-join (make-list 33 "91") "") "01")
      33 "msgpack: at byte 33: nesting deeper than 32 levels")
     (,(string-append (string-join (make-list 33 "81a161") "") "01")
      97 "msgpack: at byte 97: nesting deeper than 32 levels")))
  (test-equal "a key cut by #:end is refused as cut, even when it is the key predicted"
    ;; The predicted key is compared in place: the bytes after END must not count.
    '(2 "msgpack: at byte 2: str of length 3 but only 2 bytes can follow")
    (let ((payload (pack '(("abc" . 1)))))
      (unpack payload)
      (unpack payload)
      (catch #t
        (lambda () (unpack payload #:end 4))
        (lambda (key exn) (list (msgpack-error-offset exn) (exception-message exn))))))
  (test-equal "threads packing and unpacking at once never share a buffer"
    '(#t #t #t #t)
    ;; pack's spare buffer and unpack's scratch bytevectors go to one thread at a time.
    (map join-thread
         (map (lambda (t)
                (call-with-new-thread
                 (lambda ()
                   ;; Strings of the same lengths in every thread, with different bytes.
                   (let ((value (make-vector 200 (make-string 20 (integer->char (+ 96 t))))))
                     (let loop ((i 0))
                       (or (= i 300)
                           (and (equal? value (unpack (pack value)))
                                (loop (+ i 1)))))))))
              '(1 2 3 4))))
  (let* ((payload (pack reply-like))
         (bytes (allocated-by (lambda () (unpack payload)) 200)))
    ;; 13.9 KB per such reply when every str and float went through a copied bytevector.
    (test-assert (format #f "a predict-sized reply (~a bytes) allocates under 7 KB to unpack (~a)"
                         (bytevector-length payload) (round bytes))
      (< bytes 7000)))
  (let* ((payload (pack reply-like))
         (plain (allocated-by (lambda () (unpack payload)) 200))
         (converted (allocated-by (lambda ()
                                    (unpack payload #:map-key string->symbol #:nil #f
                                            #:arrays 'list
                                            #:symbol-value? (lambda (key) (eq? key 'risk_level))))
                                  200)))
    ;; Lists for vectors, keys and symbols made once: no more than the plain form, give or
    ;; take the measurement's own noise (~100 bytes a call; an inlined helper once made the
    ;; loop over map entries allocate 1.8 KB more).
    (test-assert (format #f "decoding it straight into another form allocates no more than the plain form (~a, ~a)"
                         (round converted) (round plain))
      (<= converted (+ plain 512))))
  (let ((bytes (allocated-by (lambda () (pack reply-like)) 200)))
    (test-assert (format #f "packing it allocates under 2.5 KB (~a)" (round bytes))
      (< bytes 2500))))

(test-end "msgpack")
