/* _wirecheck.c -- a fast yes for well-formed protocol payloads.
 *
 * predictor.protocol.decode checks every payload against the msgpack profile of
 * protocol/SPEC.md section 3: exactly one value, no reserved byte 0xc1, no ext types, map
 * keys are str and unique, integers fit int64, containers nest at most MAX_DEPTH levels. In
 * Python those checks cost more than the decoding itself (a callback per map, a walk over
 * every value). `profile_ok(data, max_depth)` scans the bytes once and answers True only
 * when all of them hold; the caller then decodes without the Python checks. Any other
 * answer (False) sends the payload down the full Python path, which finds the problem and
 * words the error, so this scan never changes what is accepted or how a refusal reads.
 * UTF-8 validity is left to msgpack's own decoder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end;
    long max_depth;
} Scan;

/* Read a big-endian unsigned integer of N bytes; 0 when fewer remain. */
static int take(Scan *s, int n, uint64_t *out) {
    if (s->end - s->p < n) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | s->p[i];
    s->p += n;
    *out = v;
    return 1;
}

static int skip(Scan *s, uint64_t n) {
    if ((uint64_t)(s->end - s->p) < n) return 0;
    s->p += n;
    return 1;
}

static int value(Scan *s, long depth);

/* A map key: a str, whose bytes are returned for the duplicate check. */
static int key(Scan *s, const unsigned char **start, uint64_t *length) {
    if (s->p >= s->end) return 0;
    unsigned char b = *s->p++;
    uint64_t n;
    if ((b & 0xe0) == 0xa0) n = b & 0x1f;
    else if (b == 0xd9) { if (!take(s, 1, &n)) return 0; }
    else if (b == 0xda) { if (!take(s, 2, &n)) return 0; }
    else if (b == 0xdb) { if (!take(s, 4, &n)) return 0; }
    else return 0;  /* not a str key */
    *start = s->p;
    *length = n;
    return skip(s, n);
}

#define MAX_CHECKED_KEYS 64  /* larger maps go down the Python path */

static int map(Scan *s, uint64_t n, long depth) {
    if (depth > s->max_depth || n > MAX_CHECKED_KEYS) return 0;
    const unsigned char *starts[MAX_CHECKED_KEYS];
    uint64_t lengths[MAX_CHECKED_KEYS];
    for (uint64_t i = 0; i < n; i++) {
        if (!key(s, &starts[i], &lengths[i])) return 0;
        for (uint64_t j = 0; j < i; j++)
            if (lengths[j] == lengths[i] && memcmp(starts[j], starts[i], lengths[i]) == 0) return 0;
        if (!value(s, depth + 1)) return 0;
    }
    return 1;
}

static int array(Scan *s, uint64_t n, long depth) {
    if (depth > s->max_depth) return 0;
    for (uint64_t i = 0; i < n; i++)
        if (!value(s, depth + 1)) return 0;
    return 1;
}

static int value(Scan *s, long depth) {
    if (s->p >= s->end) return 0;
    unsigned char b = *s->p++;
    uint64_t n;
    if (b <= 0x7f || b >= 0xe0) return 1;                     /* fixint */
    if ((b & 0xf0) == 0x80) return map(s, b & 0x0f, depth);   /* fixmap */
    if ((b & 0xf0) == 0x90) return array(s, b & 0x0f, depth); /* fixarray */
    if ((b & 0xe0) == 0xa0) return skip(s, b & 0x1f);        /* fixstr */
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return 1;                /* nil, false, true */
    case 0xc4: return take(s, 1, &n) && skip(s, n);           /* bin 8/16/32 */
    case 0xc5: return take(s, 2, &n) && skip(s, n);
    case 0xc6: return take(s, 4, &n) && skip(s, n);
    case 0xca: return skip(s, 4);                             /* float 32/64 */
    case 0xcb: return skip(s, 8);
    case 0xcc: return skip(s, 1);                             /* uint 8/16/32 */
    case 0xcd: return skip(s, 2);
    case 0xce: return skip(s, 4);
    case 0xcf: return take(s, 8, &n) && n <= (uint64_t)INT64_MAX;  /* uint 64 within int64 */
    case 0xd0: return skip(s, 1);                             /* int 8/16/32/64 */
    case 0xd1: return skip(s, 2);
    case 0xd2: return skip(s, 4);
    case 0xd3: return skip(s, 8);
    case 0xd9: return take(s, 1, &n) && skip(s, n);           /* str 8/16/32 */
    case 0xda: return take(s, 2, &n) && skip(s, n);
    case 0xdb: return take(s, 4, &n) && skip(s, n);
    case 0xdc: return take(s, 2, &n) && array(s, n, depth);   /* array 16/32 */
    case 0xdd: return take(s, 4, &n) && array(s, n, depth);
    case 0xde: return take(s, 2, &n) && map(s, n, depth);     /* map 16/32 */
    case 0xdf: return take(s, 4, &n) && map(s, n, depth);
    default: return 0;                                        /* 0xc1, ext types */
    }
}

/* profile_ok(data, max_depth) -> bool: True when DATA is exactly one msgpack value within the
 * profile (see the top of this file); False when it is not, or when it is not sure. */
static PyObject *profile_ok(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "profile_ok takes 2 arguments"); return NULL; }
    long max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    Scan s = {view.buf, (const unsigned char *)view.buf + view.len, max_depth};
    int ok = value(&s, 1) && s.p == s.end;
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"profile_ok", (PyCFunction)(void (*)(void))profile_ok, METH_FASTCALL,
     "True when the bytes are one msgpack value within the protocol's profile."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wirecheck", "Fast profile check of protocol payloads.", -1, methods};

PyMODINIT_FUNC PyInit__wirecheck(void) { return PyModule_Create(&module); }
