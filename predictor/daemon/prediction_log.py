"""The prediction log: every served prediction, written to the store in batches off the hot path.

The request thread only appends a tuple to a deque (no JSON, no DuckDB): for the champion's and
a challenger's answers, the request's and the reply's msgpack payloads as they went over the
wire, so that no map of a request stays alive until the flush (kept maps made every request
allocate fresh memory and set off the cyclic collector every ~60 requests); a background thread
with its own DuckDB cursor turns the pending entries into rows of the ``predictions`` table
every ``interval`` seconds, and :meth:`PredictionLog.close` writes what is left at shutdown.
The writer runs at a lower priority (:mod:`predictor.daemon.priority`) and turns entries into
rows :data:`CHUNK` at a time, handing the GIL back between chunks, so a request arriving during
a flush waits for one chunk at most, not for the whole flush. It also waits for a lull: before
each chunk it looks at when the daemon's latest request arrived, and while that is less than
:data:`QUIET` ago it sleeps and looks again, each sleep twice as long as the one before up to
:data:`MAX_WAIT` (under a steady stream the writer wakes a few times a second, not 200: with
the daemon pinned to one CPU each wake-up took the CPU, and the GIL, from a request). The log costs
tens of microseconds of CPU per prediction (decoding, JSON, the insert); on a busy CPU that
work would otherwise compete with the answers. It stops waiting when the backlog passes half
of either bound (entries or bytes), so a long burst is written while it runs instead of being
dropped, and at shutdown.
Outcomes recorded later join on ``deployment_id``; the ``role`` column says whether the
champion, a challenger or a shadow model answered, with its ``model_version``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable

import duckdb
import msgpack
import ormsgpack
import orjson
import pyarrow as pa

from predictor.daemon.journal import event
from predictor.daemon.priority import lower_this_thread

#: rows made between two hand-backs of the GIL (about 0.2 ms of work)
CHUNK = 16
#: how long without a request counts as a lull (seconds)
QUIET = 0.005
#: the longest the writer sleeps between two looks while requests keep arriving (seconds)
MAX_WAIT = 0.2

#: the pending rows arrive as an Arrow table registered under this name (one bulk insert per flush)
_INSERT = """
INSERT OR IGNORE INTO predictions
    (request_id, deployment_id, method, requested_at, model_version, role, request, features, answer)
SELECT request_id, deployment_id, method, make_timestamp(requested_us), model_version, role,
       request, features, answer
FROM pending_predictions
"""
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _to_json(value: Any) -> str:
    """VALUE as JSON text (orjson: ~15x faster than the json module on an answer, which matters
    because the writer thread shares the CPU with the request thread; NaN becomes null, which
    DuckDB's JSON type accepts, where the json module would write the invalid token NaN)."""
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()
_COLUMNS = ("request_id", "deployment_id", "method", "requested_us", "model_version", "role", "request", "features", "answer")


class PredictionLog:
    """A bounded queue of predictions and the thread that stores them."""

    def __init__(self, store: Any, log: logging.Logger, *, interval: float = 1.0, capacity: int = 50_000,
                 capacity_bytes: int = 256 * 1024 * 1024, enabled: bool = True,
                 last_request: Callable[[], float] | None = None) -> None:
        self.store = store
        self.log = log
        self.interval = interval
        self.capacity = capacity
        #: bound on the payload bytes waiting (a batch entry holds up to 1,000 answers); two
        #: counters, each written by one thread only, give the bytes waiting without a lock
        self.capacity_bytes = capacity_bytes
        self._bytes_added = 0     # request thread
        self._bytes_taken = 0     # writer
        self.enabled = enabled
        #: when the daemon's latest request arrived, on time.monotonic's clock (None: write
        #: without waiting for a lull)
        self.last_request = last_request
        self._in_flight = 0  # entries taken by the flush in progress
        self.pending: collections.deque = collections.deque()
        self.written = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one writer at a time: the thread, or close()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background writer (no-op when disabled)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def add(self, request_id: str, method: str, requested_at: float, role: str, deployment: dict, answer: dict) -> None:
        """Queue one prediction (called on the request thread: O(1), no I/O)."""
        if not self.enabled:
            return
        if len(self.pending) >= self.capacity:
            self.dropped += 1
            return
        self.pending.append((request_id, method, requested_at, role, deployment, answer))

    def add_payloads(self, request_id: str, method: str, requested_at: float, role: str, request: bytes,
                     reply: bytes) -> None:
        """Queue the predictions of one answered ``predict`` or ``predict_batch``, given as the
        request's and the reply's payloads (called on the request thread: O(1), no decoding)."""
        if not self.enabled:
            return
        size = len(request) + len(reply)
        if len(self.pending) >= self.capacity or self._bytes_added - self._bytes_taken + size > self.capacity_bytes:
            self.dropped += 1
            return
        self._bytes_added += size
        self.pending.append((request_id, method, requested_at, role, request, reply))

    def _table(self, entries: list, *, yield_every: int = 0) -> pa.Table:
        """The Arrow table of ENTRIES; with YIELD_EVERY, hand the GIL back after every that many."""
        columns: dict[str, list] = {name: [] for name in _COLUMNS}
        seen = set()
        for count, (request_id, method, requested_at, role, deployment, answer) in enumerate(_rows(entries), 1):
            if yield_every and count % yield_every == 0:
                self._await_lull()
                time.sleep(0)  # lets a waiting request thread take the GIL now, not at the switch interval
            if (request_id, role) in seen:  # a client reused a request id: keep the first
                continue
            seen.add((request_id, role))
            columns["request_id"].append(request_id)
            columns["deployment_id"].append(deployment.get("id") if isinstance(deployment, dict) else None)
            columns["method"].append(method)
            columns["requested_us"].append(int(requested_at * 1_000_000))
            columns["model_version"].append(answer.get("model_version") if isinstance(answer, dict) else None)
            columns["role"].append(role)
            columns["request"].append(_to_json(deployment))
            columns["features"].append(_features_json(answer))
            columns["answer"].append(_to_json(answer))
        return pa.table({name: pa.array(values, type=pa.int64() if name == "requested_us" else pa.string())
                         for name, values in columns.items()})

    def flush(self, con: Any, *, yield_every: int = 0) -> int:
        """Write every pending entry with CON (a DuckDB connection or cursor); return rows written.
        YIELD_EVERY: see :meth:`_table` (the background writer passes :data:`CHUNK`)."""
        with self._lock:
            entries = []
            while self.pending:
                entries.append(self.pending.popleft())
            if not entries:
                return 0
            self._in_flight = len(entries)  # still waiting, for _backlogged, until they are rows
            try:
                table = self._table(entries, yield_every=yield_every)
            finally:
                self._in_flight = 0
                self._bytes_taken += sum(len(e[4]) + len(e[5]) for e in entries if type(e[4]) is bytes)
            try:
                con.register("pending_predictions", table)
                try:
                    con.execute(_INSERT)
                finally:
                    con.unregister("pending_predictions")
            except duckdb.Error as exc:
                self.dropped += table.num_rows
                event(self.log, logging.ERROR, "prediction_log_failed", rows=table.num_rows, error=str(exc))
                return 0
            self.written += table.num_rows
            return table.num_rows

    @property
    def waiting(self) -> int:
        """Entries not written yet: queued, or taken by the flush in progress."""
        return len(self.pending) + self._in_flight

    def _backlogged(self) -> bool:
        """Whether the waiting entries passed half of either bound."""
        return (len(self.pending) + self._in_flight >= self.capacity // 2
                or self._bytes_added - self._bytes_taken >= self.capacity_bytes // 2)

    def _await_lull(self) -> None:
        """Sleep while requests keep arriving (see the module docstring)."""
        if self.last_request is None:
            return
        wait = QUIET
        while not self._stop.is_set() and not self._backlogged():
            if time.monotonic() - self.last_request() >= QUIET:
                return
            time.sleep(wait)
            wait = min(2 * wait, MAX_WAIT)

    def _run(self) -> None:
        lower_this_thread()
        cursor = self.store.con.cursor()
        try:
            while not self._stop.wait(self.interval):
                if self.pending:
                    self._await_lull()
                self.flush(cursor, yield_every=CHUNK)
        finally:
            cursor.close()

    def close(self) -> int:
        """Stop the thread and write what is left with the store's own connection; return rows written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self.flush(self.store.con) if self.enabled else 0


def _rows(entries: list):
    """Each prediction of ENTRIES as (request id, method, time, role, deployment, answer); an
    entry of payloads is decoded here, a ``predict_batch`` one into a row per deployment with
    the request id suffixed ``#index``."""
    for entry in entries:
        request_id, method, requested_at, role, request, reply = entry
        if type(request) is not bytes:
            yield entry
            continue
        params = _unpack(request).get("params") or {}
        result = _unpack(reply).get("result") or {}
        if method == "predict":
            yield request_id, method, requested_at, role, params.get("deployment"), result
            continue
        for index, (deployment, answer) in enumerate(zip(params.get("deployments") or (),
                                                         result.get("predictions") or ())):
            yield f"{request_id}#{index}", method, requested_at, role, deployment, answer


def _unpack(payload: bytes) -> Any:
    """A payload that crossed the wire, decoded (ormsgpack, 2x faster; msgpack if it refuses)."""
    try:
        return ormsgpack.unpackb(payload)
    except Exception:
        return msgpack.unpackb(payload, raw=False)


def _features_json(answer: dict) -> str | None:
    features = answer.get("features") if isinstance(answer, dict) else None
    return _to_json(features) if features is not None else None
