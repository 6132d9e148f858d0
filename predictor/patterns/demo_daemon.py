"""The demo's last act: start ``predictor serve`` on the demo store, ask it from Guile, stop it.

The daemon runs as a subprocess on a fresh ipc endpoint in a temporary directory (the demo
process must have closed the store first: the daemon becomes its only user). Once it answers
``ping`` and ``model_info`` says its answerers are loaded, ``scheme/examples/ml-predictor-demo.scm``
asks ``predict-deployment-outcome``, ``suggest-deployment-time`` and ``analyze-risk`` through the
Guile plugin, and the daemon is stopped with SIGTERM and must exit 0 and remove its socket.
A missing Guile or libzmq is a printed note, not a failure.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.text import Text

from predictor.store import open_store

#: the Guile script the demo runs (SERVICE [ENVIRONMENT] as arguments)
GUILE_SCRIPT = Path(__file__).resolve().parents[2] / "scheme" / "examples" / "ml-predictor-demo.scm"
#: the longest the demo waits for the daemon to load its models, for Guile, for the daemon to stop
READY_TIMEOUT = 90.0
GUILE_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


@dataclass
class DaemonOutcome:
    """What the daemon part of the demo saw: the service asked about, Guile's output, how it stopped."""

    service: str | None = None
    guile_output: str = ""
    guile_returncode: int | None = None
    exit_code: int | None = None
    socket_removed: bool | None = None


def missing_tools() -> str | None:
    """Return why the Guile part cannot run here (no guile, no libzmq, no plugin), or None."""
    if shutil.which("guile") is None:
        return "guile is not installed (Debian: apt-get install guile-3.0)"
    if not os.environ.get("PREDICTOR_LIBZMQ") and ctypes.util.find_library("zmq") is None:
        return "the system libzmq is not installed (Debian: apt-get install libzmq5)"
    if not GUILE_SCRIPT.is_file():
        return f"the Guile demo script {GUILE_SCRIPT} is missing (a checkout has it)"
    return None


def pick_question(store_path: Path) -> tuple[str | None, int | None]:
    """The service the demo asks about and when the deployment would start.

    The service is the one most others depend on, among those deployed to production at least
    ten times (else the most deployed one), so the blast radius has content. The start is the
    next full hour after the newest stored deployment, so the service's state is the one the
    history leaves it in (the demo history lies in the past).
    """
    with open_store(store_path, read_only=True) as store:
        row = store.con.execute(
            """WITH production AS (
                   SELECT service, count(*) AS n FROM deployments WHERE environment = ? GROUP BY service),
               dependents AS (
                   SELECT depends_on AS service, count(*) AS n FROM service_dependencies GROUP BY depends_on)
               SELECT p.service FROM production p LEFT JOIN dependents d USING (service)
               ORDER BY (p.n >= 10) DESC, coalesce(d.n, 0) DESC, p.n DESC, p.service LIMIT 1""",
            ["production"]).fetchone()
        newest = store.con.execute("SELECT epoch(max(started)) FROM deployments").fetchone()[0]
    start = None if newest is None else (int(newest) // 3600 + 1) * 3600
    return (row[0] if row else None), start


def wait_until_ready(process: subprocess.Popen, endpoint: str, timeout: float) -> dict:
    """Wait until the daemon answers ``ping`` and ``model_info`` reports its answerers loaded; return model_info.

    Raises RuntimeError when the daemon exits first or TIMEOUT seconds pass.
    """
    from predictor.client import Client
    from predictor.errors import DaemonUnavailableError

    deadline = time.monotonic() + timeout
    with Client(endpoint, timeout=1.0, retries=0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the daemon exited with code {process.returncode} before it was ready")
            try:
                client.ping()
                info = client.call("model_info", {}, timeout=5.0)
            except DaemonUnavailableError:
                time.sleep(0.1)
                continue
            if info.get("generation", 0) >= 1:
                return info
            time.sleep(0.1)
    raise RuntimeError(f"the daemon at {endpoint} did not load its models within {timeout:.0f} s")


def stop_daemon(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int:
    """Send SIGTERM and wait for the exit code (SIGKILL after TIMEOUT seconds, then raise)."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"the daemon did not stop within {timeout:.0f} s of SIGTERM; killed it") from None


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def serve_and_ask_guile(store_path: Path, console: Console, note: Callable[[str], None],
                        timed: Callable[[str, Callable[[], Any]], Any]) -> DaemonOutcome | None:
    """Run the daemon on STORE_PATH, run the Guile demo against it, stop it; print everything.

    NOTE(text) records a printed note; TIMED(step, function) runs a timed step. Returns None
    when the tools are missing (after a note).
    """
    why_not = missing_tools()
    if why_not:
        note(f"{why_not}: the daemon and Guile part of the demo is skipped")
        return None
    service, start = pick_question(store_path)
    outcome = DaemonOutcome(service=service)
    if outcome.service is None or start is None:
        note("the demo store holds no deployments: the daemon and Guile part of the demo is skipped")
        return None
    from predictor.cli.scheme import scheme_load_path

    scheme_dir = scheme_load_path()
    work = Path(tempfile.mkdtemp(prefix="predictor-demo-"))
    socket_path = work / "predictor.sock"
    endpoint = f"ipc://{socket_path}"
    log_path = work / "daemon.log"
    command = [sys.executable, "-m", "predictor", "serve", "--db", str(store_path), "--endpoint", endpoint,
               "--log-file", str(log_path)]
    console.print(Text(f"$ predictor serve --db {store_path} --endpoint {endpoint} &", style="bold"))
    with (work / "daemon.out").open("w") as daemon_out:
        process = subprocess.Popen(command, stdout=daemon_out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        try:
            info = timed("daemon_start", lambda: wait_until_ready(process, endpoint, READY_TIMEOUT))
        except RuntimeError as exc:
            note(f"{exc}; the Guile part is skipped. Daemon log:\n{_log_tail(log_path)}\n"
                 f"{_log_tail(work / 'daemon.out')}")
            return outcome
        _print_model_info(console, process.pid, info)
        guile = ["guile", "-L", str(scheme_dir), str(GUILE_SCRIPT), outcome.service, "production", str(start)]
        console.print(Text(f"$ guile -L {scheme_dir} {GUILE_SCRIPT.relative_to(GUILE_SCRIPT.parents[2])} "
                           f"{outcome.service} production {start}", style="bold"))
        env = {**os.environ, "PREDICTOR_ENDPOINT": endpoint}
        try:
            done = timed("guile", lambda: subprocess.run(guile, capture_output=True, text=True, env=env,
                                                         timeout=GUILE_TIMEOUT, stdin=subprocess.DEVNULL))
        except subprocess.TimeoutExpired:
            note(f"guile did not finish within {GUILE_TIMEOUT:.0f} s")
        else:
            outcome.guile_output, outcome.guile_returncode = done.stdout, done.returncode
            console.print(Text(done.stdout.rstrip()))
            if done.returncode != 0:
                errors = "\n".join(line for line in done.stderr.splitlines() if not line.startswith(";;;"))
                note(f"guile exited with code {done.returncode}:\n{errors.strip()}")
    finally:
        try:
            outcome.exit_code = timed("daemon_stop", lambda: stop_daemon(process))
        except RuntimeError as exc:
            note(str(exc))
        outcome.socket_removed = not socket_path.exists()
    if outcome.exit_code == 0 and outcome.socket_removed:
        console.print(f"daemon (pid {process.pid}) stopped cleanly: SIGTERM, exit code 0, socket removed")
        shutil.rmtree(work, ignore_errors=True)
    elif outcome.exit_code is not None:
        note(f"the daemon stopped with exit code {outcome.exit_code}"
             f"{'' if outcome.socket_removed else ' and left its socket behind'}; its log is in {work}:\n"
             f"{_log_tail(log_path)}")
    return outcome


def _print_model_info(console: Console, pid: int, info: dict) -> None:
    """One line per answering area of the daemon's ``model_info``."""
    console.print(f"daemon (pid {pid}) answers ping; model_info, generation {info.get('generation')}:")
    for area, state in sorted((info.get("areas") or {}).items()):
        if state.get("ready"):
            console.print(Text(f"  {area}: ready ({', '.join(state.get('methods') or [])})"
                               + (f"; {state['version']}" if state.get("version") else "")))
        else:
            console.print(Text(f"  {area}: not ready: {state.get('message')}", style="yellow"))
