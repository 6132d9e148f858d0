"""Background work gives way to the request thread.

On a machine with few CPUs (or a daemon pinned to one) the prediction log writer, model loads
and retraining compete with the request thread for the same CPU; each preempted request shows
up as a latency tail. Linux lets a thread lower its own scheduling priority (``nice`` applies per
thread there), so every background thread calls :func:`lower_this_thread` first, and the daemon
calls :func:`lower_other_threads` once at start-up for the worker threads its libraries
(DuckDB, OpenBLAS) started before it. Nowhere else is this needed: on other systems both are
no-ops. Lowering a priority needs no privilege; raising it back would.
"""

from __future__ import annotations

import os
import threading

#: nice value of background threads: a weight of about a tenth of a normal thread's under
#: contention, yet still enough CPU to keep the prediction log flowing under sustained load
BACKGROUND_NICE = 10


def _lower(tid: int) -> bool:
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
        return True
    except (OSError, AttributeError):  # not Linux, or the thread has ended
        return False


def lower_this_thread() -> bool:
    """Lower the calling thread's priority to :data:`BACKGROUND_NICE` (Linux); True when done."""
    if not hasattr(threading, "get_native_id") or not os.path.isdir("/proc/self/task"):
        return False
    return _lower(threading.get_native_id())


def lower_other_threads() -> int:
    """Lower every thread of this process except the calling one; return how many were lowered."""
    try:
        tids = [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return 0
    me = threading.get_native_id()
    return sum(_lower(tid) for tid in tids if tid != me)


def thread_nice(tid: int | None = None) -> int:
    """The nice value of thread TID (default: the calling thread)."""
    return os.getpriority(os.PRIO_PROCESS, tid if tid is not None else threading.get_native_id())
