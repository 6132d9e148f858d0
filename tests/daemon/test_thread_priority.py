"""Background threads of the real daemon run at a lower priority than its request thread."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from predictor.daemon.priority import BACKGROUND_NICE, lower_this_thread, thread_nice


def _nice_of(pid: int, tid: int) -> int:
    # field 19 of /proc/PID/task/TID/stat is the nice value (fields after the ")" of comm)
    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[16])


def test_a_thread_lowers_itself_and_no_other():
    seen = {}

    def work():
        seen["lowered"] = lower_this_thread()
        seen["nice"] = thread_nice()
        seen["tid"] = threading.get_native_id()

    before = thread_nice()
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen["lowered"] is True and seen["nice"] == max(BACKGROUND_NICE, before)
    assert thread_nice() == before  # the calling (main) thread is untouched


def test_the_daemon_lowers_every_thread_but_the_request_thread(copy_home, start_daemon):
    pid = start_daemon(copy_home).proc.pid
    deadline = time.monotonic() + 10
    while True:  # the prediction log thread has started once the daemon answers ping
        tids = [int(name) for name in os.listdir(f"/proc/{pid}/task")]
        nices = {tid: _nice_of(pid, tid) for tid in tids}
        if any(value >= BACKGROUND_NICE for tid, value in nices.items() if tid != pid) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert nices[pid] == 0, nices                       # the main thread serves requests
    lowered = [tid for tid, value in nices.items() if value >= BACKGROUND_NICE]
    normal = [tid for tid, value in nices.items() if value < BACKGROUND_NICE]
    # DuckDB's workers and the prediction log writer are lowered; the main thread and the
    # ZeroMQ I/O threads (started after the store opened) carry requests and are not
    assert len(lowered) >= 2, nices
    assert pid in normal and len(normal) >= 2, nices

