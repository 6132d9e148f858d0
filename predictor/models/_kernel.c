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
#include <datetime.h>
#include <float.h>
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

/* The sum of leaf values of each of the N rows of MATRIX (rows of WIDTH doubles) into SCORES;
 * -1 when a node points outside the arrays (no Python call: runs without the GIL). */
static int score_rows(const Ensemble *ep, const double *matrix, Py_ssize_t n, Py_ssize_t width, double *scores) {
    const Ensemble e = *ep;
    int bad = 0;
    /* LANES rows walk each tree side by side: a walk is a chain of dependent loads (node ->
     * feature -> value -> child), and independent chains let the CPU overlap their latencies.
     * Each row still adds its trees' values in tree order (same sums as one row at a time). */
    enum { LANES = 8 };
    const uint64_t last = (uint64_t)(e.n2 - 1), columns = (uint64_t)e.width;
    Py_ssize_t i = 0;
    for (; i + LANES <= n && !bad; i += LANES) {
        const double *x[LANES];
        double total[LANES];
        for (int r = 0; r < LANES; r++) { x[r] = matrix + (i + r) * width; total[r] = 0.0; }
        for (Py_ssize_t t = 0; t < e.n_trees && !bad; t++) {
            int64_t node2[LANES];
            for (int r = 0; r < LANES; r++) node2[r] = e.roots2[t];
            if ((uint64_t)node2[0] >= last) { bad = 1; break; }
            for (long level = 0; level < e.depth; level++) {
                for (int r = 0; r < LANES; r++) {
                    int64_t feature = e.feature2[node2[r]];
                    if ((uint64_t)feature >= columns) { bad = 1; break; }
                    node2[r] = e.children2[node2[r] + (x[r][feature] > e.threshold2[node2[r]])];
                    if ((uint64_t)node2[r] >= last) { bad = 1; break; }
                }
                if (bad) break;
            }
            if (bad) break;
            for (int r = 0; r < LANES; r++) total[r] += e.value2[node2[r]];
        }
        for (int r = 0; r < LANES; r++) scores[i + r] = total[r];
    }
    for (; i < n && !bad; i++) {  /* the last rows, one at a time */
        const double *x = matrix + i * width;
        double total = 0.0;
        for (Py_ssize_t t = 0; t < e.n_trees; t++) {
            int64_t node2 = leaf2(&e, x, t);
            if (node2 < 0) { bad = 1; break; }
            total += e.value2[node2];
        }
        scores[i] = total;
    }
    return bad ? -1 : 0;
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
    int bad;
    Py_BEGIN_ALLOW_THREADS
    bad = score_rows(&e, matrix, n, width, scores);
    Py_END_ALLOW_THREADS
    result = bad ? corrupt() : Py_NewRef(Py_None);
done:
    release(bufs, N_ENSEMBLE_ARGS + 1);
    return result;
}

/* nearest(block, begin, end, query, k, positions, distances[, scale[, mean, spread]]) -> count
 *   The K rows of BLOCK[begin:end] (rows of len(query) doubles) nearest to QUERY by Euclidean
 *   distance, nearest first, ties to the earlier row; their window positions (row - begin)
 *   go to POSITIONS (int64) and distances to DISTANCES; returns how many (min(k, end - begin)).
 *   With SCALE (or None), the query is QUERY / SCALE (element by element); MEAN and SPREAD
 *   order the columns (see below). */
static PyObject *nearest(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 && nargs != 8 && nargs != 10) { PyErr_SetString(PyExc_TypeError, "nearest takes 7, 8 or 10 arguments"); return NULL; }
    Py_ssize_t begin = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]), k = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred()) return NULL;
    Buf bufs[7] = {0};
    PyObject *result = NULL;
    double scaled[256];
    if (get(args[0], &bufs[0], 'd', 0, "block") < 0 || get(args[3], &bufs[1], 'd', 0, "query") < 0 ||
        get(args[5], &bufs[2], 'q', 1, "positions") < 0 || get(args[6], &bufs[3], 'd', 1, "distances") < 0 ||
        (nargs >= 8 && args[7] != Py_None && get(args[7], &bufs[4], 'd', 0, "scale") < 0) ||
        (nargs == 10 && (get(args[8], &bufs[5], 'd', 0, "mean") < 0 || get(args[9], &bufs[6], 'd', 0, "spread") < 0)))
        goto done;
    Py_ssize_t width = COUNT(bufs[1]);
    const double *query = bufs[1].view.buf;
    if (width > 256 || (bufs[4].held && COUNT(bufs[4]) != width) ||
        (nargs == 10 && (COUNT(bufs[5]) != width || COUNT(bufs[6]) != width))) {
        PyErr_SetString(PyExc_ValueError, "scale, mean and spread must be as long as the query (at most 256)");
        goto done;
    }
    if (bufs[4].held) {  /* the query is row / scale, divided here (as numpy would: one IEEE division each) */
        const double *scale = bufs[4].view.buf;
        for (Py_ssize_t j = 0; j < width; j++) scaled[j] = query[j] / scale[j];
        query = scaled;
    }
    /* The order the columns are summed in: with MEAN and SPREAD (each column's mean and variance
     * over the block), the columns where this query is expected to differ most from a row,
     * (mean - q)^2 + variance, come first, so a row's partial sum passes the K-th best after
     * fewer columns (bench queries: 11 of 45 columns read on average instead of 28). The order
     * only changes how soon a row is dropped, never which rows are kept. */
    Py_ssize_t order[256];
    double ordered_query[256];
    for (Py_ssize_t j = 0; j < width; j++) order[j] = j;
    if (nargs == 10) {
        const double *mean = bufs[5].view.buf, *spread = bufs[6].view.buf;
        double expected[256];
        for (Py_ssize_t j = 0; j < width; j++) {
            double gap = mean[j] - query[j];
            expected[j] = gap * gap + spread[j];
        }
        for (Py_ssize_t j = 1; j < width; j++) {  /* insertion sort, largest first, stable */
            Py_ssize_t column = order[j], at = j;
            while (at > 0 && expected[order[at - 1]] < expected[column]) { order[at] = order[at - 1]; at--; }
            order[at] = column;
        }
    }
    for (Py_ssize_t j = 0; j < width; j++) ordered_query[j] = query[order[j]];
    if (width == 0 || bufs[0].view.ndim != 2 || bufs[0].view.shape[1] != width) { PyErr_SetString(PyExc_ValueError, "block rows must be len(query) wide"); goto done; }
    Py_ssize_t rows = COUNT(bufs[0]) / width;
    if (begin < 0 || end < begin || end > rows || k < 0 || COUNT(bufs[2]) < k || COUNT(bufs[3]) < k) {
        PyErr_SetString(PyExc_ValueError, "nearest: window or k out of range");
        goto done;
    }
    const double *block = bufs[0].view.buf;
    int64_t *positions = bufs[2].view.buf;
    double *best = bufs[3].view.buf;  /* squared distances while scanning */
    Py_ssize_t found = 0;
    /* newest row first: the nearest rows are mostly recent ones, so the K-th best distance, below
     * which a row must come to be kept, tightens early and most rows stop after a few columns.
     * Each row scanned is earlier than every row kept, so it wins ties: it is kept when its
     * distance is at most the K-th best, and goes before the kept rows at the same distance. */
    for (Py_ssize_t r = end - 1; r >= begin; r--) {
        const double *row = block + r * width;
        /* once K rows are kept, stop summing a row as soon as its partial sum passes the K-th
         * best (the sum only grows): checked every 8 columns */
        const double bound = found == k ? best[k - 1] : INFINITY;
        double d = 0.0;
        Py_ssize_t j = 0;
        while (j < width) {  /* four independent sums per 8 columns: no add waits on the one before */
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            if (j + 8 <= width) {
                const Py_ssize_t *c = order + j;
                const double *b = ordered_query + j;
                double e0 = row[c[0]] - b[0], e1 = row[c[1]] - b[1], e2 = row[c[2]] - b[2], e3 = row[c[3]] - b[3];
                double e4 = row[c[4]] - b[4], e5 = row[c[5]] - b[5], e6 = row[c[6]] - b[6], e7 = row[c[7]] - b[7];
                s0 = e0 * e0 + e4 * e4; s1 = e1 * e1 + e5 * e5; s2 = e2 * e2 + e6 * e6; s3 = e3 * e3 + e7 * e7;
                j += 8;
            } else {
                for (; j < width; j++) { double e = row[order[j]] - ordered_query[j]; s0 += e * e; }
            }
            d += (s0 + s1) + (s2 + s3);
            if (d > bound) break;
        }
        if (!(d <= bound)) continue;  /* farther than the K-th (or NaN): not kept */
        Py_ssize_t at = found < k ? found++ : k - 1;
        while (at > 0 && d <= best[at - 1]) { best[at] = best[at - 1]; positions[at] = positions[at - 1]; at--; }
        best[at] = d;
        positions[at] = r - begin;
    }
    for (Py_ssize_t i = 0; i < found; i++) best[i] = sqrt(best[i]);
    result = PyLong_FromSsize_t(found);
done:
    release(bufs, 7);
    return result;
}

/* ---- features_core: the counting part of a deployment's point-in-time features --------------
 *
 * FeatureState (predictor/features/serving.py) keeps each service's start times and its outcome
 * index as contiguous int64 arrays (array('q')). This answers, for a deployment starting at T,
 * every count the features need, in one call and without a Python object per element (a bisect
 * over a list of ints touches one int object per probe: on a cold cache, most of the cost):
 *
 *   features_core(starts, times, fails, dur_sum, dur_n, streaks, neighbour_starts, t, back7, back28, conc)
 *     starts: the service's sorted start times; times: its outcome times (sorted; outcome i
 *     became known at times[i]); fails, dur_sum, dur_n, streaks: prefix arrays of len(times)+1
 *     (failures, duration ms, durations known, failures in a row ending just before);
 *     neighbour_starts: a tuple of sorted start-time arrays (direct dependencies and dependents)
 *   -> (before, starts in [t-back7, t), in [t-back28, t), in [t-conc, t), the previous start
 *       (or 0 when before == 0), neighbours' starts in [t-conc, t), known, fails[known],
 *       dur_sum[known], dur_n[known], streaks[known], latest known outcome (-1 none, 0, 1))
 */
static Py_ssize_t lower_bound(const int64_t *a, Py_ssize_t n, int64_t x) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* x - y clamped to int64 (times far in the past stay ordered) */
static int64_t minus(int64_t x, int64_t y) {
    if (y > 0 && x < INT64_MIN + y) return INT64_MIN;
    if (y < 0 && x > INT64_MAX + y) return INT64_MAX;
    return x - y;
}

/* The counts of features_core over the service's arrays (taken by the caller). */
typedef struct {
    Py_ssize_t before, d7, d28, concurrent, neighbours, known;
    long long previous_start, fails, dur_sum, dur_n, streak, latest;
} Core;

static int core_counts(PyObject *const *arrays, PyObject *neighbour_starts, long long t, long long back7,
                       long long back28, long long conc, Core *out) {
    static const char *names[] = {"starts", "times", "fails", "dur_sum", "dur_n", "streaks"};
    Buf bufs[6] = {0};
    int status = -1;
    for (int i = 0; i < 6; i++)
        if (get(arrays[i], &bufs[i], 'q', 0, names[i]) < 0) goto done;
    const int64_t *starts = bufs[0].view.buf, *times = bufs[1].view.buf;
    Py_ssize_t n_starts = COUNT(bufs[0]), n_times = COUNT(bufs[1]);
    for (int i = 2; i < 6; i++)
        if (COUNT(bufs[i]) != n_times + 1) {
            PyErr_Format(PyExc_ValueError, "%s must hold len(times) + 1 items", names[i]);
            goto done;
        }
    out->before = lower_bound(starts, n_starts, t);
    out->d7 = out->before - lower_bound(starts, out->before, minus(t, back7));
    out->d28 = out->before - lower_bound(starts, out->before, minus(t, back28));
    out->concurrent = out->before - lower_bound(starts, out->before, minus(t, conc));
    out->previous_start = out->before ? starts[out->before - 1] : 0;
    out->neighbours = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(neighbour_starts); i++) {
        Buf other = {0};
        if (get(PyTuple_GET_ITEM(neighbour_starts, i), &other, 'q', 0, "neighbour_starts") < 0) { release(&other, 1); goto done; }
        const int64_t *o = other.view.buf;
        Py_ssize_t end = lower_bound(o, COUNT(other), t);
        out->neighbours += end - lower_bound(o, end, minus(t, conc));
        release(&other, 1);
    }
    Py_ssize_t known = out->known = lower_bound(times, n_times, t);
    const int64_t *fails = bufs[2].view.buf;
    out->fails = fails[known];
    out->dur_sum = ((const int64_t *)bufs[3].view.buf)[known];
    out->dur_n = ((const int64_t *)bufs[4].view.buf)[known];
    out->streak = ((const int64_t *)bufs[5].view.buf)[known];
    out->latest = known ? fails[known] - fails[known - 1] : -1;
    status = 0;
done:
    release(bufs, 6);
    return status;
}

/* An int as int64 (-1 with OverflowError when it does not fit). CPython's PyLong_AsLongLong
 * converts ints of 2**30 and more through a byte array; the digit loop of PyLong_AsLong is
 * several times faster, and long is 64 bits where this builds (checked below). */
_Static_assert(sizeof(long) == 8, "long must be 64 bits");
static inline long long as_i64(PyObject *value) { return PyLong_AsLong(value); }

static PyObject *features_core(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11) { PyErr_SetString(PyExc_TypeError, "features_core takes 11 arguments"); return NULL; }
    if (!PyTuple_Check(args[6])) { PyErr_SetString(PyExc_TypeError, "neighbour_starts must be a tuple"); return NULL; }
    long long t = as_i64(args[7]), back7 = as_i64(args[8]);
    long long back28 = as_i64(args[9]), conc = as_i64(args[10]);
    if (PyErr_Occurred()) return NULL;
    Core c;
    if (core_counts(args, args[6], t, back7, back28, conc, &c) < 0) return NULL;
    return Py_BuildValue("(nnnnLnnLLLLL)", c.before, c.d7, c.d28, c.concurrent, c.previous_start, c.neighbours,
                         c.known, c.fails, c.dur_sum, c.dur_n, c.streak, c.latest);
}

/* ---- features_dict: the whole serving feature map of one deployment ----------------------------
 *
 *   features_dict(starts, times, fails, dur_sum, dur_n, streaks, neighbour_starts, env_list,
 *                 version_items, graph, t, hour, day_of_week, environment, deployment_type,
 *                 service_type, version, change, consts)
 *
 * returns the dict FeatureState.features builds in Python (same keys in the same order, same
 * values and types), or None when a value is unusual enough that the Python form must answer
 * (a time or version outside what is handled here, a change size that is not a plain number).
 *   env_list       the service's (started, id, version) tuples in this environment, or None
 *   version_items  the (known_at, environment, failed) tuples of this service and version, or None
 *   graph          (dependencies, transitive, dependents, transitive, ...)
 *   hour, day_of_week   the local wall time, or -1 to take them from T as UTC
 *   change         the request's change_size, or the tuple (change, replicas, keys) already read
 *   consts         (back7, back28, conc, prior_strength, prior_mean, keys, version_bump, template)
 *                  with keys the 26 feature names, version_bump the Python function (non-ASCII
 *                  or non-str versions go to it) and template a dict of the keys (in order)
 */

/* Parse "v?D+.D+(.D+)?" at the start of ASCII S (the Python VERSION_PATTERN): the digit runs
 * without leading zeros, as (pointer, length); 0 when S does not match. */
typedef struct { const char *p; Py_ssize_t n; } Digits;

static int parse_version(const char *s, Py_ssize_t n, Digits out[3]) {
    Py_ssize_t i = 0;
    if (i < n && s[i] == 'v') i++;
    for (int part = 0; part < 3; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.' || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9') {
                if (part == 2) { out[2].p = "0"; out[2].n = 1; return 1; }
                return 0;
            }
            i++;
        }
        Py_ssize_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == start) return 0;
        while (start < i - 1 && s[start] == '0') start++;
        out[part].p = s + start;
        out[part].n = i - start;
    }
    return 1;
}

static int compare_digits(Digits a, Digits b) {
    if (a.n != b.n) return a.n < b.n ? -1 : 1;
    int c = memcmp(a.p, b.p, a.n);
    return c < 0 ? -1 : c > 0;
}

/* version_bump(version, previous, True) for two ASCII str; NULL when not both ASCII str. */
static const char *bump_ascii(PyObject *version, PyObject *previous) {
    if (!PyUnicode_CheckExact(version) || !PyUnicode_CheckExact(previous) ||
        !PyUnicode_IS_ASCII(version) || !PyUnicode_IS_ASCII(previous))
        return NULL;
    Py_ssize_t nv = PyUnicode_GET_LENGTH(version), np_ = PyUnicode_GET_LENGTH(previous);
    const char *v = (const char *)PyUnicode_DATA(version), *p = (const char *)PyUnicode_DATA(previous);
    if (nv == np_ && memcmp(v, p, nv) == 0) return "same";
    Digits now[3], then[3];
    if (!parse_version(v, nv, now) || !parse_version(p, np_, then)) return "unknown";
    static const char *names[3] = {"major", "minor", "patch"};
    for (int i = 0; i < 3; i++) {
        int c = compare_digits(now[i], then[i]);
        if (c > 0) return names[i];
        if (c < 0) return "downgrade";
    }
    return "same";
}

/* A new reference to the interned str TEXT (one of the few category words below), made once. */
static PyObject *word(const char *text) {
    static struct { const char *text; PyObject *str; } made[12];
    for (int i = 0; i < 12; i++) {
        if (made[i].text == NULL) {
            if ((made[i].str = PyUnicode_InternFromString(text)) == NULL) return NULL;
            made[i].text = text;
        }
        if (strcmp(made[i].text, text) == 0) return Py_NewRef(made[i].str);
    }
    return PyUnicode_InternFromString(text);
}

/* A finite double from an exact int or float; 0 when it is neither (or does not fit). */
static int plain_number(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) *out = PyFloat_AS_DOUBLE(value);
    else if (PyLong_CheckExact(value)) {
        *out = PyLong_AsDouble(value);
        if (*out == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    } else return 0;
    return 1;
}

enum { N_FEATURE_KEYS = 26 };

/* How a model's row is laid out over the 26 features (for features_rows): column i < n_numeric
 * holds feature numeric[i] (an index into the 22 numbers); one-hot group g reads text text[g]
 * (0..3: environment, deployment type, service type, version bump), looks it up in maps[g]
 * (category -> column) and sets that column, or other[g], to 1. */
typedef struct {
    Py_ssize_t width, n_numeric, n_one_hot;
    Py_ssize_t numeric[64], text[8], other[8];
    PyObject *maps[8];
} RowPlan;

/* The feature map (or None: the Python form answers) from ARRAYS (the six int64 arrays and the
 * tuple of neighbour start arrays) and the rest as features_dict takes them. */
static PyObject *make_features(PyObject *const *arrays, PyObject *env_list, PyObject *version_items, PyObject *graph,
                               long long t, long hour, long dow, PyObject *environment, PyObject *deployment_type,
                               PyObject *service_type, PyObject *version, PyObject *change, PyObject *consts,
                               const RowPlan *plan, double *row, double *past_outcomes) {
    PyObject *neighbour_starts = arrays[6];
    if (!PyTuple_Check(neighbour_starts) || !PyTuple_Check(graph) || PyTuple_GET_SIZE(graph) < 4 ||
        (env_list != Py_None && !PyList_Check(env_list)) || (version_items != Py_None && !PyList_Check(version_items)) ||
        !PyTuple_Check(consts) || PyTuple_GET_SIZE(consts) != 8 || !PyTuple_Check(PyTuple_GET_ITEM(consts, 5)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(consts, 5)) != N_FEATURE_KEYS || !PyDict_CheckExact(PyTuple_GET_ITEM(consts, 7)) ||
        PyDict_GET_SIZE(PyTuple_GET_ITEM(consts, 7)) != N_FEATURE_KEYS) {
        PyErr_SetString(PyExc_TypeError, "features_dict: bad argument types");
        return NULL;
    }
    long long back7 = as_i64(PyTuple_GET_ITEM(consts, 0));
    long long back28 = as_i64(PyTuple_GET_ITEM(consts, 1));
    long long conc = as_i64(PyTuple_GET_ITEM(consts, 2));
    double strength = PyFloat_AsDouble(PyTuple_GET_ITEM(consts, 3));
    double prior = PyFloat_AsDouble(PyTuple_GET_ITEM(consts, 4));
    long graph_counts[4];
    for (int i = 0; i < 4; i++) graph_counts[i] = PyLong_AsLong(PyTuple_GET_ITEM(graph, i));
    if (PyErr_Occurred()) return NULL;
    PyObject *keys = PyTuple_GET_ITEM(consts, 5), *bump_function = PyTuple_GET_ITEM(consts, 6);
    PyObject *template = PyTuple_GET_ITEM(consts, 7);

    Core c;
    if (core_counts(arrays, neighbour_starts, t, back7, back28, conc, &c) < 0) return NULL;
    double days_since_previous = -1.0;
    if (c.before) {
        long long gap;
        if (__builtin_sub_overflow(t, c.previous_start, &gap)) Py_RETURN_NONE;
        days_since_previous = (double)gap / 86400000000.0;
    }
    if (hour < 0) {  /* UTC wall time of T (floor division, as datetime arithmetic) */
        long long us_per_day = 86400000000LL;
        long long day = t / us_per_day, rest = t % us_per_day;
        if (rest < 0) { rest += us_per_day; day -= 1; }
        hour = (long)(rest / 3600000000LL);
        dow = (long)(((day + 3) % 7 + 7) % 7);  /* 1970-01-01 was a Thursday (weekday 3) */
    }
    /* the latest earlier start in this environment: its version */
    PyObject *previous_version = Py_None;
    int has_previous = 0;
    if (env_list != Py_None) {
        Py_ssize_t lo = 0, hi = PyList_GET_SIZE(env_list);
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            PyObject *item = PyList_GET_ITEM(env_list, mid);
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 3) Py_RETURN_NONE;
            long long started = as_i64(PyTuple_GET_ITEM(item, 0));
            if (started == -1 && PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
            if (started < t) lo = mid + 1; else hi = mid;
        }
        if (lo > 0) {
            has_previous = 1;
            previous_version = PyTuple_GET_ITEM(PyList_GET_ITEM(env_list, lo - 1), 2);
        }
    }
    long succeeded = 0, failed = 0;
    if (version_items != Py_None) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(version_items); i++) {
            PyObject *item = PyList_GET_ITEM(version_items, i);
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) Py_RETURN_NONE;
            long long known_at = as_i64(PyTuple_GET_ITEM(item, 0));
            long outcome = PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
            if (PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
            if (known_at >= t) continue;
            int other = PyObject_RichCompareBool(PyTuple_GET_ITEM(item, 1), environment, Py_NE);
            if (other < 0) return NULL;
            if (other) { succeeded |= 1 - outcome; failed |= outcome; }
        }
    }
    double numbers[3] = {-1.0, -1.0, 0.0};  /* change size, replicas, configuration keys */
    if (PyTuple_Check(change)) {
        if (PyTuple_GET_SIZE(change) != 3) Py_RETURN_NONE;
        for (int i = 0; i < 3; i++)
            if (!plain_number(PyTuple_GET_ITEM(change, i), &numbers[i])) Py_RETURN_NONE;
    } else if (change != Py_None && !PyBool_Check(change)) {
        double value;
        if (!plain_number(change, &value)) Py_RETURN_NONE;  /* text and the like: Python reads it */
        if (isfinite(value)) numbers[0] = value;
    }
    PyObject *bump;
    if (!has_previous) bump = word("first");
    else if (version == Py_None || previous_version == Py_None) bump = word("unknown");
    else {
        const char *name = bump_ascii(version, previous_version);
        if (name) bump = word(name);
        else {
            Py_INCREF(previous_version);  /* borrowed from env_list, which the call could change */
            bump = PyObject_CallFunctionObjArgs(bump_function, version, previous_version, Py_True, NULL);
            Py_DECREF(previous_version);
        }
    }
    if (bump == NULL) return NULL;
    int typed = deployment_type == Py_None ? 0 : PyObject_IsTrue(deployment_type);
    int service_typed = service_type == Py_None ? 0 : PyObject_IsTrue(service_type);
    if (typed < 0 || service_typed < 0) { Py_DECREF(bump); return NULL; }
    PyObject *unknown = word("unknown");
    if (unknown == NULL) { Py_DECREF(bump); return NULL; }
    double values[22] = {
        (double)hour, (double)dow, days_since_previous, (double)c.d7, (double)c.d28,
        (double)(c.d7 + 1) / ((double)c.d28 / 4.0 + 1.0),
        (double)graph_counts[0], (double)graph_counts[1], (double)graph_counts[2], (double)graph_counts[3],
        (double)c.known, ((double)c.fails + strength * prior) / ((double)c.known + strength),
        (double)c.streak, (double)c.latest,
        c.dur_n ? (double)c.dur_sum / (double)c.dur_n / 1000.0 : -1.0,
        numbers[0], numbers[1], numbers[2], (double)succeeded, (double)failed,
        (double)c.concurrent, (double)c.neighbours,
    };
    PyObject *texts[4] = {environment, typed ? deployment_type : unknown, service_typed ? service_type : unknown, bump};
    if (plan != NULL) {
        PyObject *done = NULL;
        for (Py_ssize_t i = 0; i < plan->n_numeric; i++) {
            double v = values[plan->numeric[i]];
            row[i] = isnan(v) ? -1.0 : isinf(v) ? (v > 0 ? DBL_MAX : -DBL_MAX) : v;
        }
        for (Py_ssize_t j = plan->n_numeric; j < plan->width; j++) row[j] = 0.0;
        for (Py_ssize_t g = 0; g < plan->n_one_hot; g++) {
            PyObject *column = PyDict_GetItemWithError(plan->maps[g], texts[plan->text[g]]);
            Py_ssize_t at = column != NULL ? PyLong_AsSsize_t(column) : PyErr_Occurred() ? -1 : plan->other[g];
            if (at < plan->n_numeric || at >= plan->width) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "one-hot column out of range");
                goto planned;
            }
            row[at] = 1.0;
        }
        *past_outcomes = values[10];
        done = Py_NewRef(Py_True);
    planned:
        Py_DECREF(bump);
        Py_DECREF(unknown);
        return done;
    }
    /* a copy of the template (every key, in order) gets its values set: no resizing, no insert */
    PyObject *result = PyDict_Copy(template);
    if (result == NULL) goto fail;
    for (int i = 0; i < 22; i++) {
        PyObject *number = PyFloat_FromDouble(values[i]);
        if (number == NULL || PyDict_SetItem(result, PyTuple_GET_ITEM(keys, i), number) < 0) {
            Py_XDECREF(number);
            goto fail;
        }
        Py_DECREF(number);
    }
    for (int i = 0; i < 4; i++)
        if (PyDict_SetItem(result, PyTuple_GET_ITEM(keys, 22 + i), texts[i]) < 0) goto fail;
    Py_DECREF(bump);
    Py_DECREF(unknown);
    return result;
fail:
    Py_XDECREF(result);
    Py_DECREF(bump);
    Py_DECREF(unknown);
    return NULL;
}

static PyObject *features_dict(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 19) { PyErr_SetString(PyExc_TypeError, "features_dict takes 19 arguments"); return NULL; }
    long long t = as_i64(args[10]);
    long hour = PyLong_AsLong(args[11]), dow = PyLong_AsLong(args[12]);
    if (PyErr_Occurred()) return NULL;
    return make_features(args, args[7], args[8], args[9], t, hour, dow, args[13], args[14], args[15], args[16],
                         args[17], args[18], NULL, NULL, NULL);
}

/* ---- batch: the features of every deployment of a batch (Explainer.features_rows) ------------
 *
 * The lookups FeatureState.features makes per deployment are made here: the record's fields,
 * its start as epoch microseconds (from the naive UTC datetime), the environment's start list,
 * the (service, version) outcomes. What depends on the service alone comes from
 * PER_SERVICE(service) -> ((six arrays..., neighbour starts), env_starts dict, graph, type),
 * called once per service of the batch. A record this does not read (no exact str service or
 * environment, a start that is neither a naive datetime nor epoch seconds of 1970-2100, a
 * configuration or metadata map to read)
 * and a map make_features leaves to Python go to FALLBACK(record), FeatureState.features. UTC
 * only: the caller takes the Python path for other zones.
 */
static PyObject *k_service, *k_environment, *k_started, *k_version, *k_deployment_type, *k_change_size,
    *k_configuration, *k_metadata;

static long long days_from_civil(long long y, unsigned m, unsigned d) {  /* proleptic Gregorian */
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static PyObject *field(PyObject *record, PyObject *key) {  /* borrowed; NULL when absent (or error) */
    return PyDict_GetItemWithError(record, key);
}

static int named_str(PyObject *value) { return value != NULL && PyUnicode_CheckExact(value) && PyUnicode_GET_LENGTH(value) > 0; }

/* A start as epoch microseconds, as FeatureState.features reads it: a naive (UTC) datetime, or
 * epoch seconds (an exact int or float, 1970 to 2100) as to_utc_naive then epoch_us turn them:
 * round(seconds * 1e6), halves to even. 0 for anything else (the Python form reads it). */
static int epoch_micros(PyObject *started, long long *t) {
    if (started == NULL) return 0;
    if (PyDateTime_CheckExact(started)) {
        if (PyDateTime_DATE_GET_TZINFO(started) != Py_None) return 0;
        *t = days_from_civil(PyDateTime_GET_YEAR(started), PyDateTime_GET_MONTH(started), PyDateTime_GET_DAY(started)) *
                 86400000000LL +
             ((long long)PyDateTime_DATE_GET_HOUR(started) * 3600 + PyDateTime_DATE_GET_MINUTE(started) * 60 +
              PyDateTime_DATE_GET_SECOND(started)) * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(started);
        return 1;
    }
    if (PyFloat_CheckExact(started)) {
        double v = PyFloat_AS_DOUBLE(started);
        if (!(v >= 0.0 && v <= 4102444800.0)) return 0;
        *t = (long long)nearbyint(v * 1000000.0);  /* round-half-even, as Python's round() */
        return 1;
    }
    if (PyLong_CheckExact(started)) {
        long v = PyLong_AsLong(started);
        if (v == -1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        if (v < 0 || v > 4102444800L) return 0;
        *t = (long long)v * 1000000LL;
        return 1;
    }
    return 0;
}

/* The batch's loop: rows go to ROWS (laid out by PLAN) and the list holds past_outcomes (a float)
 * for each row written, or the fallback's map for a row left to the caller to encode. */
static PyObject *batch(PyObject *records, PyObject *per_service, PyObject *fallback, PyObject *versions,
                       PyObject *consts, const RowPlan *plan, double *rows) {
    Py_ssize_t n = PyList_GET_SIZE(records);
    PyObject *out = PyList_New(n), *cache = PyDict_New();
    if (out == NULL || cache == NULL) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = PyList_GET_ITEM(records, i), *made = NULL;
        PyObject *service = NULL, *environment = NULL, *started = NULL, *configuration = NULL, *metadata = NULL;
        double past = 0.0;
        if (PyDict_CheckExact(record)) {
            service = field(record, k_service);
            environment = field(record, k_environment);
            started = field(record, k_started);
            configuration = field(record, k_configuration);
            metadata = field(record, k_metadata);
            if (PyErr_Occurred()) goto fail;
        }
        long long t;
        if (named_str(service) && named_str(environment) && epoch_micros(started, &t) &&
            (configuration == NULL || configuration == Py_None) && (metadata == NULL || metadata == Py_None)) {
            PyObject *entry = PyDict_GetItemWithError(cache, service);
            if (entry == NULL) {
                if (PyErr_Occurred()) goto fail;
                PyObject *fresh = PyObject_CallOneArg(per_service, service);
                if (fresh == NULL) goto fail;
                int stored = PyDict_SetItem(cache, service, fresh);
                Py_DECREF(fresh);
                if (stored < 0) goto fail;
                entry = fresh;  /* the cache holds it */
            }
            if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 4 || !PyTuple_Check(PyTuple_GET_ITEM(entry, 0)) ||
                PyTuple_GET_SIZE(PyTuple_GET_ITEM(entry, 0)) != 7 || !PyDict_Check(PyTuple_GET_ITEM(entry, 1))) {
                PyErr_SetString(PyExc_TypeError, "features_rows: per_service must return ((7 arrays), dict, graph, type)");
                goto fail;
            }
            PyObject *env_list = PyDict_GetItemWithError(PyTuple_GET_ITEM(entry, 1), environment);
            if (env_list == NULL && PyErr_Occurred()) goto fail;
            PyObject *version = field(record, k_version), *version_items = NULL;
            if (version == NULL && PyErr_Occurred()) goto fail;
            if (version != NULL && version != Py_None) {
                PyObject *key = PyTuple_Pack(2, service, version);
                if (key == NULL) goto fail;
                version_items = PyDict_GetItemWithError(versions, key);
                Py_DECREF(key);
                if (version_items == NULL && PyErr_Occurred()) goto fail;
            }
            PyObject *deployment_type = field(record, k_deployment_type), *change = field(record, k_change_size);
            if (PyErr_Occurred()) goto fail;
            made = make_features(&PyTuple_GET_ITEM(PyTuple_GET_ITEM(entry, 0), 0), env_list ? env_list : Py_None,
                                 version_items ? version_items : Py_None, PyTuple_GET_ITEM(entry, 2), t, -1, -1,
                                 environment, deployment_type ? deployment_type : Py_None, PyTuple_GET_ITEM(entry, 3),
                                 version ? version : Py_None, change ? change : Py_None, consts,
                                 plan, rows + i * plan->width, &past);
            if (made == NULL) goto fail;
            int written = made == Py_True;
            Py_DECREF(made);
            made = NULL;
            if (written && (made = PyFloat_FromDouble(past)) == NULL) goto fail;
        }
        if (made == NULL) {
            made = PyObject_CallOneArg(fallback, record);
            if (made == NULL) goto fail;
        }
        PyList_SET_ITEM(out, i, made);
    }
    Py_DECREF(cache);
    return out;
fail:
    Py_XDECREF(out);
    Py_XDECREF(cache);
    return NULL;
}

/* ---- Explainer: one model's encode + walk + top factors, buffers taken once ------------------
 *
 * The per-request path of an explained answer used to be four Python-level steps (feature dict
 * -> row list -> numpy row; walk with path contributions; contributions -> list; a sort of all
 * groups by |contribution|), ~20 us together. An Explainer holds the ensemble's buffers for the
 * model's lifetime (no buffer set-up per call) and does each step in one C call:
 *
 *   Explainer(feature2, threshold2, children2, value2, roots2, depth, path_contribution,
 *             numeric_names, one_hot, width)
 *     numeric_names: tuple of the numeric feature names, in column order (columns 0..n-1);
 *     one_hot: tuple of (name, {category: column}, other_column) per categorical feature.
 *   .encode(features, out)      the row of feature dict FEATURES into OUT (width doubles), as
 *                               FeatureEncoder.values: NaN -> -1, +-inf -> +-DBL_MAX, one-hot 1.0
 *   .encode_many(list, out)     the same for every dict of LIST into the rows of matrix OUT
 *   .features_rows(...)         a batch's rows straight from the history (see below)
 *   .factors(x, k, ...)         -> (sum of leaf values, [factor map, ...]) for the K groups of
 *                               largest |contribution|, ties to the lower group, zeros left
 *                               out (what a stable sort by -|c| and a skip give)
 *   .score(x)                   -> sum of leaf values
 */
typedef struct {
    PyObject_HEAD
    Buf bufs[N_ENSEMBLE_ARGS + 1];  /* [X] unused; [N_ENSEMBLE_ARGS] path_contribution */
    Ensemble e;
    const double *paths;
    Py_ssize_t groups;
    PyObject *numeric;              /* tuple of str */
    PyObject *one_hot;              /* tuple of (str, dict, int) */
    Py_ssize_t n_numeric, width;
    double *contributions;          /* groups doubles, scratch */
} Explainer;

static void explainer_dealloc(Explainer *self) {
    release(self->bufs, N_ENSEMBLE_ARGS + 1);
    Py_XDECREF(self->numeric);
    Py_XDECREF(self->one_hot);
    PyMem_Free(self->contributions);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *explainer_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *arrays[6], *paths, *numeric, *one_hot;
    long depth;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "OOOOOlOO!O!n", &arrays[1], &arrays[2], &arrays[3], &arrays[4], &arrays[5],
                          &depth, &paths, &PyTuple_Type, &numeric, &PyTuple_Type, &one_hot, &width))
        return NULL;
    Explainer *self = (Explainer *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    PyObject *prepare_args[N_ENSEMBLE_ARGS];
    prepare_args[0] = NULL;
    for (int i = 1; i < N_ENSEMBLE_ARGS; i++) prepare_args[i] = arrays[i];
    if (width <= 0 || prepare(prepare_args, self->bufs, depth, &self->e, width) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "width must be positive");
        goto fail;
    }
    Buf *p = &self->bufs[N_ENSEMBLE_ARGS];
    if (get(paths, p, 'd', 0, "path_contribution") < 0) goto fail;
    if (p->view.ndim != 2 || p->view.shape[0] != self->e.n2 / 2 || p->view.shape[1] < 1) {
        PyErr_SetString(PyExc_ValueError, "path_contribution must be (nodes, groups)");
        goto fail;
    }
    self->paths = p->view.buf;
    self->groups = p->view.shape[1];
    self->n_numeric = PyTuple_GET_SIZE(numeric);
    self->width = width;
    if (self->n_numeric > width) { PyErr_SetString(PyExc_ValueError, "more numeric names than columns"); goto fail; }
    for (Py_ssize_t i = 0; i < self->n_numeric; i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(numeric, i))) { PyErr_SetString(PyExc_TypeError, "numeric names must be str"); goto fail; }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(one_hot); i++) {
        PyObject *item = PyTuple_GET_ITEM(one_hot, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3 || !PyDict_Check(PyTuple_GET_ITEM(item, 1)) ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 2))) {
            PyErr_SetString(PyExc_TypeError, "one_hot items must be (name, dict, int)");
            goto fail;
        }
        Py_ssize_t other = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 2));
        if (other < self->n_numeric || other >= width) { PyErr_SetString(PyExc_ValueError, "one-hot column out of range"); goto fail; }
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(PyTuple_GET_ITEM(item, 1), &pos, &key, &value)) {
            Py_ssize_t column = PyLong_Check(value) ? PyLong_AsSsize_t(value) : -1;
            if (column < self->n_numeric || column >= width) { PyErr_Clear(); PyErr_SetString(PyExc_ValueError, "one-hot column out of range"); goto fail; }
        }
    }
    self->numeric = Py_NewRef(numeric);
    self->one_hot = Py_NewRef(one_hot);
    self->contributions = PyMem_Calloc(self->groups, sizeof(double));
    if (self->contributions == NULL) { PyErr_NoMemory(); goto fail; }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

/* Write the row of FEATURES into ROW (self->width doubles); -1 with an exception on error. */
static int encode_row(Explainer *self, PyObject *features, double *row) {
    if (!PyDict_Check(features)) { PyErr_SetString(PyExc_TypeError, "features must be a dict"); return -1; }
    for (Py_ssize_t i = 0; i < self->n_numeric; i++) {
        PyObject *name = PyTuple_GET_ITEM(self->numeric, i);
        PyObject *value = PyDict_GetItemWithError(features, name);
        if (value == NULL) { if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name); return -1; }
        double v = PyFloat_CheckExact(value) ? PyFloat_AS_DOUBLE(value) : PyFloat_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred()) return -1;
        if (isnan(v)) v = -1.0;
        else if (isinf(v)) v = v > 0 ? DBL_MAX : -DBL_MAX;
        row[i] = v;
    }
    for (Py_ssize_t j = self->n_numeric; j < self->width; j++) row[j] = 0.0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(self->one_hot); i++) {
        PyObject *item = PyTuple_GET_ITEM(self->one_hot, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0);
        PyObject *value = PyDict_GetItemWithError(features, name);
        if (value == NULL) { if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name); return -1; }
        PyObject *column = PyDict_GetItemWithError(PyTuple_GET_ITEM(item, 1), value);
        if (column == NULL) {
            if (PyErr_Occurred()) return -1;  /* an unhashable category: TypeError, as in values() */
            column = PyTuple_GET_ITEM(item, 2);
        }
        row[PyLong_AsSsize_t(column)] = 1.0;  /* checked to be in range at construction */
    }
    return 0;
}

/* PLAN: where each of the model's columns comes from among the 26 computed features (KEYS, the
 * feature names in make_features' order); -1 with an exception when the model reads another. */
static int row_plan(Explainer *self, PyObject *keys, RowPlan *plan) {
    *plan = (RowPlan){.width = self->width, .n_numeric = self->n_numeric, .n_one_hot = PyTuple_GET_SIZE(self->one_hot)};
    if (plan->n_numeric > 64 || plan->n_one_hot > 8) { PyErr_SetString(PyExc_ValueError, "features_rows: too many features"); return -1; }
    for (Py_ssize_t i = 0; i < plan->n_numeric + plan->n_one_hot; i++) {
        int numeric = i < plan->n_numeric;
        PyObject *name = numeric ? PyTuple_GET_ITEM(self->numeric, i) : PyTuple_GET_ITEM(PyTuple_GET_ITEM(self->one_hot, i - plan->n_numeric), 0);
        Py_ssize_t j = numeric ? 0 : 22, last = numeric ? 22 : N_FEATURE_KEYS;
        for (; j < last; j++) {
            int same = PyUnicode_Compare(PyTuple_GET_ITEM(keys, j), name);
            if (same == -1 && PyErr_Occurred()) return -1;
            if (same == 0) break;
        }
        if (j == last) { PyErr_Format(PyExc_ValueError, "features_rows: the model reads %R, which it does not compute", name); return -1; }
        if (numeric) plan->numeric[i] = j;
        else {
            PyObject *item = PyTuple_GET_ITEM(self->one_hot, i - plan->n_numeric);
            Py_ssize_t g = i - plan->n_numeric;
            plan->text[g] = j - 22;
            plan->maps[g] = PyTuple_GET_ITEM(item, 1);
            plan->other[g] = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 2));
        }
    }
    return 0;
}

/* features_rows(records, per_service, fallback, versions, consts, out) -> past_outcomes list
 *   the batch's features straight into the model's rows: each record's row goes to row i of
 *   matrix OUT (as encode would write its feature map) without building the map; returns each
 *   record's past_outcomes. Records the batch hands back are encoded from their map. */
/* The rows of RECORDS into ROWS (len(RECORDS) rows of self->width) and their past_outcomes (a
 * list of floats); the arguments as features_rows takes them. */
static PyObject *rows_of(Explainer *self, PyObject *records, PyObject *per_service, PyObject *fallback,
                         PyObject *versions, PyObject *consts, double *rows) {
    RowPlan plan;
    if (row_plan(self, PyTuple_GET_ITEM(consts, 5), &plan) < 0) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(records);
    PyObject *result = batch(records, per_service, fallback, versions, consts, &plan, rows);
    if (result == NULL) return NULL;
    static PyObject *past_key = NULL;
    if (past_key == NULL && (past_key = PyUnicode_InternFromString("past_outcomes")) == NULL) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(result, i);
        if (PyFloat_CheckExact(item)) continue;
        if (encode_row(self, item, rows + i * self->width) < 0) goto fail;  /* a map handed back */
        PyObject *past = PyDict_GetItemWithError(item, past_key);
        if (past == NULL) { if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, past_key); goto fail; }
        double value = PyFloat_AsDouble(past);
        if (value == -1.0 && PyErr_Occurred()) goto fail;
        PyObject *number = PyFloat_FromDouble(value);
        if (number == NULL) goto fail;
        PyList_SetItem(result, i, number);
    }
    return result;
fail:
    Py_DECREF(result);
    return NULL;
}

static PyObject *explainer_features_rows(Explainer *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyList_Check(args[0]) || !PyDict_Check(args[3]) || !PyTuple_Check(args[4]) ||
        PyTuple_GET_SIZE(args[4]) != 8 || !PyTuple_Check(PyTuple_GET_ITEM(args[4], 5)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(args[4], 5)) != N_FEATURE_KEYS) {
        PyErr_SetString(PyExc_TypeError, "features_rows takes (records list, per_service, fallback, versions dict, consts, out)");
        return NULL;
    }
    Buf out = {0};
    if (get(args[5], &out, 'd', 1, "out") < 0) { release(&out, 1); return NULL; }
    PyObject *result = NULL;
    if (COUNT(out) != PyList_GET_SIZE(args[0]) * self->width) PyErr_SetString(PyExc_ValueError, "out must be (len(records), width)");
    else result = rows_of(self, args[0], args[1], args[2], args[3], args[4], out.view.buf);
    release(&out, 1);
    return result;
}

static PyObject *explainer_encode(Explainer *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "encode takes 2 arguments"); return NULL; }
    Buf out = {0};
    if (get(args[1], &out, 'd', 1, "out") < 0) { release(&out, 1); return NULL; }
    PyObject *result = NULL;
    if (COUNT(out) != self->width) PyErr_SetString(PyExc_ValueError, "out must hold one row");
    else if (encode_row(self, args[0], out.view.buf) == 0) result = Py_NewRef(Py_None);
    release(&out, 1);
    return result;
}

static PyObject *explainer_encode_many(Explainer *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0])) { PyErr_SetString(PyExc_TypeError, "encode_many takes a list and a matrix"); return NULL; }
    Buf out = {0};
    if (get(args[1], &out, 'd', 1, "out") < 0) { release(&out, 1); return NULL; }
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(args[0]);
    if (COUNT(out) != n * self->width) { PyErr_SetString(PyExc_ValueError, "out must be (len(list), width)"); goto done; }
    double *rows = out.view.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (encode_row(self, PyList_GET_ITEM(args[0], i), rows + i * self->width) < 0) goto done;
    result = Py_NewRef(Py_None);
done:
    release(&out, 1);
    return result;
}

/* Sum of leaf values of row X (self->width doubles); with SUM non-NULL, the path contributions
 * are added up there too. Returns 0, or -1 with the corrupt-arrays error. */
static int walk(Explainer *self, const double *x, double *total, double *sum) {
    const Ensemble *e = &self->e;
    double t_sum = 0.0;
    if (sum) memset(sum, 0, self->groups * sizeof(double));
    for (Py_ssize_t t = 0; t < e->n_trees; t++) {
        int64_t node2 = leaf2(e, x, t);
        if (node2 < 0) { corrupt(); return -1; }
        t_sum += e->value2[node2];
        if (sum) {
            const double *row = self->paths + (node2 >> 1) * self->groups;
            for (Py_ssize_t g = 0; g < self->groups; g++) sum[g] += row[g];
        }
    }
    *total = t_sum;
    return 0;
}

static int take_row(Explainer *self, PyObject *obj, Buf *buf) {
    if (get(obj, buf, 'd', 0, "x") < 0) return -1;
    if (COUNT(*buf) != self->width) { PyErr_SetString(PyExc_ValueError, "x must hold one row"); return -1; }
    return 0;
}

static PyObject *explainer_score(Explainer *self, PyObject *x_obj) {
    Buf x = {0};
    PyObject *result = NULL;
    double total;
    if (take_row(self, x_obj, &x) == 0 && walk(self, x.view.buf, &total, NULL) == 0)
        result = PyFloat_FromDouble(total);
    release(&x, 1);
    return result;
}

/* The K groups of largest |c| into PICKED (at most 64): a scan per pick, strict ">" keeps the
 * lower group on ties, zeros (and NaN) are never picked. Returns how many, or -1 (ValueError). */
static Py_ssize_t pick_top(Explainer *self, const double *c, Py_ssize_t k, Py_ssize_t *picked) {
    unsigned char used[1024];  /* picked groups */
    if (self->groups > 1024 || k > 64) { PyErr_SetString(PyExc_ValueError, "too many groups for factors"); return -1; }
    memset(used, 0, self->groups);
    Py_ssize_t n = 0;
    while (n < k) {
        Py_ssize_t best = -1;
        double best_abs = 0.0;
        for (Py_ssize_t g = 0; g < self->groups; g++) {
            double a = fabs(c[g]);
            if (!used[g] && a > best_abs) { best_abs = a; best = g; }
        }
        if (best < 0) break;  /* only zeros (or NaN) left */
        used[best] = 1;
        picked[n++] = best;
    }
    return n;
}

/* round(x, digits) as Python gives it (float.__round__: the exact value of X rounded to DIGITS
 * decimals, halves to even, then the double nearest that decimal). Mostly done here: y = x *
 * 10^digits is the exact product rounded once, so unless the product lies within y's rounding
 * error of a half, nearbyint(y) is the exact product's rounded integer r; and r / 10^digits, one
 * correctly rounded division of exact doubles, is the double nearest the decimal. Near a half
 * (and for huge or non-finite X) Python's own method decides. */
static PyObject *s_round, *s_feature, *s_value, *s_contribution, *s_description, *s_similarity;

static PyObject *python_round(double x, int digits) {
    static const double powers[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    if (digits >= 0 && digits <= 8 && isfinite(x)) {
        double y = x * powers[digits];
        if (fabs(y) < 4503599627370496.0) {  /* 2^52: y - nearbyint(y) is exact */
            double r = nearbyint(y);
            if (fabs(fabs(y - r) - 0.5) > ldexp(fabs(y), -50)) return PyFloat_FromDouble(r / powers[digits]);
        }
    }
    PyObject *number = PyFloat_FromDouble(x), *places = PyLong_FromLong(digits), *rounded = NULL;
    if (number != NULL && places != NULL) rounded = PyObject_CallMethodObjArgs(number, s_round, places, NULL);
    Py_XDECREF(number);
    Py_XDECREF(places);
    return rounded;
}

/* round_like_python(x, digits): python_round, for the tests (held to round() there) */
static PyObject *round_like_python(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyFloat_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "round_like_python takes (float, int)");
        return NULL;
    }
    long digits = PyLong_AsLong(args[1]);
    if (digits == -1 && PyErr_Occurred()) return NULL;
    if (digits < -1000 || digits > 1000) { PyErr_SetString(PyExc_ValueError, "digits out of range"); return NULL; }
    return python_round(PyFloat_AS_DOUBLE(args[0]), (int)digits);
}

/* Walk row X_OBJ with path contributions (into self->contributions, the sum into TOTAL) and pick
 * the K_OBJ groups of largest |contribution| into PICKED; returns how many, or -1 with an error. */
static Py_ssize_t walk_and_pick(Explainer *self, PyObject *x_obj, PyObject *k_obj, double *total, Py_ssize_t *picked) {
    Py_ssize_t k = PyLong_AsSsize_t(k_obj);
    if (k == -1 && PyErr_Occurred()) return -1;
    if (k < 0) k = 0;
    if (k > self->groups) k = self->groups;
    Buf x = {0};
    int walked = take_row(self, x_obj, &x) == 0 && walk(self, x.view.buf, total, self->contributions) == 0;
    release(&x, 1);
    return walked ? pick_top(self, self->contributions, k, picked) : -1;
}

/* factors(x, k, features, groups, sentences, describe) -> (sum of leaf values, [factor map, ...])
 *   the K groups of largest |contribution| (pick_top) as the wire's factor maps, built here: {"feature": groups[g], "value":
 *   features[groups[g]], "contribution": round(c, 6), "description": sentences[(name, value,
 *   c > 0)]}, a sentence missing from the cache made by describe(name, value, c) (which keeps
 *   it there). The same maps FailurePredictor.answer builds in Python (tested). */
static PyObject *explainer_factors(Explainer *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyDict_Check(args[2]) || !PyTuple_Check(args[3]) || !PyDict_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "factors takes (x, k, features dict, groups tuple, sentences dict, describe)");
        return NULL;
    }
    PyObject *features = args[2], *groups = args[3], *sentences = args[4], *describe = args[5];
    if (PyTuple_GET_SIZE(groups) != self->groups) { PyErr_SetString(PyExc_ValueError, "groups must name every group"); return NULL; }
    PyObject *result = NULL, *list = NULL;
    double total, *c = self->contributions;
    Py_ssize_t picked[64];
    Py_ssize_t n = walk_and_pick(self, args[0], args[1], &total, picked);
    if (n < 0 || (list = PyList_New(n)) == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        double contribution = c[picked[i]];
        PyObject *name = PyTuple_GET_ITEM(groups, picked[i]);
        PyObject *value = PyDict_GetItemWithError(features, name);
        if (value == NULL) { if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name); goto done; }
        Py_INCREF(value);
        PyObject *key = Py_BuildValue("(OOO)", name, value, contribution > 0 ? Py_True : Py_False);
        PyObject *text = key ? PyDict_GetItemWithError(sentences, key) : NULL;
        Py_XDECREF(key);
        if (text != NULL) Py_INCREF(text);
        else if (!PyErr_Occurred()) text = PyObject_CallFunction(describe, "OOd", name, value, contribution);
        PyObject *rounded = text ? python_round(contribution, 6) : NULL;
        PyObject *factor = rounded ? PyDict_New() : NULL;
        int failed = factor == NULL || PyDict_SetItem(factor, s_feature, name) < 0 ||
                     PyDict_SetItem(factor, s_value, value) < 0 || PyDict_SetItem(factor, s_contribution, rounded) < 0 ||
                     PyDict_SetItem(factor, s_description, text) < 0;
        Py_DECREF(value);
        Py_XDECREF(text);
        Py_XDECREF(rounded);
        if (failed) { Py_XDECREF(factor); goto done; }
        PyList_SET_ITEM(list, i, factor);
    }
    result = Py_BuildValue("(dO)", total, list);
done:
    Py_XDECREF(list);
    return result;
}

/* similar(block, begin, end, row, k, positions, distances, scale, mean, spread, index_list, described, base)
 *   nearest(...) with the scale and column statistics, then the wire map of each row found, nearest first: a copy of
 *   described[i] (base(i) makes and keeps it when missing), i = index_list[begin + position],
 *   with "similarity": round(1 / (1 + distance), 4). NeighbourPool._similar's maps (tested). */
static PyObject *similar(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 13 || !PyList_Check(args[10]) || !PyDict_Check(args[11])) {
        PyErr_SetString(PyExc_TypeError, "similar takes nearest's 10 arguments, index_list, described, base");
        return NULL;
    }
    PyObject *count = nearest(self, args, 10);
    if (count == NULL) return NULL;
    Py_ssize_t found = PyLong_AsSsize_t(count), begin = PyLong_AsSsize_t(args[1]);
    Py_DECREF(count);
    PyObject *index_list = args[10], *described = args[11], *base = args[12], *list = NULL;
    Buf bufs[2] = {0};
    if (get(args[5], &bufs[0], 'q', 0, "positions") < 0 || get(args[6], &bufs[1], 'd', 0, "distances") < 0) goto done;
    const int64_t *positions = bufs[0].view.buf;
    const double *distances = bufs[1].view.buf;
    if ((list = PyList_New(found)) == NULL) goto done;
    for (Py_ssize_t j = 0; j < found; j++) {
        Py_ssize_t at = begin + positions[j];
        if (at < 0 || at >= PyList_GET_SIZE(index_list)) { PyErr_SetString(PyExc_ValueError, "index_list is shorter than the block"); goto fail; }
        PyObject *i = PyList_GET_ITEM(index_list, at);
        PyObject *fixed = PyDict_GetItemWithError(described, i);
        if (fixed != NULL) Py_INCREF(fixed);
        else if (PyErr_Occurred() || (fixed = PyObject_CallOneArg(base, i)) == NULL) goto fail;
        PyObject *map = PyDict_Check(fixed) ? PyDict_Copy(fixed) : NULL;
        Py_DECREF(fixed);
        if (map == NULL) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "base must give a dict"); goto fail; }
        PyObject *rounded = python_round(1.0 / (1.0 + distances[j]), 4);
        if (rounded == NULL || PyDict_SetItem(map, s_similarity, rounded) < 0) { Py_XDECREF(rounded); Py_DECREF(map); goto fail; }
        Py_DECREF(rounded);
        PyList_SET_ITEM(list, j, map);
    }
    goto done;
fail:
    Py_CLEAR(list);
done:
    release(bufs, 2);
    return list;
}

static PyMethodDef explainer_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))explainer_encode, METH_FASTCALL, "The row of a feature dict into out."},
    {"encode_many", (PyCFunction)(void (*)(void))explainer_encode_many, METH_FASTCALL, "The rows of a list of feature dicts into out."},
    {"features_rows", (PyCFunction)(void (*)(void))explainer_features_rows, METH_FASTCALL,
     "The rows of a list of deployments into out, their maps never built; their past_outcomes."},
    {"score", (PyCFunction)explainer_score, METH_O, "Sum of the leaf values row x reaches."},
    {"factors", (PyCFunction)(void (*)(void))explainer_factors, METH_FASTCALL,
     "(sum of leaf values, [factor map, ...]) for the k largest |contribution|."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ExplainerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "predictor.models._kernel.Explainer",
    .tp_basicsize = sizeof(Explainer),
    .tp_dealloc = (destructor)explainer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One model's encode, walk and top factors, its buffers held for its lifetime.",
    .tp_methods = explainer_methods,
    .tp_new = explainer_new,
};

/* ---- WirePredict: a whole `predict` request, from its payload to its reply payload ----------
 *
 * The daemon's per-request path for `predict` in Python is a dozen steps (decode and check the
 * envelope, check the deployment, convert its start, the feature map, the row, the factors,
 * the calibration, the level, the similar deployments, the answer map, the reply envelope, the
 * packing): ~30 us warm, 50-60 us in the daemon, where the client ran between two requests and
 * left the caches cold. WirePredict.answer(payload, waited_ms) does them in one call, on the
 * same state and with the same compiled pieces (make_features, encode_row, the walk, factors,
 * similar), and packs the reply itself; `predict_batch` likewise, each deployment as a predict
 * answers it, or without factors as answer_many does (rows straight from the history, walked
 * eight side by side).
 *
 * It answers only requests it is sure of, and returns None for every other: the daemon then
 * takes the Python path, which answers or words the precise error. Sure means: a msgpack map
 * of the canonical envelope keys (protocol 1, an id of 1 to 128 chars, method "predict" with a
 * deployment map or "predict_batch" with 1 to 1000 of them, perhaps `explain` true or false,
 * perhaps deadline_ms not yet passed), nothing else; each deployment's values are str, int64,
 * float64, bool, nil, or maps (str keys, each once) and arrays of them, and plain_deployment
 * (predictor._shapes) vouches for it; it has its start as epoch seconds; its service has enough
 * history (no abstention); every value of the reply packs as ormsgpack packs it. The reply is
 * the same bytes the Python path sends (tested on random and mutated requests).
 *
 *   WirePredict(explainer, groups, sentences, describe, service_parts, versions, consts, nearest,
 *               row, plain, base_rate, version, calibration, risk_levels, min_history, top, similar,
 *               numbers, features)
 *     service_parts: FeatureState.service_parts; nearest: NeighbourPool.nearest; row: the
 *     predictor's reused row buffer; plain: _shapes.plain_deployment; calibration: (kind, slope,
 *     intercept, baseline, calibrate_one), kind 1 computed here, others by calibrate_one;
 *     risk_levels: ((bound, level), ...), "critical" above the last; numbers: records.record_numbers
 *     (the change size read from a metadata or configuration map); features: FeatureState.features
 *     (a batch's rows the compiled batch hands back).
 *   .answer(payload, waited_ms) -> (request id, reply payload, method) or None
 */
#define WIRE_MAX_PAYLOAD (4 * 1024 * 1024)  /* protocol.MAX_MESSAGE_BYTES (tested equal) */

typedef struct { const unsigned char *p, *end; } Rd;

static int rd_uint(Rd *r, int n, uint64_t *out) {
    if (r->end - r->p < n) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | r->p[i];
    r->p += n;
    *out = v;
    return 1;
}

/* a map or str header (TAG's fix range, then its 8/16/32-bit forms); 0 when it is not one */
static int rd_map(Rd *r, uint64_t *n) {
    if (r->p >= r->end) return 0;
    unsigned char b = *r->p++;
    if ((b & 0xf0) == 0x80) { *n = b & 0x0f; return 1; }
    if (b == 0xde) return rd_uint(r, 2, n);
    if (b == 0xdf) return rd_uint(r, 4, n);
    return 0;
}

static int rd_str(Rd *r, const char **s, uint64_t *n) {
    if (r->p >= r->end) return 0;
    unsigned char b = *r->p++;
    if ((b & 0xe0) == 0xa0) *n = b & 0x1f;
    else if (!((b == 0xd9 && rd_uint(r, 1, n)) || (b == 0xda && rd_uint(r, 2, n)) || (b == 0xdb && rd_uint(r, 4, n))))
        return 0;
    if ((uint64_t)(r->end - r->p) < *n) return 0;
    *s = (const char *)r->p;
    r->p += *n;
    return 1;
}

/* an int that fits int64, in any of msgpack's forms */
static int rd_int(Rd *r, long long *v) {
    if (r->p >= r->end) return 0;
    unsigned char b = *r->p++;
    uint64_t u;
    if (b <= 0x7f) { *v = b; return 1; }
    if (b >= 0xe0) { *v = (signed char)b; return 1; }
    switch (b) {
    case 0xcc: if (!rd_uint(r, 1, &u)) return 0; *v = (long long)u; return 1;
    case 0xcd: if (!rd_uint(r, 2, &u)) return 0; *v = (long long)u; return 1;
    case 0xce: if (!rd_uint(r, 4, &u)) return 0; *v = (long long)u; return 1;
    case 0xcf: if (!rd_uint(r, 8, &u) || u > (uint64_t)INT64_MAX) return 0; *v = (long long)u; return 1;
    case 0xd0: if (!rd_uint(r, 1, &u)) return 0; *v = (int8_t)u; return 1;
    case 0xd1: if (!rd_uint(r, 2, &u)) return 0; *v = (int16_t)u; return 1;
    case 0xd2: if (!rd_uint(r, 4, &u)) return 0; *v = (int32_t)u; return 1;
    case 0xd3: if (!rd_uint(r, 8, &u)) return 0; *v = (int64_t)u; return 1;
    default: return 0;
    }
}

static int same(const char *s, uint64_t n, const char *name) { return n == strlen(name) && memcmp(s, name, n) == 0; }

/* a deployment value: a new str, int, float, bool or None; NULL (an error perhaps set) for
 * anything else (containers, float32, bin, ext, invalid UTF-8) */
static PyObject *rd_scalar(Rd *r) {
    if (r->p >= r->end) return NULL;
    unsigned char b = *r->p;
    if (b == 0xc0) { r->p++; Py_RETURN_NONE; }
    if (b == 0xc2) { r->p++; Py_RETURN_FALSE; }
    if (b == 0xc3) { r->p++; Py_RETURN_TRUE; }
    if (b == 0xcb) {
        uint64_t bits;
        r->p++;
        if (!rd_uint(r, 8, &bits)) return NULL;
        double d;
        memcpy(&d, &bits, 8);
        return PyFloat_FromDouble(d);
    }
    if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb) {
        const char *s;
        uint64_t n;
        if (!rd_str(r, &s, &n)) return NULL;
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "strict");
    }
    long long v;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3))
        return rd_int(r, &v) ? PyLong_FromLongLong(v) : NULL;
    return NULL;
}

/* a deployment value: a scalar (rd_scalar), or a map of str keys (each once) or an array of such
 * values, nested at most 8 deep; NULL (an error perhaps set) for anything else */
static PyObject *rd_value(Rd *r, int depth) {
    if (r->p >= r->end || depth > 8) return NULL;
    unsigned char b = *r->p;
    uint64_t n;
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
        r->p++;
        if ((b & 0xf0) == 0x90) n = b & 0x0f;
        else if (!rd_uint(r, b == 0xdc ? 2 : 4, &n)) return NULL;
        if (n > (uint64_t)(r->end - r->p)) return NULL;  /* each item takes a byte at least */
        PyObject *list = PyList_New((Py_ssize_t)n);
        if (list == NULL) return NULL;
        for (uint64_t i = 0; i < n; i++) {
            PyObject *item = rd_value(r, depth + 1);
            if (item == NULL) { Py_DECREF(list); return NULL; }
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
        }
        return list;
    }
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
        if (!rd_map(r, &n) || n > (uint64_t)(r->end - r->p)) return NULL;
        PyObject *map = PyDict_New();
        if (map == NULL) return NULL;
        for (uint64_t i = 0; i < n; i++) {
            const char *s;
            uint64_t length;
            PyObject *key = rd_str(r, &s, &length) ? PyUnicode_DecodeUTF8(s, (Py_ssize_t)length, "strict") : NULL;
            PyObject *item = key ? rd_value(r, depth + 1) : NULL;
            int stored = item && PyDict_Contains(map, key) == 0 ? PyDict_SetItem(map, key, item) : -1;  /* a key twice: Python refuses it */
            Py_XDECREF(key);
            Py_XDECREF(item);
            if (stored < 0) { Py_DECREF(map); return NULL; }
        }
        return map;
    }
    return rd_scalar(r);
}

/* ---- packing, as ormsgpack packs (smallest int and str forms, float64) ---------------------- */
typedef struct { char *buf; Py_ssize_t len, cap; } Out;

static int out_put(Out *o, const void *p, Py_ssize_t n) {
    if (o->len + n > o->cap) {
        Py_ssize_t cap = o->cap ? o->cap : 2048;
        while (cap < o->len + n) cap *= 2;
        char *grown = PyMem_Realloc(o->buf, cap);
        if (grown == NULL) { PyErr_NoMemory(); return -1; }
        o->buf = grown;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static int out_tagged(Out *o, unsigned char tag, uint64_t v, int bytes) {
    unsigned char b[9];
    b[0] = tag;
    for (int i = 0; i < bytes; i++) b[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    return out_put(o, b, 1 + bytes);
}

static int out_head(Out *o, unsigned char fix, Py_ssize_t fix_limit, unsigned char t16, Py_ssize_t n) {
    if (n < fix_limit) { unsigned char b = (unsigned char)(fix | n); return out_put(o, &b, 1); }
    if (n < 65536) return out_tagged(o, t16, (uint64_t)n, 2);
    return out_tagged(o, (unsigned char)(t16 + 1), (uint64_t)n, 4);
}

static int out_str(Out *o, const char *s, Py_ssize_t n) {
    if (n < 32) { unsigned char b = (unsigned char)(0xa0 | n); if (out_put(o, &b, 1) < 0) return -1; }
    else if (n < 256) { if (out_tagged(o, 0xd9, (uint64_t)n, 1) < 0) return -1; }
    else if (n < 65536) { if (out_tagged(o, 0xda, (uint64_t)n, 2) < 0) return -1; }
    else if (out_tagged(o, 0xdb, (uint64_t)n, 4) < 0) return -1;
    return out_put(o, s, n);
}

static int out_cstr(Out *o, const char *s) { return out_str(o, s, (Py_ssize_t)strlen(s)); }

static int out_int(Out *o, long long v) {
    if (v >= 0) {
        if (v < 128) { unsigned char b = (unsigned char)v; return out_put(o, &b, 1); }
        if (v < 256) return out_tagged(o, 0xcc, (uint64_t)v, 1);
        if (v < 65536) return out_tagged(o, 0xcd, (uint64_t)v, 2);
        if (v < 4294967296LL) return out_tagged(o, 0xce, (uint64_t)v, 4);
        return out_tagged(o, 0xcf, (uint64_t)v, 8);
    }
    if (v >= -32) { unsigned char b = (unsigned char)(signed char)v; return out_put(o, &b, 1); }
    if (v >= -128) return out_tagged(o, 0xd0, (uint64_t)v & 0xff, 1);
    if (v >= -32768) return out_tagged(o, 0xd1, (uint64_t)v & 0xffff, 2);
    if (v >= -2147483648LL) return out_tagged(o, 0xd2, (uint64_t)v & 0xffffffff, 4);
    return out_tagged(o, 0xd3, (uint64_t)v, 8);
}

static int out_float(Out *o, double d) {
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return out_tagged(o, 0xcb, bits, 8);
}

/* VALUE packed; 1 when done, 0 when it holds something this does not pack (the caller then
 * leaves the request to Python), -1 on an error */
static int out_value(Out *o, PyObject *value, int depth) {
    if (depth > 8) return 0;
    if (value == Py_None) return out_put(o, "\xc0", 1) < 0 ? -1 : 1;
    if (value == Py_True) return out_put(o, "\xc3", 1) < 0 ? -1 : 1;
    if (value == Py_False) return out_put(o, "\xc2", 1) < 0 ? -1 : 1;
    if (PyFloat_CheckExact(value)) return out_float(o, PyFloat_AS_DOUBLE(value)) < 0 ? -1 : 1;
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow) return 0;  /* beyond int64: ormsgpack's own rules */
        if (v == -1 && PyErr_Occurred()) return -1;
        return out_int(o, v) < 0 ? -1 : 1;
    }
    if (PyUnicode_CheckExact(value)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(value, &n);
        if (s == NULL) { PyErr_Clear(); return 0; }  /* lone surrogates: not UTF-8 */
        return out_str(o, s, n) < 0 ? -1 : 1;
    }
    if (PyDict_CheckExact(value)) {
        if (out_head(o, 0x80, 16, 0xde, PyDict_GET_SIZE(value)) < 0) return -1;
        PyObject *key, *item;
        Py_ssize_t pos = 0;
        while (PyDict_Next(value, &pos, &key, &item)) {
            if (!PyUnicode_CheckExact(key)) return 0;
            int done = out_value(o, key, depth + 1);
            if (done > 0) done = out_value(o, item, depth + 1);
            if (done <= 0) return done;
        }
        return 1;
    }
    if (PyList_CheckExact(value)) {
        Py_ssize_t n = PyList_GET_SIZE(value);
        if (out_head(o, 0x90, 16, 0xdc, n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            int done = out_value(o, PyList_GET_ITEM(value, i), depth + 1);
            if (done <= 0) return done;
        }
        return 1;
    }
    return 0;
}

static const char *WIRE_KEYS[] = {"id", "service", "version", "environment", "deployment_type", "started",
                                  "change_size", "metadata", "configuration", "past_outcomes"};
enum { K_ID, K_SERVICE, K_VERSION, K_ENVIRONMENT, K_TYPE, K_STARTED, K_CHANGE, K_METADATA, K_CONFIGURATION, K_PAST,
       N_WIRE_KEYS };

typedef struct {
    PyObject_HEAD
    Explainer *explainer;
    PyObject *groups, *sentences, *describe, *service_parts, *versions, *consts, *nearest, *row, *plain,
             *base_rate, *version, *calibrate, *risk_levels, *top, *similar_k, *numbers, *features;
    PyObject *methods[2];  /* "predict", "predict_batch" */
    double slope, intercept, baseline;
    long kind, min_history;
    Buf row_view;
    Out out;
    PyObject *keys[N_WIRE_KEYS];  /* WIRE_KEYS, interned */
} WirePredict;

static void wire_dealloc(WirePredict *self) {
    release(&self->row_view, 1);
    Py_XDECREF(self->explainer);
    PyObject **refs[] = {&self->groups, &self->sentences, &self->describe, &self->service_parts, &self->versions,
                         &self->consts, &self->nearest, &self->row, &self->plain, &self->base_rate, &self->version,
                         &self->calibrate, &self->risk_levels, &self->top, &self->similar_k, &self->numbers,
                         &self->features, &self->methods[0], &self->methods[1]};
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) Py_CLEAR(*refs[i]);
    for (int i = 0; i < N_WIRE_KEYS; i++) Py_CLEAR(self->keys[i]);
    PyMem_Free(self->out.buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *wire_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *explainer, *groups, *sentences, *describe, *service_parts, *versions, *consts, *nearest, *row, *plain,
             *base_rate, *version, *calibration, *risk_levels, *top, *similar_k, *numbers, *features;
    long min_history;
    if (!PyArg_ParseTuple(args, "O!O!O!OOO!O!OOOO!O!O!O!lO!O!OO", &ExplainerType, &explainer, &PyTuple_Type, &groups,
                          &PyDict_Type, &sentences, &describe, &service_parts, &PyDict_Type, &versions, &PyTuple_Type,
                          &consts, &nearest, &row, &plain, &PyFloat_Type, &base_rate, &PyUnicode_Type, &version,
                          &PyTuple_Type, &calibration, &PyTuple_Type, &risk_levels, &min_history, &PyLong_Type, &top,
                          &PyLong_Type, &similar_k, &numbers, &features))
        return NULL;
    if (PyTuple_GET_SIZE(consts) != 8 || !PyTuple_Check(PyTuple_GET_ITEM(consts, 5)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(consts, 5)) != N_FEATURE_KEYS) {
        PyErr_SetString(PyExc_TypeError, "WirePredict: consts must be FeatureState.kernel_constants");
        return NULL;
    }
    double slope, intercept, baseline;
    long kind;
    PyObject *calibrate;
    if (!PyArg_ParseTuple(calibration, "ldddO", &kind, &slope, &intercept, &baseline, &calibrate)) return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(risk_levels); i++) {
        PyObject *pair = PyTuple_GET_ITEM(risk_levels, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyFloat_Check(PyTuple_GET_ITEM(pair, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "risk_levels must be ((float, str), ...)");
            return NULL;
        }
    }
    WirePredict *self = (WirePredict *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    if (get(row, &self->row_view, 'd', 1, "row") < 0) goto fail;
    if (COUNT(self->row_view) != ((Explainer *)explainer)->width) { PyErr_SetString(PyExc_ValueError, "row must be the model's width"); goto fail; }
    for (int i = 0; i < N_WIRE_KEYS; i++)
        if ((self->keys[i] = PyUnicode_InternFromString(WIRE_KEYS[i])) == NULL) goto fail;
    self->explainer = (Explainer *)Py_NewRef(explainer);
    self->groups = Py_NewRef(groups); self->sentences = Py_NewRef(sentences); self->describe = Py_NewRef(describe);
    self->service_parts = Py_NewRef(service_parts); self->versions = Py_NewRef(versions); self->consts = Py_NewRef(consts);
    self->nearest = Py_NewRef(nearest); self->row = Py_NewRef(row); self->plain = Py_NewRef(plain);
    self->base_rate = Py_NewRef(base_rate); self->version = Py_NewRef(version); self->calibrate = Py_NewRef(calibrate);
    self->risk_levels = Py_NewRef(risk_levels); self->top = Py_NewRef(top); self->similar_k = Py_NewRef(similar_k);
    self->numbers = Py_NewRef(numbers);
    self->features = Py_NewRef(features);
    if ((self->methods[0] = PyUnicode_InternFromString("predict")) == NULL ||
        (self->methods[1] = PyUnicode_InternFromString("predict_batch")) == NULL)
        goto fail;
    self->slope = slope; self->intercept = intercept; self->baseline = baseline;
    self->kind = kind; self->min_history = min_history;
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

enum { E_PROTOCOL = 1, E_ID = 2, E_METHOD = 4, E_PARAMS = 8, E_DEADLINE = 16,
       P_DEPLOYMENT = 1, P_DEPLOYMENTS = 2, P_EXPLAIN = 4, MAX_WIRE_BATCH = 1000 };

/* What wire_envelope took of a request: its id, and the deployment of a predict or the
 * deployments of a predict_batch (new references), and explain. */
typedef struct {
    PyObject *id, *deployment, *deployments;
    int batch, explain;
} Wire;

static void wire_clear(Wire *w) {
    Py_CLEAR(w->id);
    Py_CLEAR(w->deployment);
    Py_CLEAR(w->deployments);
}

/* A deployment map (a new dict, the known keys interned), or NULL (an error perhaps set) when
 * it is not one this path takes: not a map, a key that is not a str or comes twice, a value
 * rd_value does not read. */
static PyObject *rd_deployment(WirePredict *self, Rd *r) {
    uint64_t fields, length;
    const char *s;
    if (!rd_map(r, &fields) || fields > 32) return NULL;
    PyObject *deployment = PyDict_New();
    if (deployment == NULL) return NULL;
    for (uint64_t f = 0; f < fields; f++) {
        if (!rd_str(r, &s, &length)) goto no;
        PyObject *key = NULL;
        for (int k = 0; k < K_PAST && key == NULL; k++)
            if (same(s, length, WIRE_KEYS[k])) key = Py_NewRef(self->keys[k]);
        if (key == NULL && (key = PyUnicode_DecodeUTF8(s, (Py_ssize_t)length, "strict")) == NULL) goto no;
        PyObject *item = rd_value(r, 0);
        int stored = item && PyDict_Contains(deployment, key) == 0 ? PyDict_SetItem(deployment, key, item) : -1;
        Py_DECREF(key);
        Py_XDECREF(item);
        if (stored < 0) goto no;
    }
    return deployment;
no:
    Py_DECREF(deployment);
    return NULL;
}

/* The envelope of PAYLOAD as this path takes it, into W; 0 when it is not a request this path
 * is sure of: a predict with its deployment, or a predict_batch of 1 to 1000 deployments (with
 * explain true or false, or without it: true). */
static int wire_envelope(WirePredict *self, const unsigned char *data, Py_ssize_t size, double waited_ms, Wire *w) {
    Rd r = {data, data + size};
    uint64_t n, m, length;
    const char *s;
    int seen = 0, seen_params = 0;
    *w = (Wire){NULL, NULL, NULL, 0, 1};
    if (size > WIRE_MAX_PAYLOAD || !rd_map(&r, &n) || n > 16) return 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!rd_str(&r, &s, &length)) goto no;
        int bit = same(s, length, "protocol") ? E_PROTOCOL : same(s, length, "id") ? E_ID :
                  same(s, length, "method") ? E_METHOD : same(s, length, "params") ? E_PARAMS :
                  same(s, length, "deadline_ms") ? E_DEADLINE : 0;
        if (bit == 0 || (seen & bit)) goto no;  /* a key Python ignores, or twice: Python decides */
        seen |= bit;
        long long v;
        switch (bit) {
        case E_PROTOCOL:
            if (!rd_int(&r, &v) || v != 1) goto no;
            break;
        case E_ID:
            if (!rd_str(&r, &s, &length) || length == 0 || length > 4 * 128) goto no;
            if ((w->id = PyUnicode_DecodeUTF8(s, (Py_ssize_t)length, "strict")) == NULL) goto no;
            if (PyUnicode_GET_LENGTH(w->id) > 128) goto no;
            break;
        case E_METHOD:
            if (!rd_str(&r, &s, &length)) goto no;
            if (same(s, length, "predict")) w->batch = 0;
            else if (same(s, length, "predict_batch")) w->batch = 1;
            else goto no;
            break;
        case E_DEADLINE:
            if (r.p < r.end && *r.p == 0xc0) { r.p++; break; }
            if (!rd_int(&r, &v) || v < 0 || v > 86400000 || waited_ms >= (double)v) goto no;
            break;
        case E_PARAMS:
            if (!rd_map(&r, &m) || m > 2) goto no;
            for (uint64_t j = 0; j < m; j++) {
                if (!rd_str(&r, &s, &length)) goto no;
                if (same(s, length, "explain") && !(seen_params & P_EXPLAIN)) {
                    seen_params |= P_EXPLAIN;
                    if (r.p >= r.end || (*r.p != 0xc2 && *r.p != 0xc3)) goto no;
                    w->explain = *r.p++ == 0xc3;
                } else if (same(s, length, "deployment") && !(seen_params & P_DEPLOYMENT)) {
                    seen_params |= P_DEPLOYMENT;
                    if ((w->deployment = rd_deployment(self, &r)) == NULL) goto no;
                } else if (same(s, length, "deployments") && !(seen_params & P_DEPLOYMENTS)) {
                    seen_params |= P_DEPLOYMENTS;
                    uint64_t count;
                    unsigned char b = r.p < r.end ? *r.p++ : 0;
                    if ((b & 0xf0) == 0x90) count = b & 0x0f;
                    else if (!(b == 0xdc && rd_uint(&r, 2, &count)) && !(b == 0xdd && rd_uint(&r, 4, &count))) goto no;
                    if (count < 1 || count > MAX_WIRE_BATCH) goto no;
                    if ((w->deployments = PyList_New((Py_ssize_t)count)) == NULL) goto no;
                    for (uint64_t k = 0; k < count; k++) {
                        PyObject *deployment = rd_deployment(self, &r);
                        if (deployment == NULL) goto no;
                        PyList_SET_ITEM(w->deployments, (Py_ssize_t)k, deployment);
                    }
                } else goto no;
            }
            break;
        }
    }
    if (r.p != r.end || (seen & ~E_DEADLINE) != (E_PROTOCOL | E_ID | E_METHOD | E_PARAMS)) goto no;
    /* a predict names one deployment; a batch lists them */
    if (w->batch ? (seen_params & P_DEPLOYMENT) || !(seen_params & P_DEPLOYMENTS)
                 : (seen_params & P_DEPLOYMENTS) || !(seen_params & P_DEPLOYMENT))
        goto no;
    return 1;
no:
    if (PyErr_Occurred()) PyErr_Clear();
    wire_clear(w);
    return 0;
}

static PyObject *wire_item(PyObject *map, PyObject *key) {  /* field(), or Py_None when absent */
    PyObject *value = field(map, key);
    return value ? value : Py_None;
}

/* The reply envelope up to its result: {"protocol": 1, "id": ID, "ok": true, "result": ... */
static int out_head_id(Out *o, PyObject *id) {
    static const char head[] = "\x84\xa8protocol\x01\xa2id";
    int done = out_put(o, head, sizeof(head) - 1) < 0 ? -1 : out_value(o, id, 0);
    return done <= 0 ? done : out_put(o, "\xa2ok\xc3", 4) < 0 ? -1 : 1;
}

/* One answer map of the raw score RAW (the sum of leaf values), packed: the calibrated
 * probability (PackedEnsemble.calibrate_one), its level, FACTORS and SIMILAR (lists). */
static int out_answer(WirePredict *self, Out *o, PyObject *deployment, double raw, PyObject *factors, PyObject *similar) {
    double score = self->baseline + raw, probability;
    if (self->kind == 1) {  /* calibrate_one's kind 1 (built with -ffp-contract=off: no fused multiply-add) */
        double z = self->slope * score;
        z = z + self->intercept;
        probability = z > -700 ? 1.0 / (1.0 + exp(-z)) : 0.0;
    } else {
        PyObject *argument = PyFloat_FromDouble(score);
        PyObject *calibrated = argument ? PyObject_CallOneArg(self->calibrate, argument) : NULL;
        Py_XDECREF(argument);
        if (calibrated == NULL) return -1;
        int plain = PyFloat_CheckExact(calibrated);
        probability = plain ? PyFloat_AS_DOUBLE(calibrated) : 0.0;
        Py_DECREF(calibrated);
        if (!plain) return 0;
    }
    PyObject *level = NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(self->risk_levels) && level == NULL; i++) {
        PyObject *pair = PyTuple_GET_ITEM(self->risk_levels, i);
        if (probability < PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(pair, 0))) level = PyTuple_GET_ITEM(pair, 1);
    }
    static const char head[] = "\x88\xad" "deployment_id";
    int done = out_put(o, head, sizeof(head) - 1) < 0 ? -1 : out_value(o, wire_item(deployment, self->keys[K_ID]), 0);
    if (done <= 0) return done;
    if (out_cstr(o, "base_rate") < 0 || out_float(o, PyFloat_AS_DOUBLE(self->base_rate)) < 0 ||
        out_cstr(o, "model_version") < 0 || out_value(o, self->version, 0) <= 0 ||
        out_cstr(o, "failure_probability") < 0 || out_float(o, probability) < 0 ||
        out_cstr(o, "risk_level") < 0 || (level ? out_value(o, level, 0) <= 0 : out_cstr(o, "critical") < 0) ||
        out_cstr(o, "abstained") < 0 || out_put(o, "\xc2", 1) < 0 || out_cstr(o, "factors") < 0)
        return -1;
    if ((done = out_value(o, factors, 0)) <= 0) return done;
    if (out_cstr(o, "similar_deployments") < 0) return -1;
    return out_value(o, similar, 0);
}

/* The answer map of one deployment (a predict's, or one of a batch's), packed onto O: 1 done, 0
 * when this path is not sure (Python answers), -1 on an error. */
static int wire_answer_map(WirePredict *self, Out *o, PyObject *deployment, int explain) {
    PyObject **key = self->keys;
    PyObject *verdict = PyObject_CallOneArg(self->plain, deployment);
    if (verdict == NULL) return -1;
    Py_DECREF(verdict);
    long long t;
    if (verdict != Py_True || !epoch_micros(wire_item(deployment, key[K_STARTED]), &t)) return 0;
    PyObject *service = wire_item(deployment, key[K_SERVICE]), *environment = wire_item(deployment, key[K_ENVIRONMENT]);
    PyObject *version = wire_item(deployment, key[K_VERSION]);
    PyObject *parts = NULL, *features = NULL, *factors = NULL, *similar = NULL, *numbers = NULL;
    int done = -1;
    if (PyErr_Occurred() || (parts = PyObject_CallOneArg(self->service_parts, service)) == NULL) goto end;
    if (!PyTuple_Check(parts) || PyTuple_GET_SIZE(parts) != 4 || !PyTuple_Check(PyTuple_GET_ITEM(parts, 0)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(parts, 0)) != 7 || !PyDict_Check(PyTuple_GET_ITEM(parts, 1))) {
        PyErr_SetString(PyExc_TypeError, "WirePredict: service_parts must return ((7 arrays), dict, graph, type)");
        goto end;
    }
    PyObject *env_list = PyDict_GetItemWithError(PyTuple_GET_ITEM(parts, 1), environment), *version_items = NULL;
    if (env_list == NULL && PyErr_Occurred()) goto end;
    if (version != Py_None) {
        PyObject *pair = PyTuple_Pack(2, service, version);
        if (pair == NULL) goto end;
        version_items = PyDict_GetItemWithError(self->versions, pair);
        Py_DECREF(pair);
        if (version_items == NULL && PyErr_Occurred()) goto end;
    }
    PyObject *change = wire_item(deployment, key[K_CHANGE]);
    if (wire_item(deployment, key[K_METADATA]) != Py_None || wire_item(deployment, key[K_CONFIGURATION]) != Py_None) {
        /* the change size (and the configuration's numbers) read from the maps, as features() reads them */
        if (PyErr_Occurred() || (numbers = PyObject_CallOneArg(self->numbers, deployment)) == NULL) goto end;
        change = numbers;
    }
    features = make_features(&PyTuple_GET_ITEM(PyTuple_GET_ITEM(parts, 0), 0), env_list ? env_list : Py_None,
                             version_items ? version_items : Py_None, PyTuple_GET_ITEM(parts, 2), t, -1, -1, environment,
                             wire_item(deployment, key[K_TYPE]), PyTuple_GET_ITEM(parts, 3), version, change,
                             self->consts, NULL, NULL, NULL);
    if (features == NULL) goto end;
    if (!PyDict_CheckExact(features)) { done = 0; goto end; }  /* None: a value only the Python form reads */
    PyObject *past = PyDict_GetItemWithError(features, key[K_PAST]);
    double history = past ? PyFloat_AsDouble(past) : -1.0;
    if (history == -1.0 && PyErr_Occurred()) goto end;
    if (!(history >= 0.0 && history < 9e15) || (long long)history < self->min_history) { done = 0; goto end; }  /* abstains */
    double *row = self->row_view.view.buf, raw;
    if (encode_row(self->explainer, features, row) < 0) goto end;
    if (explain) {
        PyObject *argv[6] = {self->row, self->top, features, self->groups, self->sentences, self->describe};
        PyObject *made = explainer_factors(self->explainer, argv, 6);
        if (made == NULL) goto end;
        raw = PyFloat_AsDouble(PyTuple_GET_ITEM(made, 0));
        factors = Py_NewRef(PyTuple_GET_ITEM(made, 1));
        Py_DECREF(made);
        PyObject *before = PyLong_FromLongLong(t);
        if (before == NULL) goto end;
        PyObject *nargv[4] = {self->row, service, before, self->similar_k};
        similar = PyObject_Vectorcall(self->nearest, nargv, 4, NULL);
        Py_DECREF(before);
        if (similar == NULL) goto end;
    } else {
        if (walk(self->explainer, row, &raw, NULL) < 0) goto end;
        if ((factors = PyList_New(0)) == NULL || (similar = PyList_New(0)) == NULL) goto end;
    }
    done = out_answer(self, o, deployment, raw, factors, similar);
end:
    Py_XDECREF(parts);
    Py_XDECREF(numbers);
    Py_XDECREF(features);
    Py_XDECREF(factors);
    Py_XDECREF(similar);
    return done;
}

/* The reply of a predict_batch WIRE_ENVELOPE took, packed into self->out. With EXPLAIN, each
 * answer as a predict's (wire_answer_map); without, as answer_many gives them: the rows written
 * straight from the history (rows_of, as FeatureState.encode_many), walked eight side by side
 * (score_rows). 0 when this path is not sure: a deployment plain_deployment does not vouch for
 * or without its start (the Python batch then validates them all), or one the model abstains
 * for. */
static int wire_compute_batch(WirePredict *self, PyObject *id, PyObject *deployments, int explain) {
    Py_ssize_t n = PyList_GET_SIZE(deployments), width = self->explainer->width;
    static const char predictions[] = "\xa6result\x81\xabpredictions";
    if (explain) {  /* each answer as a predict's (FailurePredictor.answer per deployment) */
        Out *o = &self->out;
        o->len = 0;
        int done = out_head_id(o, id);
        if (done <= 0) return done;
        if (out_put(o, predictions, sizeof(predictions) - 1) < 0 || out_head(o, 0x90, 16, 0xdc, n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n && done > 0; i++) done = wire_answer_map(self, o, PyList_GET_ITEM(deployments, i), 1);
        return done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *deployment = PyList_GET_ITEM(deployments, i);
        PyObject *verdict = PyObject_CallOneArg(self->plain, deployment);
        if (verdict == NULL) return -1;
        Py_DECREF(verdict);
        if (verdict != Py_True || wire_item(deployment, self->keys[K_STARTED]) == Py_None) return 0;
        if (PyErr_Occurred()) return -1;
    }
    double *rows = PyMem_Malloc((size_t)(n * width + n) * sizeof(double)), *scores = rows ? rows + n * width : NULL;
    if (rows == NULL) { PyErr_NoMemory(); return -1; }
    int done = -1;
    PyObject *pasts = rows_of(self->explainer, deployments, self->service_parts, self->features, self->versions,
                              self->consts, rows);
    if (pasts == NULL) goto end;
    if (score_rows(&self->explainer->e, rows, n, width, scores) < 0) { corrupt(); goto end; }
    for (Py_ssize_t i = 0; i < n; i++) {
        double past = PyFloat_AS_DOUBLE(PyList_GET_ITEM(pasts, i));  /* rows_of gives floats only */
        if (!(past >= 0.0 && past < 9e15) || (long long)past < self->min_history) { done = 0; goto end; }  /* abstains */
    }
    Out *o = &self->out;
    o->len = 0;
    if ((done = out_head_id(o, id)) <= 0) goto end;
    done = -1;
    if (out_put(o, predictions, sizeof(predictions) - 1) < 0 || out_head(o, 0x90, 16, 0xdc, n) < 0) goto end;
    PyObject *empty = PyList_New(0);
    if (empty == NULL) goto end;
    for (Py_ssize_t i = 0; i < n && (done = out_answer(self, o, PyList_GET_ITEM(deployments, i), scores[i], empty, empty)) > 0; i++)
        ;
    Py_DECREF(empty);
end:
    PyMem_Free(rows);
    Py_XDECREF(pasts);
    return done;
}

static PyObject *wire_answer(WirePredict *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "answer takes (payload bytes, waited_ms)");
        return NULL;
    }
    double waited = PyFloat_AsDouble(args[1]);
    if (waited == -1.0 && PyErr_Occurred()) return NULL;
    Wire w;
    if (!wire_envelope(self, (const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), waited, &w))
        Py_RETURN_NONE;
    int done;
    if (w.batch) done = wire_compute_batch(self, w.id, w.deployments, w.explain);
    else {
        self->out.len = 0;
        done = out_head_id(&self->out, w.id);
        if (done > 0) done = out_put(&self->out, "\xa6result", 7) < 0 ? -1 : wire_answer_map(self, &self->out, w.deployment, w.explain);
    }
    PyObject *answer = NULL;
    if (done <= 0) {  /* not sure, or an error: the Python path answers (and words any error) */
        PyErr_Clear();
        answer = Py_NewRef(Py_None);
    } else {
        PyObject *payload = PyBytes_FromStringAndSize(self->out.buf, self->out.len);
        answer = payload ? PyTuple_Pack(3, w.id, payload, self->methods[w.batch]) : NULL;
        Py_XDECREF(payload);
    }
    wire_clear(&w);
    return answer;
}

/* pack(value) -> the msgpack bytes ormsgpack would give, or None for a value the reply packer
 * leaves to Python (the tests hold the packer to ormsgpack's bytes through this) */
static PyObject *wire_pack(PyObject *self, PyObject *value) {
    Out o = {0};
    int done = out_value(&o, value, 0);
    PyObject *result = done > 0 ? PyBytes_FromStringAndSize(o.buf ? o.buf : "", o.len) : NULL;
    PyMem_Free(o.buf);
    if (done == 0) Py_RETURN_NONE;
    return result;
}

static PyMethodDef wire_methods[] = {
    {"answer", (PyCFunction)(void (*)(void))wire_answer, METH_FASTCALL,
     "(request id, reply payload) for a predict request this path is sure of, else None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WirePredictType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "predictor.models._kernel.WirePredict",
    .tp_basicsize = sizeof(WirePredict),
    .tp_dealloc = (destructor)wire_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A predict request's reply payload from its payload, in one call (None: Python answers).",
    .tp_methods = wire_methods,
    .tp_new = wire_new,
};

static PyMethodDef methods[] = {
    {"score", (PyCFunction)(void (*)(void))score, METH_FASTCALL, "Sum of the leaf values row x reaches."},
    {"explain", (PyCFunction)(void (*)(void))explain, METH_FASTCALL, "Sum of leaf values; path contributions into out."},
    {"score_many", (PyCFunction)(void (*)(void))score_many, METH_FASTCALL, "Sums of leaf values for every row."},
    {"nearest", (PyCFunction)(void (*)(void))nearest, METH_FASTCALL, "K nearest rows of a window, exactly."},
    {"similar", (PyCFunction)(void (*)(void))similar, METH_FASTCALL, "The wire maps of the K nearest rows of a window."},
    {"features_core", (PyCFunction)(void (*)(void))features_core, METH_FASTCALL,
     "The counts of a deployment's point-in-time features, from a service's int64 arrays."},
    {"features_dict", (PyCFunction)(void (*)(void))features_dict, METH_FASTCALL,
     "A deployment's serving feature map (None: the Python form answers)."},
    {"round_like_python", (PyCFunction)(void (*)(void))round_like_python, METH_FASTCALL,
     "round(x, digits) as the kernel computes it for the wire (the tests hold it to round())."},
    {"pack", wire_pack, METH_O, "VALUE packed as WirePredict packs replies (None: a value it leaves to Python)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernel", "Compiled hot loops of the failure model.", -1, methods};

PyMODINIT_FUNC PyInit__kernel(void) {
    PyDateTime_IMPORT;
    if ((s_round = PyUnicode_InternFromString("__round__")) == NULL ||
        (s_feature = PyUnicode_InternFromString("feature")) == NULL ||
        (s_value = PyUnicode_InternFromString("value")) == NULL ||
        (s_contribution = PyUnicode_InternFromString("contribution")) == NULL ||
        (s_description = PyUnicode_InternFromString("description")) == NULL ||
        (s_similarity = PyUnicode_InternFromString("similarity")) == NULL)
        return NULL;
    if (PyDateTimeAPI == NULL) return NULL;
    static const char *names[] = {"service", "environment", "started", "version", "deployment_type", "change_size",
                                  "configuration", "metadata"};
    PyObject **slots[] = {&k_service, &k_environment, &k_started, &k_version, &k_deployment_type, &k_change_size,
                          &k_configuration, &k_metadata};
    for (int i = 0; i < 8; i++)
        if ((*slots[i] = PyUnicode_InternFromString(names[i])) == NULL) return NULL;
    if (PyType_Ready(&ExplainerType) < 0 || PyType_Ready(&WirePredictType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Explainer", (PyObject *)&ExplainerType) < 0 ||
        PyModule_AddObjectRef(m, "WirePredict", (PyObject *)&WirePredictType) < 0 ||
        PyModule_AddIntConstant(m, "WIRE_MAX_PAYLOAD", WIRE_MAX_PAYLOAD) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
