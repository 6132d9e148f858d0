/* _sexp.c -- the S-expression reader of predictor.sexp, compiled.
 *
 * predictor.sexp holds the reference reader (a lexer made of one regular expression and a
 * parser with an explicit stack). This file reads the same grammar and returns the same Python
 * values, about ten times faster; predictor.sexp.iter_data uses it whenever it is built.
 *
 * Structure
 *   - The text is read as UTF-8 bytes (PyUnicode_AsUTF8AndSize: no copy for ASCII text).
 *     Python's tokens are recognised in the order of its pattern's alternatives: the
 *     one-line "short list" (name value) / (name . value), newline, brackets, strings,
 *     ; comments, #| |# comments, #;, #(, quote marks, and atoms.
 *   - A Reader object is an iterator yielding (line, datum) like the Python generator, with
 *     the same explicit stack: `frames` (one per open list, vector or quote mark, with the
 *     kind and line it opened on) over `items` (the elements read so far of every open list,
 *     one array; a frame knows where its own elements start). A '.' of a dotted list is a NULL
 *     item. Closing a frame moves its items into a new list, tuple or Dotted.
 *   - Atoms are cached per reader (token bytes -> value), as the Python reader caches them.
 *   - Values and errors that are simple to get exactly right are made here: symbols, decimal
 *     integers and floats, #t/#f, strings and their common escapes, every error of the
 *     parser's structure. The rest -- characters, keywords, rationals, +inf.0, #{...}#
 *     symbols, non-ASCII atoms, rare or bad escapes -- is handed to the Python reader's own
 *     _atom and _unescape functions (given to setup()), so those values and error messages are
 *     its own; this file only finds where such a token ends.
 *   - Errors are predictor.sexp.SexpError(message, line) with the Python reader's wording;
 *     tests/sexp/ compares both readers on generated, mutated and truncated texts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- objects handed over by predictor.sexp.setup() ----------------------------------- */

static PyObject *Symbol_type;      /* predictor.sexp.Symbol */
static PyObject *Dotted_type;      /* predictor.sexp.Dotted */
static PyObject *SexpError_type;   /* predictor.sexp.SexpError */
static PyObject *py_atom;          /* predictor.sexp._atom(token, line) */
static PyObject *py_unescape;      /* predictor.sexp._unescape(body, line) */
static PyObject *quote_symbols[4]; /* Symbol("quote"), ("quasiquote"), ("unquote"), ("unquote-splicing") */
static PyObject *head_name, *tail_name, *no_args;   /* "head", "tail", () */

/* Symbols by name, shared by every reader (a symbol is immutable): most texts use the same few
 * dozen names, and calling the Symbol class is the dearest part of reading a small text.
 * Emptied when it reaches SYMBOLS_MAX names, so odd inputs cannot grow it without bound. */
static PyObject *symbols;
#define SYMBOLS_MAX 65536

/* ---- character classes (of Python's re: \s is str.isspace) ---------------------------- */

enum { C_SPACE = 1, C_DELIM = 2, C_NOT_SYM = 4 };
static unsigned char ascii_class[128];

static void init_classes(void) {
    for (int c = 0; c < 128; c++)
        if (Py_UNICODE_ISSPACE(c)) ascii_class[c] |= C_SPACE | C_NOT_SYM;
    for (const char *d = "()[]\";"; *d; d++) ascii_class[(unsigned char)*d] |= C_DELIM | C_NOT_SYM;
    ascii_class['\''] |= C_NOT_SYM;            /* a'b is one atom (as in Guile), but no short list's */
    ascii_class['`'] |= C_NOT_SYM;
    ascii_class[','] |= C_NOT_SYM;
}

/* Decode the (valid) UTF-8 sequence at P, which starts with a byte >= 0x80; return its length. */
static inline int utf8_decode(const unsigned char *p, Py_UCS4 *cp) {
    unsigned char b = p[0];
    if (b < 0xE0) { *cp = ((Py_UCS4)(b & 0x1F) << 6) | (p[1] & 0x3F); return 2; }
    if (b < 0xF0) { *cp = ((Py_UCS4)(b & 0x0F) << 12) | ((Py_UCS4)(p[1] & 0x3F) << 6) | (p[2] & 0x3F); return 3; }
    *cp = ((Py_UCS4)(b & 0x07) << 18) | ((Py_UCS4)(p[1] & 0x3F) << 12) | ((Py_UCS4)(p[2] & 0x3F) << 6)
          | (p[3] & 0x3F);
    return 4;
}

/* Bytes of the whitespace character other than '\n' at P (which is < END), 0 if none. */
static inline int blank_len(const unsigned char *p) {
    if (*p < 0x80) return *p != '\n' && (ascii_class[*p] & C_SPACE);
    Py_UCS4 cp;
    int n = utf8_decode(p, &cp);
    return Py_UNICODE_ISSPACE(cp) ? n : 0;
}

/* End of the run of characters from P that are not whitespace nor in STOP (a class mask):
 * C_DELIM gives Python's atom token [^\s()\[\]";]+, C_NOT_SYM its symbol [^\s()\[\]";'`,]+.
 * Clears *ASCII when a non-ASCII character is passed over. */
static inline const unsigned char *run_end(const unsigned char *p, const unsigned char *end, int stop,
                                           int *ascii) {
    while (p < end) {
        unsigned char b = *p;
        if (b < 0x80) {
            if (ascii_class[b] & (C_SPACE | stop)) break;
            p++;
        } else {
            Py_UCS4 cp;
            int n = utf8_decode(p, &cp);
            if (Py_UNICODE_ISSPACE(cp)) break;
            *ascii = 0;
            p += n;
        }
    }
    return p;
}

/* ---- the atom cache: token bytes -> value (open addressing, keys point into the text) ---- */

typedef struct {
    const unsigned char *key;   /* NULL: empty slot */
    Py_ssize_t len;
    uint64_t hash;
    PyObject *value;            /* owned */
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;                /* capacity - 1 (capacity a power of two) */
    size_t used;
} Cache;

static inline uint64_t hash_bytes(const unsigned char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL;          /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

/* The slot holding KEY, or the empty slot where it would go. */
static Slot *cache_slot(Cache *c, const unsigned char *key, Py_ssize_t len, uint64_t hash) {
    size_t i = (size_t)hash & c->mask;
    for (;;) {
        Slot *s = &c->slots[i];
        if (s->key == NULL || (s->hash == hash && s->len == len && memcmp(s->key, key, (size_t)len) == 0))
            return s;
        i = (i + 1) & c->mask;
    }
}

/* Make room for one more entry (kept at most half full). 0, or -1 with MemoryError set. */
static int cache_reserve(Cache *c) {
    if (c->slots != NULL && (c->used + 1) * 2 <= c->mask + 1) return 0;
    size_t capacity = c->slots == NULL ? 256 : (c->mask + 1) * 2;
    Slot *old = c->slots;
    size_t old_capacity = old == NULL ? 0 : c->mask + 1;
    Slot *slots = PyMem_Calloc(capacity, sizeof(Slot));
    if (slots == NULL) { PyErr_NoMemory(); return -1; }
    c->slots = slots;
    c->mask = capacity - 1;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].key != NULL) *cache_slot(c, old[i].key, old[i].len, old[i].hash) = old[i];
    PyMem_Free(old);
    return 0;
}

static void cache_clear(Cache *c) {
    if (c->slots == NULL) return;
    for (size_t i = 0; i <= c->mask; i++) Py_XDECREF(c->slots[i].value);
    PyMem_Free(c->slots);
    c->slots = NULL;
    c->mask = 0;
    c->used = 0;
}

/* ---- the reader ------------------------------------------------------------------------ */

/* What a frame is; the order of the quote kinds is that of quote_symbols. */
enum { K_PAREN, K_BRACKET, K_VECTOR, K_QUOTE, K_QUASIQUOTE, K_UNQUOTE, K_SPLICING };
#define IS_QUOTE(kind) ((kind) >= K_QUOTE)
static const char *const kind_text[] = {"(", "[", "#("};

typedef struct {
    int kind;
    Py_ssize_t line;        /* where it opened */
    Py_ssize_t start;       /* index in items of its first element */
    Py_ssize_t ndots;       /* '.' markers among its elements */
    Py_ssize_t first_dot, last_dot;  /* their first and last index in items */
} Frame;

typedef struct {
    PyObject_HEAD
    PyObject *text;                  /* the str read; owns the bytes p points into */
    const unsigned char *p, *end;    /* the next byte to read, the end of the text */
    Py_ssize_t line;                 /* the current line (1-based, from start_line) */
    Py_ssize_t top_line;             /* where the top-level datum being read started */
    int done;                        /* the end (or an error) was reached */
    Frame *frames;                   /* open lists, vectors and quote marks, outermost first */
    Py_ssize_t nframes, frames_cap;
    PyObject **items;                /* elements of the open lists (owned; NULL is a '.') */
    Py_ssize_t nitems, items_cap;
    Py_ssize_t *skips;               /* nframes at each pending #; datum comment */
    Py_ssize_t nskips, skips_cap;
    Cache atoms;
} Reader;

/* Grow *BUF (of *CAP elements of SIZE bytes) to hold at least NEED. 0, or -1 with MemoryError. */
static int grow(void **buf, Py_ssize_t *cap, Py_ssize_t need, size_t size) {
    if (need <= *cap) return 0;
    Py_ssize_t capacity = *cap < 16 ? 16 : *cap;
    while (capacity < need) capacity *= 2;
    if ((size_t)capacity > PY_SSIZE_T_MAX / size) { PyErr_NoMemory(); return -1; }
    void *bigger = PyMem_Realloc(*buf, (size_t)capacity * size);
    if (bigger == NULL) { PyErr_NoMemory(); return -1; }
    *buf = bigger;
    *cap = capacity;
    return 0;
}

/* Raise SexpError(message, line), the message formatted as by PyUnicode_FromFormat. */
static void sexp_error(Py_ssize_t line, const char *format, ...) {
    va_list args;
    va_start(args, format);
    PyObject *message = PyUnicode_FromFormatV(format, args);
    va_end(args);
    if (message == NULL) return;
    PyObject *error = PyObject_CallFunction(SexpError_type, "On", message, line);
    Py_DECREF(message);
    if (error == NULL) return;
    PyErr_SetObject((PyObject *)Py_TYPE(error), error);
    Py_DECREF(error);
}

/* The error of a ')' or ']' (TOKEN) that does not close the innermost frame (Python's _close_error). */
static void close_error(Reader *r, char token) {
    if (r->nframes == 0) {
        sexp_error(r->line, "unexpected '%c' with no list open", token);
        return;
    }
    Frame *f = &r->frames[r->nframes - 1];
    if (IS_QUOTE(f->kind))
        sexp_error(r->line, "unexpected '%c' after a quote on line %zd", token, f->line);
    else
        sexp_error(r->line, "'%c' closes the '%s' opened on line %zd", token, kind_text[f->kind], f->line);
}

/* A str of N ASCII bytes. */
static PyObject *ascii_str(const unsigned char *s, Py_ssize_t n) {
    PyObject *str = PyUnicode_New(n, 127);
    if (str != NULL) memcpy(PyUnicode_DATA(str), s, (size_t)n);
    return str;
}

static PyObject *utf8_str(const unsigned char *s, Py_ssize_t n, int ascii) {
    return ascii ? ascii_str(s, n) : PyUnicode_DecodeUTF8((const char *)s, n, "strict");
}

/* ---- atoms --------------------------------------------------------------------------- */

enum { SHAPE_OTHER, SHAPE_INT, SHAPE_FLOAT };

/* Which of Python's patterns the ASCII token S matches: _INT [+-]?\d+ or _FLOAT
 * [+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?; *DIGITS gets the integer's digit count. */
static int number_shape(const unsigned char *s, Py_ssize_t n, Py_ssize_t *digits) {
    Py_ssize_t i = 0, whole = 0, fraction = 0, exponent = 0;
    if (s[i] == '+' || s[i] == '-') i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') { i++; whole++; }
    if (i == n && whole > 0) { *digits = whole; return SHAPE_INT; }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') { i++; fraction++; }
        if (whole == 0 && fraction == 0) return SHAPE_OTHER;
    } else if (whole == 0) {
        return SHAPE_OTHER;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') { i++; exponent++; }
        if (exponent == 0) return SHAPE_OTHER;
    }
    return i == n ? SHAPE_FLOAT : SHAPE_OTHER;
}

/* The value of an ASCII atom token when it is one made here (see the top of the file), or
 * NULL with no error set when Python's _atom should decide. */
static PyObject *ascii_atom(const unsigned char *s, Py_ssize_t n) {
    unsigned char first = s[0];
    if (first == '#') {
        if ((n == 2 && s[1] == 't') || (n == 5 && memcmp(s, "#true", 5) == 0)) Py_RETURN_TRUE;
        if ((n == 2 && s[1] == 'f') || (n == 6 && memcmp(s, "#false", 6) == 0)) Py_RETURN_FALSE;
        return NULL;
    }
    if ((first >= '0' && first <= '9') || ((first == '+' || first == '-' || first == '.') && n > 1)) {
        Py_ssize_t digits = 0;
        int shape = number_shape(s, n, &digits);
        if (shape == SHAPE_INT && digits <= 18) {
            long long value = 0;
            for (Py_ssize_t i = (first == '+' || first == '-'); i < n; i++) value = value * 10 + (s[i] - '0');
            return PyLong_FromLongLong(first == '-' ? -value : value);
        }
        if (shape == SHAPE_FLOAT && n < 64) {
            char buffer[64];
            memcpy(buffer, s, (size_t)n);
            buffer[n] = '\0';
            double value = PyOS_string_to_double(buffer, NULL, NULL);   /* as float() does */
            if (value == -1.0 && PyErr_Occurred()) return NULL;
            return PyFloat_FromDouble(value);
        }
        return NULL;            /* big integers, rationals, +inf.0, or a symbol such as 1+ */
    }
    PyObject *name = ascii_str(s, n);
    if (name == NULL) return NULL;
    PyObject *symbol = PyDict_GetItemWithError(symbols, name);     /* borrowed */
    if (symbol != NULL) {
        Py_DECREF(name);
        return Py_NewRef(symbol);
    }
    if (PyErr_Occurred() || (symbol = PyObject_CallOneArg(Symbol_type, name)) == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    if (PyDict_GET_SIZE(symbols) >= SYMBOLS_MAX) PyDict_Clear(symbols);
    int stored = PyDict_SetItem(symbols, name, symbol);
    Py_DECREF(name);
    if (stored < 0) { Py_DECREF(symbol); return NULL; }
    return symbol;
}

/* The value of the atom token S (N bytes; ASCII says whether it is all ASCII), cached. */
static PyObject *atom_value(Reader *r, const unsigned char *s, Py_ssize_t n, int ascii) {
    uint64_t hash = hash_bytes(s, n);
    if (r->atoms.slots != NULL) {
        Slot *slot = cache_slot(&r->atoms, s, n, hash);
        if (slot->key != NULL) return Py_NewRef(slot->value);
    }
    PyObject *value = ascii ? ascii_atom(s, n) : NULL;
    if (value == NULL) {
        if (PyErr_Occurred()) return NULL;
        PyObject *token = utf8_str(s, n, ascii);
        if (token == NULL) return NULL;
        PyObject *line = PyLong_FromSsize_t(r->line);
        if (line == NULL) { Py_DECREF(token); return NULL; }
        value = PyObject_CallFunctionObjArgs(py_atom, token, line, NULL);
        Py_DECREF(token);
        Py_DECREF(line);
        if (value == NULL) return NULL;
    }
    if (cache_reserve(&r->atoms) < 0) { Py_DECREF(value); return NULL; }
    Slot *slot = cache_slot(&r->atoms, s, n, hash);
    slot->key = s;
    slot->len = n;
    slot->hash = hash;
    slot->value = Py_NewRef(value);
    r->atoms.used++;
    return value;
}

/* ---- strings --------------------------------------------------------------------------- */

static inline int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Write the escapes of BODY (N bytes, every backslash followed by a character) resolved into
 * OUT (at least N bytes); return the length written, or -1 when an escape is one left to
 * Python's _unescape (unknown, bad, or a surrogate). Mirrors _ESCAPE and _SIMPLE_ESCAPES:
 * \xHH \uHHHH \UHHHHHH take exactly 2, 4, 6 hex digits and no ';' (Guile 3's default reader),
 * and are never longer than what they stand for in UTF-8. */
static Py_ssize_t unescape_into(const unsigned char *body, Py_ssize_t n, unsigned char *out) {
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        unsigned char b = body[i];
        if (b != '\\') { out[o++] = b; i++; continue; }
        unsigned char e = body[i + 1];
        switch (e) {
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case 'a': out[o++] = '\a'; break;
        case '0': out[o++] = '\0'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'v': out[o++] = '\v'; break;
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '|': out[o++] = '|'; break;
        case '(': out[o++] = '('; break;
        case '\n': break;                                   /* a line continuation */
        case 'x':
        case 'u':
        case 'U': {                                         /* exactly 2, 4 or 6 hex digits */
            Py_ssize_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 6, j = i + 2;
            Py_UCS4 cp = 0;
            if (n - j < digits) return -1;                  /* too few: Python words the error */
            for (; j < i + 2 + digits; j++) {
                int d = hex_digit(body[j]);
                if (d < 0) return -1;
                cp = cp * 16 + (Py_UCS4)d;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
            if (cp < 0x80) {
                out[o++] = (unsigned char)cp;
            } else if (cp < 0x800) {
                out[o++] = (unsigned char)(0xC0 | (cp >> 6));
                out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[o++] = (unsigned char)(0xE0 | (cp >> 12));
                out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (unsigned char)(0xF0 | (cp >> 18));
                out[o++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            }
            i = j;
            continue;
        }
        default:
            return -1;
        }
        i += 2;
    }
    return o;
}

/* The str of a string token's BODY (between the quotes; ESCAPED: it holds a backslash). */
static PyObject *string_value(const unsigned char *body, Py_ssize_t n, int ascii, int escaped,
                              Py_ssize_t line) {
    if (!escaped) return utf8_str(body, n, ascii);
    unsigned char small[256];
    unsigned char *out = n <= (Py_ssize_t)sizeof small ? small : PyMem_Malloc((size_t)n);
    if (out == NULL) return PyErr_NoMemory();
    Py_ssize_t length = unescape_into(body, n, out);
    PyObject *value;
    if (length >= 0) {
        value = PyUnicode_DecodeUTF8((const char *)out, length, "strict");
    } else {                                    /* Python's _unescape words the value or error */
        PyObject *text = utf8_str(body, n, ascii);
        PyObject *where = text == NULL ? NULL : PyLong_FromSsize_t(line);
        value = where == NULL ? NULL : PyObject_CallFunctionObjArgs(py_unescape, text, where, NULL);
        Py_XDECREF(text);
        Py_XDECREF(where);
    }
    if (out != small) PyMem_Free(out);
    return value;
}

/* ---- building lists -------------------------------------------------------------------- */

/* Dotted(HEAD, TAIL), taking both references. Made as Dotted.__init__ makes it -- a new
 * instance (Dotted.__new__) whose head and tail slots are set -- without running the Python
 * __init__, which cost as much as all the rest of reading a metadata alist. */
static PyObject *make_dotted(PyObject *head, PyObject *tail) {
    PyTypeObject *type = (PyTypeObject *)Dotted_type;
    PyObject *value = type->tp_new(type, no_args, NULL);
    if (value != NULL && (PyObject_SetAttr(value, head_name, head) < 0 || PyObject_SetAttr(value, tail_name, tail) < 0))
        Py_CLEAR(value);
    Py_DECREF(head);
    Py_DECREF(tail);
    return value;
}

/* A two-element list [A, B] or Dotted([A], B), taking both references (a short list's value). */
static PyObject *pair_value(PyObject *a, PyObject *b, int dotted) {
    PyObject *list = PyList_New(dotted ? 1 : 2);
    if (list == NULL) { Py_DECREF(a); Py_DECREF(b); return NULL; }
    PyList_SET_ITEM(list, 0, a);
    if (!dotted) {
        PyList_SET_ITEM(list, 1, b);
        return list;
    }
    return make_dotted(list, b);
}

/* A new list or tuple of the N references at SRC, moved (not copied). */
static PyObject *move_into(PyObject **src, Py_ssize_t n, int tuple) {
    PyObject *seq = tuple ? PyTuple_New(n) : PyList_New(n);
    if (seq == NULL) return NULL;
    PyObject **dst = tuple ? &PyTuple_GET_ITEM(seq, 0) : &PyList_GET_ITEM(seq, 0);
    if (n) memcpy(dst, src, (size_t)n * sizeof(PyObject *));
    return seq;
}

/* Close the innermost frame (a list or a vector): return its value, popping it and its items.
 * A list holding dots becomes a Dotted, or raises as Python's _finish_dotted does. */
static PyObject *close_frame(Reader *r) {
    Frame *f = &r->frames[r->nframes - 1];
    PyObject **items = r->items + f->start;
    Py_ssize_t n = r->nitems - f->start;
    PyObject *value;
    if (f->ndots == 0) {
        value = move_into(items, n, f->kind == K_VECTOR);
        if (value == NULL) return NULL;
    } else if (f->ndots == 1 && f->first_dot == r->nitems - 2 && n >= 3) {
        PyObject *head = move_into(items, n - 2, 0);
        if (head == NULL) return NULL;
        PyObject *tail = items[n - 1];              /* items[n - 2] is the dot (NULL) */
        r->nitems = f->start;
        r->nframes--;
        return make_dotted(head, tail);
    } else {
        if (f->last_dot == r->nitems - 1) sexp_error(r->line, "a dot with nothing after it");
        else sexp_error(r->line, "misplaced dot");
        return NULL;
    }
    r->nitems = f->start;
    r->nframes--;
    return value;
}

/* Open a frame of KIND at the current line; the text goes on at NEXT. */
static int open_frame(Reader *r, int kind, const unsigned char *next) {
    if (grow((void **)&r->frames, &r->frames_cap, r->nframes + 1, sizeof(Frame)) < 0) return -1;
    if (r->nframes == 0) r->top_line = r->line;
    Frame *f = &r->frames[r->nframes++];
    f->kind = kind;
    f->line = r->line;
    f->start = r->nitems;
    f->ndots = 0;
    f->first_dot = f->last_dot = -1;
    r->p = next;
    return 0;
}

static int push_item(Reader *r, PyObject *item) {
    if (grow((void **)&r->items, &r->items_cap, r->nitems + 1, sizeof(PyObject *)) < 0) return -1;
    r->items[r->nitems++] = item;
    return 0;
}

/* ---- the short list -------------------------------------------------------------------- */

/* At P (a '('), the one-line (name value) or (name . value) that Python's pattern reads as one
 * token (_SHORT_LIST): its value, with r->p moved past it; or NULL with no error set when the
 * text there is not one. It matters beyond speed: as one token it completes at the depth of
 * the '(' (which a pending #; datum comment can tell apart). */
static PyObject *short_list(Reader *r, const unsigned char *p) {
    const unsigned char *end = r->end, *q = p + 1;
    if (q >= end || *q == '.' || *q == '#' || (*q >= '0' && *q <= '9') || *q == '+' || *q == '-') return NULL;
    int name_ascii = 1;
    const unsigned char *name = q;
    q = run_end(q, end, C_NOT_SYM, &name_ascii);
    if (q == name || q >= end || *q != ' ') return NULL;
    Py_ssize_t name_len = q - name;
    q++;
    int dotted = 0;
    if (end - q >= 2 && q[0] == '.' && q[1] == ' ') { dotted = 1; q += 2; }
    if (q >= end) return NULL;

    enum { V_STRING, V_TRUE, V_FALSE, V_ATOM } kind;
    const unsigned char *second = q;
    Py_ssize_t second_len;
    int second_ascii = 1, escaped = 0;
    if (*q == '"') {                                    /* "..." with no newline, escapes allowed */
        second = ++q;
        while (q < end && *q != '"') {
            if (*q == '\n') return NULL;
            if (*q == '\\') {
                if (q + 1 >= end || q[1] == '\n') return NULL;
                escaped = 1;
                if (q[1] >= 0x80) second_ascii = 0;
                q += 2;
                continue;
            }
            if (*q >= 0x80) second_ascii = 0;
            q++;
        }
        if (q >= end) return NULL;
        second_len = q - second;
        q++;
        kind = V_STRING;
    } else if (*q == '#') {                             /* #t or #f right before the ')' */
        if (end - q < 3 || (q[1] != 't' && q[1] != 'f') || q[2] != ')') return NULL;
        kind = q[1] == 't' ? V_TRUE : V_FALSE;
        second_len = 2;
        q += 2;
    } else {                                            /* a symbol-character run not starting with '.' */
        if (*q == '.') return NULL;
        q = run_end(q, end, C_NOT_SYM, &second_ascii);
        if (q == second) return NULL;
        second_len = q - second;
        kind = V_ATOM;
    }
    if (q >= end || *q != ')') return NULL;
    r->p = q + 1;

    PyObject *key = atom_value(r, name, name_len, name_ascii);
    if (key == NULL) return NULL;
    PyObject *value;
    switch (kind) {
    case V_STRING: value = string_value(second, second_len, second_ascii, escaped, r->line); break;
    case V_TRUE: value = Py_NewRef(Py_True); break;
    case V_FALSE: value = Py_NewRef(Py_False); break;
    default: value = atom_value(r, second, second_len, second_ascii); break;
    }
    if (value == NULL) { Py_DECREF(key); return NULL; }
    return pair_value(key, value, dotted);
}

/* ---- the main loop --------------------------------------------------------------------- */

/* Stop reading for good (after an error or the end): release the stack. */
static void reader_stop(Reader *r) {
    r->done = 1;
    for (Py_ssize_t i = 0; i < r->nitems; i++) Py_XDECREF(r->items[i]);
    r->nitems = 0;
    r->nframes = 0;
    r->nskips = 0;
}

/* At the end of the text: the errors of what is left open, else StopIteration (NULL). */
static PyObject *reader_finish(Reader *r) {
    if (r->nframes > 0)
        sexp_error(r->line, "end of input inside the list opened on line %zd (%zd unclosed)",
                   r->frames[0].line, r->nframes);
    else if (r->nskips > 0)
        sexp_error(r->line, "#; with no datum after it");
    reader_stop(r);
    return NULL;
}

/* The next top-level (line, datum), NULL at the end (no error set) or on an error. */
static PyObject *reader_next(Reader *r) {
    if (r->done) return NULL;
    const unsigned char *end = r->end;
    for (;;) {
        const unsigned char *p = r->p;
        int n;
        while (p < end && (n = blank_len(p)) > 0) p += n;
        if (p >= end) { r->p = p; return reader_finish(r); }
        PyObject *value = NULL;
        unsigned char c = *p;
        switch (c) {
        case '\n':
            r->line++;
            r->p = p + 1;
            continue;
        case '(':
            value = short_list(r, p);
            if (value == NULL) {
                if (PyErr_Occurred() || open_frame(r, K_PAREN, p + 1) < 0) goto fail;
                continue;
            }
            if (r->nframes == 0) r->top_line = r->line;
            break;
        case '[':
            if (open_frame(r, K_BRACKET, p + 1) < 0) goto fail;
            continue;
        case ')':
        case ']': {
            r->p = p + 1;
            int kind = r->nframes > 0 ? r->frames[r->nframes - 1].kind : -1;
            if (c == ')' ? (kind != K_PAREN && kind != K_VECTOR) : kind != K_BRACKET) {
                close_error(r, (char)c);
                goto fail;
            }
            value = close_frame(r);
            if (value == NULL) goto fail;
            break;
        }
        case '"': {
            const unsigned char *q = p + 1;
            Py_ssize_t newlines = 0;
            int ascii = 1, escaped = 0;
            while (q < end && *q != '"') {
                if (*q == '\\') {
                    if (q + 1 >= end) break;
                    escaped = 1;
                    if (q[1] == '\n') newlines++;
                    else if (q[1] >= 0x80) ascii = 0;
                    q += 2;
                    continue;
                }
                if (*q == '\n') newlines++;
                else if (*q >= 0x80) ascii = 0;
                q++;
            }
            if (q >= end || *q != '"') {
                sexp_error(r->line, "unterminated string");
                goto fail;
            }
            value = string_value(p + 1, q - (p + 1), ascii, escaped, r->line);
            if (value == NULL) goto fail;
            if (r->nframes == 0) r->top_line = r->line;
            r->line += newlines;
            r->p = q + 1;
            break;
        }
        case ';': {
            const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
            r->p = eol == NULL ? end : eol;
            continue;
        }
        case '\'':
            if (open_frame(r, K_QUOTE, p + 1) < 0) goto fail;
            continue;
        case '`':
            if (open_frame(r, K_QUASIQUOTE, p + 1) < 0) goto fail;
            continue;
        case ',':
            if (p + 1 < end && p[1] == '@') {
                if (open_frame(r, K_SPLICING, p + 2) < 0) goto fail;
            } else if (open_frame(r, K_UNQUOTE, p + 1) < 0) {
                goto fail;
            }
            continue;
        case '#':
            if (p + 1 < end && p[1] == '|') {           /* #| ... |# (not nested), if closed */
                const unsigned char *q = p + 2, *close = NULL;
                while (q + 1 < end) {
                    const unsigned char *bar = memchr(q, '|', (size_t)(end - 1 - q));
                    if (bar == NULL) break;
                    if (bar[1] == '#') { close = bar; break; }
                    q = bar + 1;
                }
                if (close != NULL) {
                    for (const unsigned char *s = p; s < close; s++) r->line += *s == '\n';
                    r->p = close + 2;
                    continue;
                }                                       /* unclosed: an atom, and an error */
            } else if (p + 1 < end && p[1] == ';') {    /* #; skips the next datum at this depth */
                if (grow((void **)&r->skips, &r->skips_cap, r->nskips + 1, sizeof(Py_ssize_t)) < 0) goto fail;
                r->skips[r->nskips++] = r->nframes;
                r->p = p + 2;
                continue;
            } else if (p + 1 < end && p[1] == '(') {
                if (open_frame(r, K_VECTOR, p + 2) < 0) goto fail;
                continue;
            } else if (p + 1 < end && (p[1] == '{' || (end - p >= 4 && memcmp(p + 1, ":#{", 3) == 0))) {
                /* #{...}# (or the keyword #:#{...}#): up to the first }# not after a backslash,
                 * newlines included; with no }#, the token is the '#{' alone (an error). */
                const unsigned char *q = p + (p[1] == '{' ? 2 : 4), *close = NULL;
                Py_ssize_t newlines = 0;
                int ascii = 1;
                while (q < end) {
                    if (*q == '\\') {
                        if (q + 1 >= end) break;
                        q++;
                    } else if (*q == '}' && q + 1 < end && q[1] == '#') {
                        close = q;
                        break;
                    }
                    if (*q == '\n') newlines++;
                    else if (*q >= 0x80) ascii = 0;
                    q++;
                }
                const unsigned char *token_end = close != NULL ? close + 2 : p + (p[1] == '{' ? 2 : 4);
                value = atom_value(r, p, token_end - p, close != NULL ? ascii : 1);
                if (value == NULL) goto fail;
                if (r->nframes == 0) r->top_line = r->line;
                r->line += newlines;
                r->p = token_end;
                break;
            } else if (p + 2 < end && p[1] == '\\' && p[2] != '\n' && blank_len(p + 2) == 0) {
                /* #\ and a delimiter alone (#\( #\; #\"), or the rest of an atom (#\a #\space) */
                int ascii = 1;
                const unsigned char *q = p[2] < 0x80 && (ascii_class[p[2]] & C_DELIM) ? p + 3
                                         : run_end(p + 2, end, C_DELIM, &ascii);
                r->p = q;
                value = atom_value(r, p, q - p, ascii);
                if (value == NULL) goto fail;
                if (r->nframes == 0) r->top_line = r->line;
                break;
            }
            /* fall through - an atom starting with '#' */
        default: {
            int ascii = 1;
            const unsigned char *q = run_end(p, end, C_DELIM, &ascii);
            r->p = q;
            if (q - p == 1 && c == '.') {               /* the dot of a dotted list */
                Frame *f = r->nframes > 0 ? &r->frames[r->nframes - 1] : NULL;
                if (f == NULL || (f->kind != K_PAREN && f->kind != K_BRACKET)) {
                    sexp_error(r->line, "a dot outside a list");
                    goto fail;
                }
                if (push_item(r, NULL) < 0) goto fail;
                if (f->ndots++ == 0) f->first_dot = r->nitems - 1;
                f->last_dot = r->nitems - 1;
                continue;
            }
            value = atom_value(r, p, q - p, ascii);
            if (value == NULL) goto fail;
            if (r->nframes == 0) r->top_line = r->line;
            break;
        }
        }

        /* A datum is complete. Quote marks waiting for it wrap it: 'x is (quote x). */
        while (r->nframes > 0 && IS_QUOTE(r->frames[r->nframes - 1].kind)) {
            PyObject *quoted = PyList_New(2);
            if (quoted == NULL) { Py_DECREF(value); goto fail; }
            PyList_SET_ITEM(quoted, 0, Py_NewRef(quote_symbols[r->frames[r->nframes - 1].kind - K_QUOTE]));
            PyList_SET_ITEM(quoted, 1, value);
            value = quoted;
            r->nframes--;
        }
        if (r->nskips > 0 && r->skips[r->nskips - 1] == r->nframes) {   /* it was #;-commented out */
            r->nskips--;
            Py_DECREF(value);
            continue;
        }
        if (r->nframes == 0) {
            PyObject *line = PyLong_FromSsize_t(r->top_line);
            if (line == NULL) { Py_DECREF(value); goto fail; }
            PyObject *pair = PyTuple_New(2);
            if (pair == NULL) { Py_DECREF(line); Py_DECREF(value); goto fail; }
            PyTuple_SET_ITEM(pair, 0, line);
            PyTuple_SET_ITEM(pair, 1, value);
            return pair;
        }
        if (push_item(r, value) < 0) { Py_DECREF(value); goto fail; }
    }
fail:
    reader_stop(r);
    return NULL;
}

static void reader_dealloc(Reader *r) {
    reader_stop(r);
    PyMem_Free(r->frames);
    PyMem_Free(r->items);
    PyMem_Free(r->skips);
    cache_clear(&r->atoms);
    Py_XDECREF(r->text);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyTypeObject Reader_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "predictor._sexp.Reader",
    .tp_doc = "Iterator of the (line, datum) pairs of an S-expression text (see predictor.sexp.iter_data).",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)reader_next,
};

/* ---- module functions ------------------------------------------------------------------ */

/* reader(text, start_line): an iterator of text's (line, datum); None when the text cannot be
 * read as UTF-8 (lone surrogates), for the Python reader to take. */
static PyObject *sexp_reader(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (Symbol_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "predictor._sexp.setup() was not called");
        return NULL;
    }
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "reader(text: str, start_line: int)");
        return NULL;
    }
    Py_ssize_t start_line = PyLong_AsSsize_t(args[1]);
    if (start_line == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t size;
    const char *bytes = PyUnicode_AsUTF8AndSize(args[0], &size);
    if (bytes == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Reader *r = PyObject_New(Reader, &Reader_type);
    if (r == NULL) return NULL;
    r->text = Py_NewRef(args[0]);
    r->p = (const unsigned char *)bytes;
    r->end = r->p + size;
    r->line = r->top_line = start_line;
    r->done = 0;
    r->frames = NULL;
    r->nframes = r->frames_cap = 0;
    r->items = NULL;
    r->nitems = r->items_cap = 0;
    r->skips = NULL;
    r->nskips = r->skips_cap = 0;
    r->atoms = (Cache){NULL, 0, 0};
    return (PyObject *)r;
}

/* setup(Symbol, Dotted, SexpError, atom, unescape): the Python objects the reader makes and calls. */
static PyObject *sexp_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "setup(Symbol, Dotted, SexpError, atom, unescape)");
        return NULL;
    }
    static const char *const quote_names[4] = {"quote", "quasiquote", "unquote", "unquote-splicing"};
    PyObject *quotes[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        quotes[i] = PyObject_CallFunction(args[0], "s", quote_names[i]);
        if (quotes[i] == NULL) {
            for (int j = 0; j < i; j++) Py_DECREF(quotes[j]);
            return NULL;
        }
    }
    for (int i = 0; i < 4; i++) Py_XSETREF(quote_symbols[i], quotes[i]);
    Py_XSETREF(Symbol_type, Py_NewRef(args[0]));
    Py_XSETREF(Dotted_type, Py_NewRef(args[1]));
    Py_XSETREF(SexpError_type, Py_NewRef(args[2]));
    Py_XSETREF(py_atom, Py_NewRef(args[3]));
    Py_XSETREF(py_unescape, Py_NewRef(args[4]));
    if (symbols != NULL) PyDict_Clear(symbols);           /* names of an earlier Symbol class */
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"reader", (PyCFunction)(void (*)(void))sexp_reader, METH_FASTCALL,
     "reader(text, start_line) -> iterator of (line, datum), or None when text is not UTF-8 encodable."},
    {"setup", (PyCFunction)(void (*)(void))sexp_setup, METH_FASTCALL,
     "setup(Symbol, Dotted, SexpError, atom, unescape): the objects of predictor.sexp the reader uses."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sexp", "Compiled S-expression reader (see predictor.sexp).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sexp(void) {
    init_classes();
    if (PyType_Ready(&Reader_type) < 0) return NULL;
    if (symbols == NULL && (symbols = PyDict_New()) == NULL) return NULL;
    if (head_name == NULL && (head_name = PyUnicode_InternFromString("head")) == NULL) return NULL;
    if (tail_name == NULL && (tail_name = PyUnicode_InternFromString("tail")) == NULL) return NULL;
    if (no_args == NULL && (no_args = PyTuple_New(0)) == NULL) return NULL;
    return PyModule_Create(&module);
}
