"""Python client of the predictor daemon: timeouts, and retry on a fresh socket (Lazy Pirate).

>>> with Client() as daemon:                       # default endpoint, 2 s per call
...     daemon.call("predict", {"deployment": {"service": "checkout", "environment": "production"}})

A call waits at most ``timeout`` seconds in all. Idempotent methods are tried ``retries + 1``
times within that budget, each attempt on a fresh DEALER socket (a lost request or a restarted
daemon never leaves the client stuck). When no reply arrives in time the call raises
:class:`~predictor.errors.DaemonUnavailableError` naming the endpoint and the seconds waited; an
error reply raises :class:`~predictor.errors.RemoteError` with its code, message and field.

Other areas' CLI commands use :func:`daemon_running` to decide whether to go through the daemon
(it is then the only writer of the store) and :func:`call` to do so.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from pathlib import Path
from typing import Any

import zmq

from predictor.config import default_endpoint
from predictor.errors import DaemonUnavailableError, RemoteError
from predictor.protocol import IDEMPOTENT_METHODS, ProtocolError, decode_reply, encode, request

DEFAULT_TIMEOUT = 2.0


class Client:
    """A connection to the daemon at ENDPOINT (default: the shared default endpoint)."""

    def __init__(self, endpoint: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, retries: int = 1,
                 server_public_key: bytes | str | Path | None = None, client_secret_key: str | Path | None = None,
                 context: zmq.Context | None = None) -> None:
        self.endpoint = endpoint or default_endpoint()
        self.timeout = timeout
        self.retries = retries
        self.context = context or zmq.Context.instance()
        self._curve = _curve_options(server_public_key, client_secret_key)
        self._socket: zmq.Socket | None = None
        self._rcvtimeo = -1
        self._prefix = f"{os.getpid():x}-{uuid.uuid4().hex[:6]}-"
        self._counter = itertools.count(1)

    # -- sockets ------------------------------------------------------------------------------
    def _fresh_socket(self) -> zmq.Socket:
        self._drop_socket()
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        for option, value in self._curve:
            socket.setsockopt(option, value)
        socket.connect(self.endpoint)
        self._socket = socket
        self._rcvtimeo = -1  # the receive timeout set on this socket (ms; -1: none yet)
        return socket

    def _drop_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def close(self) -> None:
        """Close the socket (the client can still be used: the next call opens a fresh one)."""
        self._drop_socket()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------
    def call(self, method: str, params: dict | None = None, *, timeout: float | None = None,
             retries: int | None = None) -> dict:
        """Send METHOD with PARAMS and return the reply's result map.

        Raises DaemonUnavailableError after TIMEOUT seconds without a reply, RemoteError on an
        error reply. Only idempotent methods are retried (``record``, ``feedback``, ``reload`` are not).
        """
        budget = self.timeout if timeout is None else timeout
        attempts = 1 + ((self.retries if retries is None else retries) if method in IDEMPOTENT_METHODS else 0)
        started = time.monotonic()
        end = started + budget
        for attempt in range(attempts):
            now = time.monotonic()
            remaining = end - now
            if remaining <= 0:
                break
            slice_end = now + remaining / (attempts - attempt)
            request_id = self._prefix + str(next(self._counter))
            socket = self._socket if self._socket is not None else self._fresh_socket()
            deadline_ms = max(1, int((slice_end - now) * 1000))
            socket.send_multipart([b"", encode(request(method, params or {}, id=request_id, deadline_ms=deadline_ms))])
            reply = self._await(socket, request_id, slice_end)
            if reply is not None:
                if reply.ok:
                    return reply.result
                error = reply.error
                raise RemoteError(error["code"], error["message"], error.get("field"))
            self._drop_socket()  # Lazy Pirate: never reuse a socket that may hold a lost request
        waited = time.monotonic() - started
        raise DaemonUnavailableError(f"no answer from the predictor daemon at {self.endpoint} to {method} "
                                     f"within {waited:.2f} s (is `predictor serve` running?)")

    def _await(self, socket: zmq.Socket, request_id: str, until: float) -> Any:
        """Return the checked reply to REQUEST_ID, or None when UNTIL passes first."""
        while True:
            left_ms = int((until - time.monotonic()) * 1000)
            if left_ms <= 0:
                return None
            # a receive timeout up to 2% (at least 2 ms) longer than what is left is kept as set:
            # one setsockopt fewer per call in a steady stream of calls, well within the timeout's
            # promised accuracy (+20%)
            if not 0 <= self._rcvtimeo - left_ms <= max(2, left_ms // 50):
                socket.setsockopt(zmq.RCVTIMEO, left_ms)  # cheaper than a Poller per call
                self._rcvtimeo = left_ms
            try:
                frames = socket.recv_multipart()
            except zmq.Again:
                return None
            if len(frames) != 2 or frames[0] != b"":
                continue  # not a routed reply: ignore it
            try:
                reply = decode_reply(frames[1])
            except ProtocolError as exc:
                raise RemoteError("malformed", f"the daemon sent a reply that breaks the protocol: {exc.message}",
                                  exc.field) from None
            if reply.id == request_id or (reply.id is None and not reply.ok):
                return reply
            # a late reply to an earlier attempt: drop it and keep waiting

    def ping(self, *, timeout: float | None = None) -> float:
        """Return the round trip of a ``ping`` in seconds (raises DaemonUnavailableError)."""
        started = time.perf_counter()
        self.call("ping", {}, timeout=timeout)
        return time.perf_counter() - started


def _curve_options(server_public_key: bytes | str | Path | None, client_secret_key: str | Path | None) -> list:
    if server_public_key is None and client_secret_key is None:
        return []
    from predictor.daemon.security import KeyFileError, load_keypair, load_public_key
    if server_public_key is None or client_secret_key is None:
        raise KeyFileError("CurveZMQ needs both the server's public key and the client's secret key file")
    server = server_public_key if isinstance(server_public_key, bytes) else load_public_key(server_public_key)
    public, secret = load_keypair(client_secret_key)
    return [(zmq.CURVE_SERVERKEY, server), (zmq.CURVE_PUBLICKEY, public), (zmq.CURVE_SECRETKEY, secret)]


#: patience of :func:`call` (CLI commands): a person waits longer than the ledger's plugin
CLI_TIMEOUT = 30.0


def call(method: str, params: dict | None = None, *, endpoint: str | None = None, timeout: float = CLI_TIMEOUT,
         retries: int = 1) -> dict:
    """Call METHOD once on the daemon at ENDPOINT with a short-lived client; return the result map.

    Meant for CLI commands (see :func:`daemon_running`): the default timeout is generous because
    some answers (long ``suggest_time`` ranges, ``record`` of thousands of facts) take seconds.
    """
    with Client(endpoint, timeout=timeout, retries=retries) as client:
        return client.call(method, params)


def daemon_running(endpoint: str | None = None, timeout: float = 0.3) -> bool:
    """Return True when a daemon answers ``ping`` at ENDPOINT within TIMEOUT seconds."""
    endpoint = endpoint or default_endpoint()
    if endpoint.startswith("ipc://") and not Path(endpoint[len("ipc://"):]).exists():
        return False
    try:
        with Client(endpoint, timeout=timeout, retries=0) as client:
            client.call("ping", {})
    except (DaemonUnavailableError, RemoteError):
        return False
    return True
