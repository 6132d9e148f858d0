"""Helpers for the daemon tests: real daemons as subprocesses on fresh ipc endpoints, over real DuckDB stores.

``demo_home`` builds, once per session, a store holding a small demo history (and a trained
failure model when the models area can train one); ``copy_home`` gives each test that writes
its own copy; ``daemon`` starts ``python -m predictor serve`` and stops it with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import zmq

from predictor.client import Client, daemon_running
from predictor.protocol import decode_reply, encode

ROOT = Path(__file__).resolve().parents[2]
TIME_FACTOR = float(os.environ.get("PREDICTOR_TEST_TIME_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """Return SECONDS scaled by PREDICTOR_TEST_TIME_FACTOR (as tests/conftest.py does)."""
    return seconds * TIME_FACTOR


def build_demo_home(home: Path) -> dict:
    """Fill HOME/history.duckdb with a small demo history; train a model when possible. Return facts."""
    from predictor.demo_data import generate_history
    from predictor.store import open_store
    from predictor.store.ingest import ingest_records

    home.mkdir(parents=True, exist_ok=True)
    history = generate_history(seed=3, services=6, days=40, deployments_per_day=12)
    facts = {"deployments": len(history.deployments), "services": [s["name"] for s in history.services],
             "model_version": None}
    previous = os.environ.get("PREDICTOR_HOME")
    os.environ["PREDICTOR_HOME"] = str(home)
    try:
        with open_store(home / "history.duckdb") as store:
            ingest_records(store, deployments=history.deployments, rollbacks=history.rollbacks,
                           services=history.services, source="demo", mode="upsert")
            try:
                from predictor.models.train import train_and_register
            except ImportError:
                train_and_register = None
            if train_and_register is not None:
                record = train_and_register(store, promote="always", evaluate_first=False, plots=False)
                facts["model_version"] = record.version
            store.con.execute("CHECKPOINT")
    finally:
        if previous is None:
            os.environ.pop("PREDICTOR_HOME", None)
        else:
            os.environ["PREDICTOR_HOME"] = previous
    facts["last_deployment"] = history.deployments[-1]
    return facts


class DaemonProcess:
    """A ``predictor serve`` subprocess and its endpoint."""

    def __init__(self, home: Path, endpoint: str, *args: str, env: dict | None = None, pin: str | None = None) -> None:
        self.home = home
        self.endpoint = endpoint
        self.log_path = home / "daemon.log"
        full_env = dict(os.environ, PREDICTOR_HOME=str(home), PREDICTOR_ENDPOINT=endpoint, **(env or {}))
        command = [sys.executable, "-m", "predictor", "serve", "--db", str(home / "history.duckdb"),
                   "--endpoint", endpoint, "--log-file", str(self.log_path), *args]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_ready(self, timeout: float = 60.0, loaded: bool = True, **client_options) -> None:
        """Wait until the daemon answers ping and (when LOADED) has loaded its answerers."""
        end = time.monotonic() + scaled(timeout)
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.proc.stderr.read().decode()}")
            if client_options:
                try:
                    with Client(self.endpoint, timeout=0.3, retries=0, **client_options) as client:
                        client.call("ping")
                    return
                except Exception:
                    time.sleep(0.05)
                    continue
            if daemon_running(self.endpoint, timeout=0.3):
                if not loaded:
                    return
                with Client(self.endpoint, timeout=2.0) as client:
                    if client.call("status")["generation"] >= 1:
                        return
            time.sleep(0.05)
        raise AssertionError(f"daemon at {self.endpoint} not ready after {timeout} s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send SIG and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=scaled(timeout))
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()

    def log_lines(self) -> list[dict]:
        """Return the daemon's JSON log lines."""
        import json
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


def raw_call(endpoint: str, payload: bytes, timeout: float = 2.0, socket_type: int = zmq.DEALER) -> dict | None:
    """Send one raw payload frame and return the decoded reply map (None on timeout)."""
    context = zmq.Context.instance()
    socket = context.socket(socket_type)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    try:
        socket.send_multipart([b"", payload] if socket_type == zmq.DEALER else [payload])
        if not socket.poll(int(scaled(timeout) * 1000)):
            return None
        frames = socket.recv_multipart()
        return decode_reply(frames[-1])._asdict()
    finally:
        socket.close(linger=0)


def request_bytes(method: str, params: dict | None = None, request_id: str = "t-1", **extra) -> bytes:
    """Encode a request envelope."""
    return encode({"protocol": 1, "id": request_id, "method": method, "params": params or {}, **extra})
