/* _zmqloop.c -- the daemon's receive-answer-send step for the requests a compiled path answers.
 *
 * In the daemon a request's trip through Python costs more than answering it: pyzmq's
 * recv_multipart and send_multipart loop over the frames in Python, and the loop, the drain and
 * the handler add a dozen Python calls. On one CPU, where the client ran in between and left
 * the caches cold, that is 10-20 us per request. serve_one(socket, answer) does one message's
 * receive, the compiled answer (WirePredict.answer) and the reply's send in C, on the daemon's
 * own ROUTER socket, through the libzmq that pyzmq loaded:
 *
 *   load(path)              bind the libzmq functions from PATH (the library pyzmq loaded, found
 *                           in /proc/self/maps; dlopen with RTLD_NOLOAD: never a second copy)
 *   serve_one(socket, answer)
 *     socket: the pyzmq socket's `underlying` address; answer: (payload, waited_ms) -> None or
 *     (request id, reply payload, method). Receives one message (blocking up to the socket's
 *     RCVTIMEO, with the GIL released). Returns None when none came (timeout or a signal: the
 *     caller's loop then looks at its flags); (request id, request payload, reply payload,
 *     method) when ANSWER answered it and the reply went out to the same routing frames; else
 *     the message's frames as a list of bytes, for the Python path to handle (which also words
 *     every refusal).
 *
 * A message is answered here only in the envelope the Python path routes: one or more routing
 * frames, an empty delimiter, one payload. Send errors raise OSError (a ROUTER without
 * ROUTER_MANDATORY drops replies to peers gone, as send_multipart does).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

typedef struct { unsigned char _[64]; } __attribute__((aligned(sizeof(void *)))) zmq_msg;  /* zmq.h's zmq_msg_t */

#define ZMQ_SNDMORE 2

static struct {
    int (*msg_init)(zmq_msg *);
    int (*msg_recv)(zmq_msg *, void *, int);
    int (*msg_close)(zmq_msg *);
    void *(*msg_data)(zmq_msg *);
    size_t (*msg_size)(const zmq_msg *);
    int (*msg_more)(const zmq_msg *);
    int (*send)(void *, const void *, size_t, int);
    int (*errno_)(void);
    void (*version)(int *, int *, int *);
} z;
static int loaded;

static PyObject *load(PyObject *self, PyObject *path_obj) {
    const char *path = PyUnicode_AsUTF8(path_obj);
    if (path == NULL) return NULL;
    void *library = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (library == NULL) {
        PyErr_Format(PyExc_OSError, "libzmq at %s is not loaded in this process", path);
        return NULL;
    }
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&z.msg_init, "zmq_msg_init"}, {(void **)&z.msg_recv, "zmq_msg_recv"},
        {(void **)&z.msg_close, "zmq_msg_close"}, {(void **)&z.msg_data, "zmq_msg_data"},
        {(void **)&z.msg_size, "zmq_msg_size"}, {(void **)&z.msg_more, "zmq_msg_more"},
        {(void **)&z.send, "zmq_send"}, {(void **)&z.errno_, "zmq_errno"}, {(void **)&z.version, "zmq_version"},
    };
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        if ((*symbols[i].slot = dlsym(library, symbols[i].name)) == NULL) {
            PyErr_Format(PyExc_OSError, "libzmq at %s has no %s", path, symbols[i].name);
            return NULL;
        }
    }
    int major, minor, patch;
    z.version(&major, &minor, &patch);
    if (major != 4) {  /* zmq_msg_t is 64 bytes in every 4.x */
        PyErr_Format(PyExc_OSError, "libzmq %d.%d.%d: this step knows libzmq 4 only", major, minor, patch);
        return NULL;
    }
    loaded = 1;
    return Py_BuildValue("(iii)", major, minor, patch);
}

static PyObject *zmq_failure(const char *what) {
    int code = z.errno_();
    return PyErr_Format(PyExc_OSError, "%s: %s", what, strerror(code));
}

static PyObject *serve_one(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "serve_one takes (socket address, answer)"); return NULL; }
    if (!loaded) { PyErr_SetString(PyExc_RuntimeError, "serve_one: load(path) first"); return NULL; }
    void *socket = PyLong_AsVoidPtr(args[0]);
    if (socket == NULL) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "socket address is 0"); return NULL; }
    PyObject *frames = PyList_New(0);
    if (frames == NULL) return NULL;
    for (int first = 1;; first = 0) {
        zmq_msg msg;
        z.msg_init(&msg);
        int received, code = 0;
        if (first) {
            Py_BEGIN_ALLOW_THREADS
            received = z.msg_recv(&msg, socket, 0);
            if (received < 0) code = z.errno_();
            Py_END_ALLOW_THREADS
        } else {
            received = z.msg_recv(&msg, socket, 0);  /* the rest of a message is there already */
            if (received < 0) code = z.errno_();
        }
        if (received < 0) {
            z.msg_close(&msg);
            Py_DECREF(frames);
            if (first && (code == EAGAIN || code == EINTR)) Py_RETURN_NONE;
            return PyErr_Format(PyExc_OSError, "receiving a request: %s", strerror(code));
        }
        PyObject *frame = PyBytes_FromStringAndSize(z.msg_data(&msg), (Py_ssize_t)z.msg_size(&msg));
        int more = z.msg_more(&msg);
        z.msg_close(&msg);
        if (frame == NULL || PyList_Append(frames, frame) < 0) {
            Py_XDECREF(frame);
            Py_DECREF(frames);
            return NULL;  /* the rest of the message stays queued; the socket is still usable */
        }
        Py_DECREF(frame);
        if (!more) break;
    }
    Py_ssize_t n = PyList_GET_SIZE(frames);
    Py_ssize_t split = 1;
    while (split < n && PyBytes_GET_SIZE(PyList_GET_ITEM(frames, split)) != 0) split++;
    if (n < 3 || split != n - 2) return frames;  /* not the routed envelope: Python decides */
    PyObject *payload = PyList_GET_ITEM(frames, n - 1);
    static PyObject *no_wait = NULL;
    if (no_wait == NULL && (no_wait = PyFloat_FromDouble(0.0)) == NULL) { Py_DECREF(frames); return NULL; }
    PyObject *argv[2] = {payload, no_wait};
    PyObject *answered = PyObject_Vectorcall(args[1], argv, 2, NULL);
    if (answered == NULL) { Py_DECREF(frames); return NULL; }
    if (answered == Py_None) { Py_DECREF(answered); return frames; }
    if (!PyTuple_CheckExact(answered) || PyTuple_GET_SIZE(answered) != 3 ||
        !PyBytes_CheckExact(PyTuple_GET_ITEM(answered, 1))) {
        Py_DECREF(answered);
        Py_DECREF(frames);
        PyErr_SetString(PyExc_TypeError, "answer must return None or (request id, reply bytes, method)");
        return NULL;
    }
    PyObject *reply = PyTuple_GET_ITEM(answered, 1);
    for (Py_ssize_t i = 0; i < n - 1; i++) {  /* the routing frames and the delimiter, then the reply */
        PyObject *frame = PyList_GET_ITEM(frames, i);
        if (z.send(socket, PyBytes_AS_STRING(frame), (size_t)PyBytes_GET_SIZE(frame), ZMQ_SNDMORE) < 0) {
            Py_DECREF(answered);
            Py_DECREF(frames);
            return zmq_failure("sending a reply");
        }
    }
    if (z.send(socket, PyBytes_AS_STRING(reply), (size_t)PyBytes_GET_SIZE(reply), 0) < 0) {
        Py_DECREF(answered);
        Py_DECREF(frames);
        return zmq_failure("sending a reply");
    }
    PyObject *result = PyTuple_Pack(4, PyTuple_GET_ITEM(answered, 0), payload, reply, PyTuple_GET_ITEM(answered, 2));
    Py_DECREF(answered);
    Py_DECREF(frames);
    return result;
}

static PyMethodDef methods[] = {
    {"load", load, METH_O, "Bind the functions of the libzmq pyzmq loaded (its path); returns its version."},
    {"serve_one", (PyCFunction)(void (*)(void))serve_one, METH_FASTCALL,
     "Receive one message; answer and reply in C when ANSWER takes it, else return its frames."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_zmqloop", "The daemon's compiled receive-answer-send step.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__zmqloop(void) { return PyModule_Create(&module); }
