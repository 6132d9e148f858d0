/* _kernel.c -- the per-request hot loops of the failure model, compiled.
 *
 * Two loops dominate a `predict` answer when written with numpy (dozens of small array
 * operations, each ~1 us of dispatch): the walk of the packed tree ensemble with its path
 * attributions, and the exact nearest-neighbour scan of a window of past deployments. Here
 * each is one pass over the arrays that predictor/models/packed.py and failure_model.py
 * already build (layouts documented there); results are the same numbers (tested).
 *
 * Arrays arrive through the buffer protocol (numpy arrays), so no numpy headers are needed
 * to build. Every function checks dtypes, shapes and index ranges before reading: a bad
 * argument raises ValueError, it never reads out of bounds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static void release(Buf *bufs, int n) {
    for (int i = 0; i < n; i++)
        if (bufs[i].held) { PyBuffer_Release(&bufs[i].view); bufs[i].held = 0; }
}

/* Get a C-contiguous buffer of OBJ whose items are 8 bytes of FORMAT ('d' double, 'q' int64). */
static int get(PyObject *obj, Buf *buf, char format, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0) {
        PyErr_Format(PyExc_ValueError, "%s: expected a C-contiguous%s array", name, writable ? " writable" : "");
        return -1;
    }
    buf->held = 1;
    const char *f = buf->view.format ? buf->view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    int ok = buf->view.itemsize == 8 &&
             (format == 'd' ? (f[0] == 'd') : (f[0] == 'q' || f[0] == 'l')) && f[1] == '\0';
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s: expected 8-byte items of type '%c', found format '%s'",
                     name, format, buf->view.format ? buf->view.format : "B");
        return -1;
    }
    return 0;
}

#define COUNT(b) ((b).view.len / 8)

/* The ensemble, as the arrays of PackedEnsemble (see packed.py). */
typedef struct {
    const int64_t *feature2, *children2, *roots2;
    const double *threshold2, *value2;
    Py_ssize_t n2, n_trees, width;
    long depth;
} Ensemble;

enum { X, FEATURE2, THRESHOLD2, CHILDREN2, VALUE2, ROOTS2, N_ENSEMBLE_ARGS };

/* Take the ensemble's buffers (args 1..5) and check that their lengths agree. Indices are
 * checked during the walk, on the nodes it visits (two comparisons a step). */
static int prepare(PyObject *const *args, Buf *bufs, long depth, Ensemble *e, Py_ssize_t width) {
    static const char *names[] = {"x", "feature2", "threshold2", "children2", "value2", "roots2"};
    static const char formats[] = {'d', 'q', 'd', 'q', 'd', 'q'};
    for (int i = 1; i < N_ENSEMBLE_ARGS; i++)
        if (get(args[i], &bufs[i], formats[i], 0, names[i]) < 0) return -1;
    e->feature2 = bufs[FEATURE2].view.buf;
    e->threshold2 = bufs[THRESHOLD2].view.buf;
    e->children2 = bufs[CHILDREN2].view.buf;
    e->value2 = bufs[VALUE2].view.buf;
    e->roots2 = bufs[ROOTS2].view.buf;
    e->n2 = COUNT(bufs[FEATURE2]);
    e->n_trees = COUNT(bufs[ROOTS2]);
    e->depth = depth;
    e->width = width;
    if (COUNT(bufs[THRESHOLD2]) != e->n2 || COUNT(bufs[CHILDREN2]) != e->n2 || COUNT(bufs[VALUE2]) != e->n2 ||
        e->n2 < 2 || depth < 0) {
        PyErr_SetString(PyExc_ValueError, "ensemble arrays disagree in length (or depth < 0)");
        return -1;
    }
    return 0;
}

/* 2 * the leaf that row X reaches in tree T, or -1 when an index points outside the arrays. */
static inline int64_t leaf2(const Ensemble *e, const double *x, Py_ssize_t t) {
    int64_t node2 = e->roots2[t];
    const uint64_t last = (uint64_t)(e->n2 - 1), width = (uint64_t)e->width;
    if ((uint64_t)node2 >= last) return -1;
    for (long level = 0; level < e->depth; level++) {
        int64_t feature = e->feature2[node2];
        if ((uint64_t)feature >= width) return -1;
        node2 = e->children2[node2 + (x[feature] > e->threshold2[node2])];
        if ((uint64_t)node2 >= last) return -1;
    }
    return node2;
}

static PyObject *corrupt(void) {
    PyErr_SetString(PyExc_ValueError, "ensemble arrays: a node points outside the arrays or the row");
    return NULL;
}

/* score(x, feature2, threshold2, children2, value2, roots2, depth) -> sum of the leaf values */
static PyObject *score(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) { PyErr_SetString(PyExc_TypeError, "score takes 7 arguments"); return NULL; }
    long depth = PyLong_AsLong(args[6]);
    if (depth == -1 && PyErr_Occurred()) return NULL;
    Buf bufs[N_ENSEMBLE_ARGS] = {0};
    Ensemble e;
    PyObject *result = NULL;
    if (get(args[X], &bufs[X], 'd', 0, "x") < 0 || prepare(args, bufs, depth, &e, COUNT(bufs[X])) < 0) goto done;
    const double *x = bufs[X].view.buf;
    double total = 0.0;
    for (Py_ssize_t t = 0; t < e.n_trees; t++) {
        int64_t node2 = leaf2(&e, x, t);
        if (node2 < 0) { result = corrupt(); goto done; }
        total += e.value2[node2];
    }
    result = PyFloat_FromDouble(total);
done:
    release(bufs, N_ENSEMBLE_ARGS);
    return result;
}

/* explain(x, feature2, threshold2, children2, value2, roots2, depth, path_contribution, out)
 *   -> sum of the leaf values; OUT (n_groups doubles) receives the sum of the leaves' path
 *   contribution rows (overwritten). */
static PyObject *explain(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) { PyErr_SetString(PyExc_TypeError, "explain takes 9 arguments"); return NULL; }
    long depth = PyLong_AsLong(args[6]);
    if (depth == -1 && PyErr_Occurred()) return NULL;
    Buf bufs[N_ENSEMBLE_ARGS + 2] = {0};
    Ensemble e;
    PyObject *result = NULL;
    if (get(args[X], &bufs[X], 'd', 0, "x") < 0 || prepare(args, bufs, depth, &e, COUNT(bufs[X])) < 0) goto done;
    Buf *paths = &bufs[N_ENSEMBLE_ARGS], *out = &bufs[N_ENSEMBLE_ARGS + 1];
    if (get(args[7], paths, 'd', 0, "path_contribution") < 0 || get(args[8], out, 'd', 1, "out") < 0) goto done;
    Py_ssize_t groups = COUNT(*out);
    if (groups == 0 || COUNT(*paths) != (e.n2 / 2) * groups) {
        PyErr_SetString(PyExc_ValueError, "path_contribution must be (nodes, len(out))");
        goto done;
    }
    const double *x = bufs[X].view.buf, *rows = paths->view.buf;
    double *sum = out->view.buf;
    memset(sum, 0, groups * sizeof(double));
    double total = 0.0;
    for (Py_ssize_t t = 0; t < e.n_trees; t++) {
        int64_t node2 = leaf2(&e, x, t);
        if (node2 < 0) { result = corrupt(); goto done; }
        total += e.value2[node2];
        const double *row = rows + (node2 >> 1) * groups;
        for (Py_ssize_t g = 0; g < groups; g++) sum[g] += row[g];
    }
    result = PyFloat_FromDouble(total);
done:
    release(bufs, N_ENSEMBLE_ARGS + 2);
    return result;
}

/* score_many(matrix, feature2, threshold2, children2, value2, roots2, depth, width, out):
 *   OUT[i] = sum of the leaf values for row i of MATRIX (rows of WIDTH doubles). */
static PyObject *score_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) { PyErr_SetString(PyExc_TypeError, "score_many takes 9 arguments"); return NULL; }
    long depth = PyLong_AsLong(args[6]);
    Py_ssize_t width = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred()) return NULL;
    Buf bufs[N_ENSEMBLE_ARGS + 1] = {0};
    Ensemble e;
    PyObject *result = NULL;
    if (width <= 0) { PyErr_SetString(PyExc_ValueError, "width must be positive"); return NULL; }
    if (get(args[X], &bufs[X], 'd', 0, "matrix") < 0 || prepare(args, bufs, depth, &e, width) < 0) goto done;
    Buf *out = &bufs[N_ENSEMBLE_ARGS];
    if (get(args[8], out, 'd', 1, "out") < 0) goto done;
    Py_ssize_t n = COUNT(*out);
    if (COUNT(bufs[X]) != n * width) { PyErr_SetString(PyExc_ValueError, "matrix must be (len(out), width)"); goto done; }
    const double *matrix = bufs[X].view.buf;
    double *scores = out->view.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        const double *x = matrix + i * width;
        double total = 0.0;
        for (Py_ssize_t t = 0; t < e.n_trees; t++) {
            int64_t node2 = leaf2(&e, x, t);
            if (node2 < 0) { bad = 1; break; }
            total += e.value2[node2];
        }
        scores[i] = total;
    }
    Py_END_ALLOW_THREADS
    result = bad ? corrupt() : Py_NewRef(Py_None);
done:
    release(bufs, N_ENSEMBLE_ARGS + 1);
    return result;
}

/* nearest(block, begin, end, query, k, positions, distances) -> count
 *   The K rows of BLOCK[begin:end] (rows of len(query) doubles) nearest to QUERY by Euclidean
 *   distance, nearest first, ties to the earlier row; their window positions (row - begin)
 *   go to POSITIONS (int64) and distances to DISTANCES; returns how many (min(k, end - begin)). */
static PyObject *nearest(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) { PyErr_SetString(PyExc_TypeError, "nearest takes 7 arguments"); return NULL; }
    Py_ssize_t begin = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]), k = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred()) return NULL;
    Buf bufs[4] = {0};
    PyObject *result = NULL;
    if (get(args[0], &bufs[0], 'd', 0, "block") < 0 || get(args[3], &bufs[1], 'd', 0, "query") < 0 ||
        get(args[5], &bufs[2], 'q', 1, "positions") < 0 || get(args[6], &bufs[3], 'd', 1, "distances") < 0)
        goto done;
    Py_ssize_t width = COUNT(bufs[1]);
    if (width == 0 || bufs[0].view.ndim != 2 || bufs[0].view.shape[1] != width) { PyErr_SetString(PyExc_ValueError, "block rows must be len(query) wide"); goto done; }
    Py_ssize_t rows = COUNT(bufs[0]) / width;
    if (begin < 0 || end < begin || end > rows || k < 0 || COUNT(bufs[2]) < k || COUNT(bufs[3]) < k) {
        PyErr_SetString(PyExc_ValueError, "nearest: window or k out of range");
        goto done;
    }
    const double *block = bufs[0].view.buf, *query = bufs[1].view.buf;
    int64_t *positions = bufs[2].view.buf;
    double *best = bufs[3].view.buf;  /* squared distances while scanning */
    Py_ssize_t found = 0;
    for (Py_ssize_t r = begin; r < end; r++) {
        const double *row = block + r * width;
        /* once K rows are kept, stop summing a row as soon as its partial sum reaches the K-th
         * best (the sum only grows, and a tie keeps the earlier row): checked every 8 columns */
        const double bound = found == k ? best[k - 1] : INFINITY;
        double d = 0.0;
        Py_ssize_t j = 0;
        while (j < width) {  /* four independent sums per 8 columns: no add waits on the one before */
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            if (j + 8 <= width) {
                const double *a = row + j, *b = query + j;
                double e0 = a[0] - b[0], e1 = a[1] - b[1], e2 = a[2] - b[2], e3 = a[3] - b[3];
                double e4 = a[4] - b[4], e5 = a[5] - b[5], e6 = a[6] - b[6], e7 = a[7] - b[7];
                s0 = e0 * e0 + e4 * e4; s1 = e1 * e1 + e5 * e5; s2 = e2 * e2 + e6 * e6; s3 = e3 * e3 + e7 * e7;
                j += 8;
            } else {
                for (; j < width; j++) { double e = row[j] - query[j]; s0 += e * e; }
            }
            d += (s0 + s1) + (s2 + s3);
            if (!(d < bound)) break;
        }
        if (!(d < bound)) continue;  /* not strictly nearer than the K-th: the earlier rows stay */
        Py_ssize_t at = found < k ? found++ : k - 1;
        while (at > 0 && d < best[at - 1]) { best[at] = best[at - 1]; positions[at] = positions[at - 1]; at--; }
        best[at] = d;
        positions[at] = r - begin;
    }
    for (Py_ssize_t i = 0; i < found; i++) best[i] = sqrt(best[i]);
    result = PyLong_FromSsize_t(found);
done:
    release(bufs, 4);
    return result;
}

static PyMethodDef methods[] = {
    {"score", (PyCFunction)(void (*)(void))score, METH_FASTCALL, "Sum of the leaf values row x reaches."},
    {"explain", (PyCFunction)(void (*)(void))explain, METH_FASTCALL, "Sum of leaf values; path contributions into out."},
    {"score_many", (PyCFunction)(void (*)(void))score_many, METH_FASTCALL, "Sums of leaf values for every row."},
    {"nearest", (PyCFunction)(void (*)(void))nearest, METH_FASTCALL, "K nearest rows of a window, exactly."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernel", "Compiled hot loops of the failure model.", -1, methods};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&module); }
