/* _shapes.c -- the accept path of the Deployment shape checks, compiled.
 *
 * Every `predict` request's deployment map is checked twice in Python: once against the wire
 * shape (predictor/daemon/shapes.py, check_deployment) and once by the models' own rules
 * (predictor/models/answers.py, validate_deployment). Together ~7 us a map, most of it for maps
 * that are fine. plain_deployment(value) answers, in one pass over the map's items, "both
 * checks surely accept VALUE": it returns True only then. False means "not sure": the Python
 * checks run and either accept or word the precise error. So this file never decides what is
 * an error and never words one; it can only skip work (the tests hold it to that).
 *
 * Accepted: a dict whose `service` and `environment` are str with a non-space character (at
 * most 100,000 characters), and whose other known keys hold what both checks accept (see
 * KEYS below); keys it does not know are ignored, as both checks ignore them. A key whose
 * check is not written here (lessons_learned, performance maps) makes it answer False.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define MAX_TEXT 100000
#define MAX_EPOCH 4102444800LL  /* 2100-01-01T00:00:00Z, shapes.MAX_EPOCH and answers.MAX_TIME */

enum Kind { TEXT_REQUIRED, TEXT, STARTED, TIME, DURATION, MAP, BOOL, TYPE, STATUS, TEXT_LIST, NOT_HERE };

typedef struct { const char *name; enum Kind kind; } Key;

/* shapes._DEPLOYMENT_KEYS, each with the rule both checks agree on */
static const Key KEYS[] = {
    {"id", TEXT}, {"service", TEXT_REQUIRED}, {"version", TEXT}, {"environment", TEXT_REQUIRED},
    {"deployment_type", TYPE}, {"started", STARTED}, {"completed", TIME}, {"status", STATUS},
    {"initiator", TEXT}, {"metadata", MAP}, {"parent_id", TEXT}, {"duration_seconds", DURATION},
    {"change_size", DURATION}, {"configuration", MAP}, {"commit_time", TIME}, {"name", TEXT},
    {"strategy", TEXT}, {"source_environment", TEXT}, {"target_host", TEXT}, {"resources", TEXT_LIST},
    {"failure_reasons", TEXT_LIST}, {"rollback_triggered", BOOL}, {"rollback_successful", BOOL},
    {"automated", BOOL}, {"log_excerpt", TEXT}, {"performance", NOT_HERE}, {"lessons_learned", NOT_HERE},
};
#define N_KEYS ((Py_ssize_t)(sizeof(KEYS) / sizeof(KEYS[0])))
#define COMPLETED 6  /* KEYS[6] */

static const char *TYPES[] = {"blue-green", "canary", "rolling", "big-bang", "feature-flag", "a-b-test", NULL};
static const char *STATUSES[] = {"pending", "in-progress", "success", "failure", "rolled-back", "partial",
                                 "cancelled", NULL};

static PyObject *key_names[N_KEYS];  /* interned str of KEYS, made at import */

static int one_of(PyObject *value, const char **choices) {
    if (!PyUnicode_CheckExact(value)) return 0;
    const char *text = PyUnicode_AsUTF8(value);
    if (text == NULL) { PyErr_Clear(); return 0; }
    for (int i = 0; choices[i]; i++)
        if (strcmp(text, choices[i]) == 0) return 1;
    return 0;
}

/* epoch seconds between 1970 and 2100, an exact int or float (bool is neither) */
static int plain_time(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) {
        double v = PyFloat_AS_DOUBLE(value);
        if (!(v >= 0.0 && v <= (double)MAX_EPOCH)) return 0;  /* NaN fails too */
        *out = v;
        return 1;
    }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
        if (v < 0 || v > MAX_EPOCH) return 0;
        *out = (double)v;
        return 1;
    }
    return 0;
}

/* a non-empty str of at most MAX_TEXT characters, not all white space (str.strip() keeps some) */
static int named(PyObject *value) {
    if (!PyUnicode_CheckExact(value)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    if (n == 0 || n > MAX_TEXT) return 0;
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) return 1;
    return 0;
}

static int accepted(PyObject *value, enum Kind kind, double *time) {
    if (value == Py_None) return kind != TEXT_REQUIRED && kind != STARTED;  /* "started": nil is refused */
    switch (kind) {
    case TEXT_REQUIRED: return named(value);
    case TEXT: return PyUnicode_CheckExact(value);
    case STARTED:
    case TIME: return plain_time(value, time);
    case DURATION:
        if (PyFloat_CheckExact(value)) { double v = PyFloat_AS_DOUBLE(value); return isfinite(v) && v >= 0.0; }
        if (PyLong_CheckExact(value)) {  /* an int beyond int64 is left to the Python checks */
            int overflow;
            long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
            if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
            return v >= 0;
        }
        return 0;
    case MAP: return PyDict_CheckExact(value);
    case BOOL: return PyBool_Check(value);
    case TYPE: return one_of(value, TYPES);
    case STATUS: return one_of(value, STATUSES);
    case TEXT_LIST:  /* an array of str (shapes._optional_str_list) */
        if (!PyList_CheckExact(value)) return 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++)
            if (!PyUnicode_CheckExact(PyList_GET_ITEM(value, i))) return 0;
        return 1;
    default: return 0;
    }
}

static PyObject *plain_deployment(PyObject *self, PyObject *value) {
    if (!PyDict_CheckExact(value)) Py_RETURN_FALSE;
    PyObject *key, *item;
    Py_ssize_t pos = 0;
    int required = 0;
    double started = -1.0, completed = -1.0;
    while (PyDict_Next(value, &pos, &key, &item)) {
        if (!PyUnicode_CheckExact(key)) continue;  /* not a known key: both checks ignore it */
        Py_ssize_t k = 0;
        while (k < N_KEYS && key != key_names[k]) k++;
        if (k == N_KEYS) {  /* not the interned name: compare the text */
            for (k = 0; k < N_KEYS; k++)
                if (PyUnicode_Compare(key, key_names[k]) == 0) break;
            if (PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_FALSE; }
            if (k == N_KEYS) continue;
        }
        double time = -1.0;
        if (!accepted(item, KEYS[k].kind, &time)) Py_RETURN_FALSE;
        if (KEYS[k].kind == TEXT_REQUIRED) required++;
        if (KEYS[k].kind == STARTED) started = time;
        else if (k == COMPLETED && item != Py_None) completed = time;
    }
    if (required != 2) Py_RETURN_FALSE;  /* service or environment missing */
    if (started >= 0.0 && completed >= 0.0 && completed < started) Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"plain_deployment", plain_deployment, METH_O,
     "True when a Deployment map surely passes both the wire shape check and the models' check."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_shapes", "The accept path of the Deployment checks.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__shapes(void) {
    for (Py_ssize_t k = 0; k < N_KEYS; k++) {
        key_names[k] = PyUnicode_InternFromString(KEYS[k].name);
        if (key_names[k] == NULL) return NULL;
    }
    return PyModule_Create(&module);
}
