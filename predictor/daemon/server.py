"""The predictor daemon: one ROUTER socket, one request thread, background loaders and writers.

Request path (single thread, no DuckDB, no log I/O): read ``[identity…, "", payload]``, decode
and check the envelope, check the shared param shapes, call the answerer, encode, reply on the
same route. Everything slow runs elsewhere and meets the request thread only between requests:

* hot reload: a background thread loads a new :class:`AnswererSet` on its own DuckDB cursor;
  the loop swaps the reference between two requests and replays facts recorded meanwhile;
* prediction log: the loop appends to a deque, a thread writes batches to ``predictions``;
* retraining: see :mod:`predictor.daemon.retraining` (after N outcomes or on a schedule);
* champion/challenger and shadow: ``--challenger VERSION --challenger-share F`` answers a stable
  share of predictions (by request id) with another model, ``--shadow VERSION`` answers each
  prediction again after the reply left; the prediction log keeps the role and model version.

``record`` and ``feedback`` write the store on the request thread: their reply means the facts
are durable. SIGTERM/SIGINT stop the loop, answer what has already arrived, flush the
prediction log, close the store and remove the ipc socket file; SIGHUP reloads.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import zlib
from pathlib import Path
from typing import Any, Callable

import zmq

from predictor import __version__
from predictor.config import default_endpoint
from predictor.daemon.answerers import AREA_MODULES, AnswererSet, AreaState, load_answerers
from predictor.daemon.journal import event, open_journal
from predictor.daemon.prediction_log import PredictionLog
from predictor.daemon.priority import lower_other_threads, lower_this_thread
from predictor.daemon.security import (
    EndpointError, bind_private, check_endpoint, ipc_path, remove_socket_file, start_curve,
)
from predictor.daemon.shapes import check_params
from predictor.errors import IngestError, ModelNotReadyError, NotFoundError, PredictorError, ValidationError
from predictor.protocol import (
    ERROR_CODES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ProtocolError, decode_request, encode,
)
from predictor.store import FAILED_STATUSES, Store, open_store, utcnow

try:  # the compiled receive-answer-send step (setup.py builds it; optional)
    from predictor.daemon import _zmqloop
except ImportError:
    _zmqloop = None

INFO, DEBUG, WARNING, ERROR = logging.INFO, logging.DEBUG, logging.WARNING, logging.ERROR
OUTCOME_STATUSES = frozenset(("success", *FAILED_STATUSES))
PREDICTION_METHODS = frozenset(("predict", "predict_batch"))
_DEFERRED = object()  # a builtin returns this when it will reply later (reload)


@dataclasses.dataclass
class ServeOptions:
    """How to run the daemon; every field has a CLI option of ``predictor serve``."""

    db: Path | None = None
    endpoint: str | None = None
    allow_remote: bool = False
    log_level: str = "info"
    log_file: Path | None = None
    curve_secret_key: Path | None = None
    allow_client_keys: Path | None = None
    max_message_bytes: int = MAX_MESSAGE_BYTES
    high_water_mark: int = 1000
    max_wait_ms: int = 5000          # a request read but waiting longer than this is answered "overloaded"
    log_predictions: bool = True
    flush_interval: float = 1.0
    retrain_after: int = 0           # outcomes recorded before retraining in the background (0: never)
    retrain_every: float = 0.0       # seconds between scheduled retrainings (0: never)
    summary_every: float = 60.0      # seconds between summary log lines
    challenger: str | None = None    # failure model version answering a share of predict requests
    challenger_share: float = 0.0    # 0..1, chosen by a stable hash of the request id
    shadow: str | None = None        # failure model version answering every prediction too, logged only
    shutdown_grace: float = 0.2      # seconds to keep answering already-sent requests after SIGTERM


def store_view(store: Store) -> Store:
    """Return a Store sharing STORE's database through a new DuckDB cursor (for another thread)."""
    view = object.__new__(Store)
    view.path = store.path
    view.read_only = store.read_only
    view.con = store.con.cursor()
    return view


class Daemon:
    """The predictor daemon; :meth:`run` serves until SIGTERM/SIGINT and returns the exit status."""

    def __init__(self, options: ServeOptions, *, log: logging.Logger | None = None) -> None:
        self.options = options
        self.endpoint = options.endpoint or default_endpoint()
        check_endpoint(self.endpoint, allow_remote=options.allow_remote)
        self.log = log or open_journal(options.log_level, options.log_file)
        self.stopping = False
        self.started_at = time.time()
        self.requests_served = 0
        self.last_request_at = 0.0  # time.monotonic() of the latest request (the prediction log's lulls)
        self.errors = 0
        self.malformed_frames = 0
        self.queue_depth = 0
        self.by_method: collections.Counter = collections.Counter()
        self.outcomes_since_training = 0
        self.events: collections.deque = collections.deque()   # (kind, payload) from background threads
        self.reload_waiters: list[tuple[list, str]] = []
        self.loading = False
        self.recorded_while_loading: list[tuple[str, dict]] = []
        self.store: Store | None = None
        self.answerers: AnswererSet | None = None
        self._answerer_view: Store | None = None
        self.retrainer = None
        self._loader: threading.Thread | None = None
        self.fast_predict: Callable[[bytes, float], tuple[str, bytes, str] | None] | None = None  # see _swap
        self.builtins: dict[str, Callable[[Any, list], Any]] = {
            "ping": self._ping, "status": self._status, "model_info": self._model_info, "reload": self._reload,
            "record": self._record, "feedback": self._feedback,
        }

    # -- lifecycle ----------------------------------------------------------------------------
    def run(self) -> int:
        """Open the store, load answerers, bind, serve until told to stop, shut down cleanly."""
        self._refuse_if_running()
        # background threads (prediction log, loaders, retraining) hand the GIL back to the
        # request thread within 0.5 ms instead of the default 5 ms: shorter latency tails
        sys.setswitchinterval(0.0005)
        self.store = open_store(self.options.db)
        # the worker threads DuckDB and OpenBLAS started so far serve background work only:
        # they give way to this (the request) thread; threads started below lower themselves
        lower_other_threads()
        self.answerers = AnswererSet({name: AreaState(name, message="the daemon is still loading its models; retry in a moment")
                                      for name in AREA_MODULES}, generation=0)
        self.prediction_log = PredictionLog(self.store, self.log, interval=self.options.flush_interval,
                                            enabled=self.options.log_predictions,
                                            last_request=lambda: self.last_request_at)
        self.prediction_log.start()
        from predictor.daemon.retraining import Retrainer
        self.retrainer = Retrainer(self, self.options.retrain_after, self.options.retrain_every)
        context = zmq.Context()
        authenticator = None
        self.router = context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.MAXMSGSIZE, self.options.max_message_bytes)
        self.router.setsockopt(zmq.RCVHWM, self.options.high_water_mark)
        self.router.setsockopt(zmq.SNDHWM, self.options.high_water_mark)
        self.router.setsockopt(zmq.LINGER, 1000)
        try:
            if self.options.curve_secret_key is not None:
                authenticator = start_curve(context, self.router, self.options.curve_secret_key,
                                            self.options.allow_client_keys or Path("."))
            bind_private(self.router, self.endpoint)
        except zmq.ZMQError as exc:
            self._close_store()
            raise EndpointError(f"{self.endpoint}: cannot listen: {exc}") from exc
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        event(self.log, INFO, "serving", endpoint=self.endpoint, pid=os.getpid(), store=str(self.store.path),
              protocol=PROTOCOL_VERSION, curve=authenticator is not None)
        self.start_reload("startup")  # answerers load in the background; ping and status answer at once
        try:
            self._loop()
            self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.router.close(linger=1000)
            if authenticator is not None:
                authenticator.stop()
            context.term()
            remove_socket_file(self.endpoint)
            self._release_models()
        event(self.log, INFO, "stopped", requests_served=self.requests_served, errors=self.errors)
        for handler in self.log.handlers:
            handler.flush()
        return 0

    def _release_models(self) -> None:
        """Drop the loaded models and give them back to the collector (gc.freeze hid them), so
        that they, and the DuckDB objects they hold, are freed before the interpreter exits."""
        self.answerers = None
        self.fast_predict = None
        self.recorded_while_loading = []
        self.prediction_log.store = None  # it and the retrainer hold the store's connection
        self.retrainer = None
        gc.unfreeze()
        gc.collect()

    def _refuse_if_running(self) -> None:
        path = ipc_path(self.endpoint)
        if path is not None and path.exists():
            from predictor.client import daemon_running
            if daemon_running(self.endpoint, timeout=0.5):
                raise EndpointError(f"{self.endpoint}: a daemon is already serving here (stop it first)")
            path.unlink()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            self.events.append(("reload_request", None))
        else:
            self.stopping = True

    def _shutdown(self) -> None:
        """Answer what already arrived, refuse pending reloads, flush logs and facts, close the store."""
        event(self.log, INFO, "stopping", reason="signal")
        deadline = time.monotonic() + self.options.shutdown_grace
        while time.monotonic() < deadline:
            if self.router.poll(int(self.options.shutdown_grace * 1000 / 4) or 1, zmq.POLLIN):
                self._drain()
        for envelope, request_id in self.reload_waiters:
            self._send_error(envelope, request_id, "overloaded", "the daemon is shutting down; retry when it is back")
        self.reload_waiters = []
        if self.retrainer is not None:
            self.retrainer.stop()
        if self._loader is not None:  # a load still running holds a cursor: let it end, then close it
            self._loader.join(timeout=60)
        for kind, payload in self.events:
            if kind == "loaded":
                payload[1].close()
        self.events.clear()
        written = self.prediction_log.close()
        event(self.log, INFO, "prediction_log_flushed", rows=written, dropped=self.prediction_log.dropped)
        self._close_store()

    def _close_store(self) -> None:
        if self.store is None:
            return
        try:
            self.store.con.execute("CHECKPOINT")
        except Exception as exc:  # a checkpoint failure must not lose the WAL: DuckDB replays it on open
            event(self.log, WARNING, "checkpoint_failed", error=str(exc))
        if self._answerer_view is not None:
            self._answerer_view.close()
            self._answerer_view = None
        self.store.close()
        self.store = None

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        # a blocking receive with a 50 ms timeout wakes faster than a Poller and still lets the
        # loop look at signals, background events and timers at least 20 times a second
        router = self.router
        router.setsockopt(zmq.RCVTIMEO, 50)
        recv = router.recv_multipart
        serve_one, address = compiled_step(), router.underlying
        next_summary = time.monotonic() + self.options.summary_every
        served_at_summary = 0
        while not self.stopping:
            fast = self.fast_predict
            try:
                if fast is None or serve_one is None:
                    first = recv()
                else:
                    # one message received, and a request the compiled path is sure of answered
                    # and sent, in C; anything else comes back as its frames for _handle
                    first = serve_one(address, fast)
                    if type(first) is tuple:
                        request_id, payload, reply, method = first
                        first = None
                        self.requests_served += 1
                        self._compiled_answered(request_id, method, payload, reply, time.monotonic())
            except zmq.Again:
                first = None
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EINTR:
                    continue
                raise
            if first is not None:
                # a message the compiled step already declined is not offered to it again
                self._drain(first=(first, time.monotonic()), offered=fast is not None and serve_one is not None)
            if self.events:
                self._handle_events()
            now = time.monotonic()
            if now >= next_summary:
                next_summary = now + self.options.summary_every
                event(self.log, INFO, "summary", requests=self.requests_served - served_at_summary,
                      requests_served=self.requests_served, errors=self.errors, by_method=dict(self.by_method),
                      prediction_log_pending=self.prediction_log.waiting)
                served_at_summary = self.requests_served
                for handler in self.log.handlers:
                    handler.flush()
            if self.retrainer is not None:
                self.retrainer.tick(now)

    def _drain(self, limit: int = 256, first: tuple | None = None, offered: bool = False) -> None:
        """Read every message already queued (up to LIMIT, after FIRST), then answer each in order
        (OFFERED: FIRST was offered to the compiled path already, which declined it)."""
        batch = [first] if first is not None else []
        router = self.router
        recv = router.recv_multipart
        while len(batch) < limit and router.get(zmq.EVENTS) & zmq.POLLIN:  # no exception per wake-up
            try:
                batch.append((recv(zmq.NOBLOCK), time.monotonic()))
            except zmq.Again:
                break
        self.queue_depth = len(batch)
        for index, (frames, received) in enumerate(batch):
            self.queue_depth -= 1
            self._handle(frames, received, offered=offered and index == 0)

    def _compiled_answered(self, request_id: str, method: str, request: bytes, reply: bytes, received: float) -> None:
        """Count and log a request the compiled path answered (its reply already sent)."""
        self.last_request_at = received
        self.by_method[method] += 1
        self.prediction_log.add_payloads(request_id, method, time.time(), "champion", request, reply)
        if self.log.isEnabledFor(DEBUG):
            event(self.log, DEBUG, "request", id=request_id, method=method, ok=True,
                  ms=round((time.monotonic() - received) * 1000, 3))

    def _handle(self, frames: list, received: float, offered: bool = False) -> None:
        """Answer one message; never raises. OFFERED: the compiled path has declined it already."""
        try:
            split = frames.index(b"")
        except ValueError:
            split = -1
        if split < 1 or len(frames) != split + 2:
            self.malformed_frames += 1
            event(self.log, WARNING, "unroutable_message", frames=len(frames))
            return
        envelope = frames[:split + 1]
        self.requests_served += 1
        self.last_request_at = received
        if self.fast_predict is not None and not offered:
            waited_ms = (time.monotonic() - received) * 1000
            # a predict or predict_batch the compiled path is sure of: payload in, reply payload
            # out, one call (None: left to the path below, which answers or words the error)
            answered = self.fast_predict(frames[-1], waited_ms) if waited_ms <= self.options.max_wait_ms else None
            if answered is not None:
                request_id, payload, method = answered
                envelope.append(payload)
                self.router.send_multipart(envelope)
                self._compiled_answered(request_id, method, frames[-1], payload, received)
                return
        try:
            request = decode_request(frames[-1])
        except ProtocolError as exc:
            self._send_error(envelope, exc.request_id, exc.code, exc.message, exc.field)
            return
        method = request.method
        self.by_method[method] += 1
        waited_ms = (time.monotonic() - received) * 1000
        if request.deadline_ms is not None and waited_ms >= request.deadline_ms:
            self._send_error(envelope, request.id, "deadline_exceeded",
                             f"deadline_ms: the deadline of {request.deadline_ms} ms had passed before the work could start",
                             "deadline_ms")
            return
        if waited_ms > self.options.max_wait_ms:
            self._send_error(envelope, request.id, "overloaded", "the daemon's queue is full; retry later")
            return
        try:
            builtin = self.builtins.get(method)
            if builtin is not None:
                result = builtin(request, envelope)
                if result is _DEFERRED:
                    return
            else:
                params = request.params
                check_params(method, params)
                role = "champion"
                handler = self.answerers.routes.get(method)
                if method in PREDICTION_METHODS and self.answerers.roles:
                    handler, role = self._challenger_or(handler, request.id, method)
                if handler is None:
                    raise ModelNotReadyError(self.answerers.unavailable_message(method))
                result = handler(params)
            if type(result) is not dict:
                raise TypeError(f"{method} handler returned a {type(result).__name__}, expected a dict")
            payload = encode({"protocol": PROTOCOL_VERSION, "id": request.id, "ok": True, "result": result})
            if method in PREDICTION_METHODS:
                # the log keeps the two payloads as they are (flat bytes, no maps kept alive)
                self.prediction_log.add_payloads(request.id, method, time.time(), role, frames[-1], payload)
        except PredictorError as exc:
            self._send_error(envelope, request.id, *_error_of(exc))
            return
        except Exception as exc:  # a bug: log it, answer "internal", keep serving
            event(self.log, ERROR, "internal_error", method=method, id=request.id,
                  error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            self._send_error(envelope, request.id, "internal",
                             f"internal error while answering {method} ({type(exc).__name__}; see the daemon log)")
            return
        envelope.append(payload)
        self.router.send_multipart(envelope)
        if method in PREDICTION_METHODS and self.answerers.roles:
            self._shadow(request)
        if self.log.isEnabledFor(DEBUG):
            event(self.log, DEBUG, "request", id=request.id, method=method, ok=True,
                  ms=round((time.monotonic() - received) * 1000, 3))

    def _send_error(self, envelope: list, request_id: str | None, code: str, message: str,
                    field: str | None = None) -> None:
        self.errors += 1
        reply = {"protocol": PROTOCOL_VERSION, "id": request_id, "ok": False,
                 "error": {"code": code, "message": message, "field": field}}
        self.router.send_multipart([*envelope, encode(reply)])
        event(self.log, INFO if code != "internal" else ERROR, "error_reply", id=request_id, code=code,
              field=field, message=message)

    def _challenger_or(self, handler: Any, request_id: str, method: str) -> tuple[Any, str]:
        """Route a stable share of prediction requests (by request id) to the challenger."""
        challenger = self.answerers.role("challenger")
        if challenger is None:
            return handler, "champion"
        if zlib.crc32(request_id.encode()) % 10_000 < self.options.challenger_share * 10_000:
            return challenger.answerer.methods.get(method, handler), "challenger"
        return handler, "champion"

    def _shadow(self, request: Any) -> None:
        """Answer the request again with the shadow model, after the reply left; log it only."""
        shadow = self.answerers.role("shadow")
        if shadow is None:
            return
        try:
            result = shadow.answerer.methods[request.method](request.params)
        except Exception as exc:
            event(self.log, WARNING, "shadow_failed", id=request.id, error=f"{type(exc).__name__}: {exc}")
            return
        self._log_predictions(request, result, "shadow")

    def _log_predictions(self, request: Any, result: dict, role: str) -> None:
        log = self.prediction_log
        if not log.enabled:
            return
        now = time.time()
        if request.method == "predict":
            log.add(request.id, "predict", now, role, request.params["deployment"], result)
        else:
            for index, (deployment, answer) in enumerate(zip(request.params["deployments"], result.get("predictions", ()))):
                log.add(f"{request.id}#{index}", "predict_batch", now, role, deployment, answer)

    # -- background events --------------------------------------------------------------------
    def _handle_events(self) -> None:
        while self.events:
            kind, payload = self.events.popleft()
            if kind == "loaded":
                self._swap(*payload)
            elif kind == "reload_request":
                self.start_reload("signal")
            elif kind == "retrained":
                event(self.log, INFO, "retrained", **payload)
                if payload.get("promoted") or payload.get("durations_refit"):
                    # a new champion, or a refit duration model the estimates area loads on reload
                    self.start_reload("promoted" if payload.get("promoted") else "retrained")

    def start_reload(self, reason: str) -> None:
        """Load new answerers in a background thread (no-op when a load is already running)."""
        if self.loading:
            return
        self.loading = True
        self.recorded_while_loading = []
        generation = self.answerers.generation + 1
        view = store_view(self.store)
        event(self.log, INFO, "reload_started", reason=reason, generation=generation)

        def load() -> None:
            if generation > 1:  # a hot reload gives way to requests; the first load has none to serve
                lower_this_thread()
            try:
                loaded = load_answerers(view, generation, self.log, self._roles())
            except Exception as exc:  # load_answerers catches area errors; this is a daemon bug
                event(self.log, ERROR, "reload_failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
                loaded = None
            self.events.append(("loaded", (loaded, view)))

        self._loader = threading.Thread(target=load, name="answerer-loader", daemon=True)
        self._loader.start()

    def _roles(self) -> dict[str, str]:
        roles = {}
        if self.options.challenger and self.options.challenger_share > 0:
            roles["challenger"] = self.options.challenger
        if self.options.shadow:
            roles["shadow"] = self.options.shadow
        return roles

    def _swap(self, loaded: AnswererSet | None, view: Store) -> None:
        self.loading = False
        if loaded is None:
            view.close()
            for envelope, request_id in self.reload_waiters:
                self._send_error(envelope, request_id, "internal", "reload failed (see the daemon log); the old models keep serving")
            self.reload_waiters = []
            return
        for kind, record in self.recorded_while_loading:  # facts recorded while the new set was loading
            self._observe(loaded, kind, record)
        self.recorded_while_loading = []
        old_view = self._answerer_view
        self.answerers, self._answerer_view = loaded, view
        self.fast_predict = loaded.predict_wire()
        if old_view is not None:
            old_view.close()
        # the loaded models are long-lived: move them out of the collector's view, so a full
        # collection never walks them between two requests (tens of ms on a large history)
        gc.collect()
        gc.freeze()
        event(self.log, INFO, "reloaded", generation=loaded.generation, areas=loaded.describe())
        result = self._reload_result()
        for envelope, request_id in self.reload_waiters:
            envelope.append(encode({"protocol": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}))
            self.router.send_multipart(envelope)
        self.reload_waiters = []

    # -- builtin methods ----------------------------------------------------------------------
    def _ping(self, request: Any, envelope: list) -> dict:
        return {"pong": True}

    def _status(self, request: Any, envelope: list) -> dict:
        return {
            "endpoint": self.endpoint, "pid": os.getpid(), "protocol": PROTOCOL_VERSION, "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 3), "requests_served": self.requests_served,
            "errors": self.errors, "queue_depth": self.queue_depth,
            "prediction_log_pending": self.prediction_log.waiting,
            "outcomes_since_training": self.outcomes_since_training, "model_version": self.answerers.model_version,
            "generation": self.answerers.generation, "loading": self.loading, "store": str(self.store.path),
            "prediction_log_written": self.prediction_log.written, "prediction_log_dropped": self.prediction_log.dropped,
            "by_method": dict(self.by_method), "retraining": self.retrainer.describe() if self.retrainer else None,
            "compiled_path": self.fast_predict is not None,
        }

    def _model_info(self, request: Any, envelope: list) -> dict:
        rows = self.store.con.execute(
            "SELECT version, kind, created_at, n_train, champion, metrics FROM models ORDER BY created_at DESC, version"
        ).fetchall()
        models = [{"version": version, "kind": kind, "created_at": _epoch(created),
                   "n_train": n_train, "champion": bool(champion), "metrics": _json_map(metrics)}
                  for version, kind, created, n_train, champion, metrics in rows]
        roles = {role: (state.version if state.ready else None) for role, state in self.answerers.roles.items()}
        return {"model_version": self.answerers.model_version, "challenger": roles.get("challenger"),
                "shadow": roles.get("shadow"), "roles": {role: state.describe() for role, state in self.answerers.roles.items()},
                "generation": self.answerers.generation, "loaded_at": self.answerers.loaded_at,
                "areas": self.answerers.describe(), "models": models}

    def _reload_result(self) -> dict:
        return {"generation": self.answerers.generation, "areas": self.answerers.describe(),
                "model_version": self.answerers.model_version}

    def _reload(self, request: Any, envelope: list) -> Any:
        self.reload_waiters.append((envelope, request.id))
        self.start_reload("request")
        return _DEFERRED

    def _record(self, request: Any, envelope: list) -> dict:
        params = request.params
        deployments = params.get("deployments")
        if type(deployments) is list and any(type(d) is dict and not _complete(d) for d in deployments):
            # an outcome update names the deployment by id; the rest comes from the stored row
            from predictor.patterns.ask import complete_outcome
            params = {**params, "deployments": [complete_outcome(self.store, d) if type(d) is dict and
                                                 type(d.get("id")) is str and not _complete(d) else d
                                                 for d in deployments]}
        check_params("record", params)
        try:
            from predictor.store.ingest import ingest_records
        except ImportError as exc:
            raise PredictorError(f"record: the ingest module is not available ({exc})") from exc
        deployments = params.get("deployments") or []
        rollbacks = params.get("rollbacks") or []
        services = params.get("services") or []
        try:
            ingest_records(self.store, deployments=deployments, rollbacks=rollbacks, services=services,
                           source="daemon:record", mode="upsert")
        except IngestError as exc:
            raise ValidationError(_ingest_field(exc), exc.detail + (f" (expected {exc.expected}, found {exc.found!r})"
                                                                    if exc.expected else "")) from exc
        outcomes = sum(1 for d in deployments if d.get("status") in OUTCOME_STATUSES)
        for kind, items in (("service", services), ("deployment", deployments), ("rollback", rollbacks)):
            for record in items:
                self._observe(self.answerers, kind, record)
                if self.loading:
                    self.recorded_while_loading.append((kind, record))
        self.outcomes_since_training += outcomes
        if self.retrainer is not None:
            self.retrainer.outcomes_recorded(outcomes)
        return {"deployments": len(deployments), "rollbacks": len(rollbacks), "services": len(services),
                "outcomes": outcomes}

    def _observe(self, answerers: AnswererSet, kind: str, record: dict) -> None:
        for answerer in answerers.observers():
            try:
                answerer.observe(kind, record)
            except Exception as exc:  # the fact is stored; the answerer sees it at the next reload
                event(self.log, WARNING, "observe_failed", kind=kind, id=record.get("id") or record.get("name"),
                      answerer=type(answerer).__name__, error=f"{type(exc).__name__}: {exc}")

    def _feedback(self, request: Any, envelope: list) -> dict:
        params = request.params
        check_params("feedback", params)
        self.store.con.execute(
            "INSERT INTO feedback (request_id, received_at, outcome, useful, comment) VALUES (?, ?, ?, ?, ?)",
            [params["request_id"], utcnow(), params.get("outcome"), params.get("useful"), params.get("comment")],
        )
        return {"stored": True}


_STEP: list = []


def compiled_step() -> Callable[[int, Callable], Any] | None:
    """``_zmqloop.serve_one`` bound to the libzmq pyzmq loaded (found in /proc/self/maps), or
    None (not built, not Linux, or a library it does not know): the Python loop serves alone."""
    if not _STEP:
        _STEP.append(None)
        if _zmqloop is not None and os.environ.get("PREDICTOR_KERNEL") != "numpy":
            try:
                with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                    paths = {line.split(maxsplit=5)[5].strip() for line in maps
                             if "libzmq" in line and len(line.split(maxsplit=5)) == 6}
                if len(paths) == 1:
                    _zmqloop.load(paths.pop())
                    _STEP[0] = _zmqloop.serve_one
            except OSError:
                pass
    return _STEP[0]


def _complete(deployment: dict) -> bool:
    """Whether DEPLOYMENT carries every key a new deployment needs (else it is an outcome update)."""
    return all(deployment.get(key) is not None for key in ("service", "environment", "started", "status"))


def _error_of(exc: PredictorError) -> tuple[str, str, str | None]:
    """Return (code, message, field) of the error reply for EXC."""
    code = exc.code if exc.code in ERROR_CODES else ("invalid_params" if isinstance(exc, IngestError) else "internal")
    field = getattr(exc, "field", None)
    if isinstance(exc, (NotFoundError, ModelNotReadyError)):
        field = field if isinstance(field, str) else None
    return code, str(exc), field if isinstance(field, str) else None


def _ingest_field(exc: IngestError) -> str:
    if exc.field and exc.field.startswith("params."):
        return exc.field
    return f"params.{exc.field}" if exc.field else "params"


def _epoch(moment: Any) -> float | None:
    if moment is None:
        return None
    import datetime as dt
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def _json_map(text: Any) -> dict:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def serve(options: ServeOptions) -> int:
    """Run the daemon with OPTIONS until SIGTERM/SIGINT; return the exit status (0)."""
    # one BLAS/OpenMP thread: a request is a few small numpy operations, and waking a pool
    # thread on the other CPU costs more than it saves (background training sets its own limit)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return Daemon(options).run()
