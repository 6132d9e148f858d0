"""Shutdown with requests in flight, hot reload under load, stopped daemons, endpoints, CurveZMQ."""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
import time

import pytest

from daemon_helpers import DaemonProcess, scaled
from predictor.client import Client, daemon_running
from predictor.daemon.security import generate_keys
from predictor.errors import DaemonUnavailableError, RemoteError
from predictor.store import open_store


def _deployment(number: int, prefix: str) -> dict:
    started = 1_780_000_000 + number * 60
    return {"id": f"{prefix}-{number}", "service": "svc-inflight", "environment": "production", "started": started,
            "completed": started + 30, "status": "success" if number % 5 else "failure", "deployment_type": "rolling"}


def test_sigterm_answers_in_flight_requests_and_loses_no_recorded_fact(copy_home, start_daemon):
    daemon = start_daemon(copy_home, loaded=False)
    acknowledged: list[str] = []
    outcomes: dict[str, int] = {"ok": 0, "refused": 0, "other": 0}
    lock = threading.Lock()
    stop_sending = threading.Event()

    def sender(worker: int) -> None:
        with Client(daemon.endpoint, timeout=1.0, retries=0) as client:
            for number in range(100_000):
                record = _deployment(number, f"w{worker}")
                try:
                    client.call("record", {"deployments": [record]})
                except DaemonUnavailableError:
                    with lock:
                        outcomes["refused"] += 1
                    return
                except RemoteError as exc:
                    with lock:
                        outcomes["other"] += 1
                    raise AssertionError(exc)
                with lock:
                    outcomes["ok"] += 1
                    acknowledged.append(record["id"])
                if stop_sending.is_set():
                    return

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(scaled(1.0))
    assert outcomes["ok"] > 0
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=scaled(20)) == 0
    # a clean exit: the models (and the DuckDB objects they hold) were freed before the
    # interpreter ended, so nothing like nanobind's "leaked instance" report reaches stderr
    assert "leaked" not in daemon.proc.stderr.read().decode()
    stop_sending.set()
    for thread in threads:
        thread.join(timeout=scaled(10))
    assert outcomes["other"] == 0
    assert not os.path.exists(daemon.endpoint[len("ipc://"):])
    events = [line["event"] for line in daemon.log_lines()]
    assert events[-3:] == ["stopping", "prediction_log_flushed", "stopped"]
    with open_store(copy_home / "history.duckdb") as store:
        stored = {row[0] for row in store.con.execute("SELECT id FROM deployments WHERE service = 'svc-inflight'").fetchall()}
    assert set(acknowledged) <= stored
    restarted = start_daemon(copy_home, endpoint=daemon.endpoint, loaded=False)  # the store reopens cleanly
    with Client(restarted.endpoint) as client:
        assert client.call("record", {"deployments": [_deployment(0, "after-restart")]})["deployments"] == 1


def test_hot_reload_under_continuous_load_fails_no_request(copy_home, start_daemon):
    daemon = start_daemon(copy_home)
    with Client(daemon.endpoint) as client:
        ready = client.call("model_info")["areas"]
    method, params = ("predict", {"deployment": {"service": "payments", "environment": "production"}}) \
        if ready["models"]["ready"] else ("ping", {})
    failures: list[str] = []
    answered = [0, 0]
    stop = threading.Event()

    def load(worker: int) -> None:
        with Client(daemon.endpoint, timeout=10.0, retries=0) as client:
            while not stop.is_set():
                try:
                    client.call(method, params)
                    answered[worker] += 1
                except Exception as exc:  # any failure counts
                    failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=load, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    try:
        with Client(daemon.endpoint, timeout=30.0) as client:
            generations = []
            for _ in range(2):
                before = sum(answered)
                generations.append(client.call("reload")["generation"])
                assert sum(answered) > before, "no request was answered while reloading"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert generations == [2, 3]
    assert sum(answered) > 20


@pytest.mark.parametrize("how", ["never started", "stopped", "killed (stale socket file)"])
def test_call_to_a_stopped_daemon_times_out_within_its_timeout(copy_home, start_daemon, tmp_path, how):
    endpoint = f"ipc://{tmp_path / 'gone.sock'}"
    if how != "never started":
        daemon = start_daemon(copy_home, endpoint=endpoint, loaded=False)
        if how == "stopped":
            assert daemon.stop() == 0
        else:
            daemon.proc.kill()
            daemon.proc.wait()
            assert (tmp_path / "gone.sock").exists()
    timeout = 1.0
    with Client(endpoint, timeout=timeout) as client:
        started = time.monotonic()
        with pytest.raises(DaemonUnavailableError, match="gone.sock"):
            client.call("ping")
        waited = time.monotonic() - started
    assert waited <= timeout * 1.2
    assert not daemon_running(endpoint)
    if how.startswith("killed"):
        revived = start_daemon(copy_home, endpoint=endpoint, loaded=False)  # a stale socket file is replaced
        with Client(endpoint) as client:
            assert client.call("ping") == {"pong": True}
        assert revived.proc.poll() is None


def test_client_recovers_when_the_daemon_comes_back(copy_home, start_daemon, tmp_path):
    endpoint = f"ipc://{tmp_path / 'back.sock'}"
    client = Client(endpoint, timeout=0.5)
    with pytest.raises(DaemonUnavailableError):
        client.call("ping")
    start_daemon(copy_home, endpoint=endpoint, loaded=False)
    assert client.call("ping", timeout=5.0) == {"pong": True}
    client.close()


def test_socket_file_is_private_and_a_second_daemon_is_refused(copy_home, start_daemon):
    daemon = start_daemon(copy_home, loaded=False)
    mode = stat.S_IMODE(os.stat(daemon.endpoint[len("ipc://"):]).st_mode)
    assert mode == 0o600
    second = DaemonProcess(copy_home, daemon.endpoint)
    assert second.proc.wait(timeout=scaled(30)) == 1
    assert "already serving" in second.proc.stderr.read().decode()
    second.proc.stdout.close()
    second.proc.stderr.close()
    with Client(daemon.endpoint) as client:
        assert client.call("ping") == {"pong": True}


def test_tcp_only_on_loopback_unless_allowed(copy_home, start_daemon, cli):
    refused = cli("serve", "--db", str(copy_home / "history.duckdb"), "--endpoint", "tcp://0.0.0.0:5999")
    assert refused.returncode == 1 and "loopback only" in refused.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = start_daemon(copy_home, endpoint=f"tcp://127.0.0.1:{port}", loaded=False)
    with Client(daemon.endpoint) as client:
        assert client.call("ping") == {"pong": True}


def test_curve_allows_listed_client_keys_only(copy_home, start_daemon, cli, tmp_path):
    keys, allowed, strangers = tmp_path / "keys", tmp_path / "allowed", tmp_path / "strangers"
    made = cli("keys", "generate", str(keys), "--name", "server", "--json", check=True)
    assert str(keys / "server.key_secret") in made.stdout
    generate_keys(keys, "client")
    generate_keys(strangers, "stranger")
    allowed.mkdir()
    (allowed / "client.key").write_bytes((keys / "client.key").read_bytes())
    assert stat.S_IMODE(os.stat(keys / "server.key_secret").st_mode) == 0o600
    daemon = start_daemon(copy_home, "--curve-secret-key", str(keys / "server.key_secret"),
                          "--allow-client-keys", str(allowed), loaded=False,
                          server_public_key=keys / "server.key", client_secret_key=keys / "client.key_secret")
    with Client(daemon.endpoint, server_public_key=keys / "server.key",
                client_secret_key=keys / "client.key_secret") as client:
        assert client.call("ping") == {"pong": True}
    with Client(daemon.endpoint, timeout=0.8, server_public_key=keys / "server.key",
                client_secret_key=strangers / "stranger.key_secret") as client:
        with pytest.raises(DaemonUnavailableError):
            client.call("ping")
    with Client(daemon.endpoint, timeout=0.8) as plain:
        with pytest.raises(DaemonUnavailableError):
            plain.call("ping")
