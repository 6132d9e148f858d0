"""Run the Guile plugin's SRFI-64 files with real Guile, so the project's test command runs them.

Each ``*-test.scm`` file under tests/scheme is run as ``guile -L scheme -L tests/scheme FILE``
in its own process; the test asserts it exits 0 with zero failures and shows the failing
test names (with expected and actual values) otherwise. The end-to-end file gets a store
filled with demo data and starts the real daemon itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, scaled

SCHEME_DIR = ROOT / "scheme"
TESTS_DIR = ROOT / "tests" / "scheme"
UNIT_FILES = ["msgpack-test.scm", "protocol-test.scm", "records-test.scm", "zmq-test.scm", "client-test.scm"]


def guile_cache_home() -> str:
    """Return an XDG_CACHE_HOME for Guile's compiled files, named after the sources' digest.

    Guile inlines small procedures across modules, and its auto-compilation only checks each
    file's own date: a cache shared across edits can run stale code. One cache per version of
    the sources never does, and still compiles each version once.
    """
    digest = hashlib.sha256()
    for path in sorted([*SCHEME_DIR.rglob("*.scm"), *TESTS_DIR.rglob("*.scm")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return str(Path(tempfile.gettempdir()) / f"ml-predictor-guile-{digest.hexdigest()[:16]}")


def run_guile(args: list[str], *, cwd: Path, env: dict | None = None, timeout: float = 120,
              load_path: tuple[Path, ...] = (SCHEME_DIR, TESTS_DIR)) -> subprocess.CompletedProcess:
    """Run guile with LOAD_PATH directories first on its load path."""
    full_env = dict(os.environ)
    full_env["XDG_CACHE_HOME"] = guile_cache_home()
    full_env.update(env or {})
    command = ["guile"]
    for directory in load_path:
        command += ["-L", str(directory)]
    return subprocess.run(command + args, capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=scaled(timeout))


def srfi64_counts(output: str) -> tuple[int, int]:
    """Return (passes, failures) from the summary lines of a SRFI-64 run."""
    passes = re.search(r"^# of expected passes\s+(\d+)", output, re.M)
    failures = re.search(r"^# of unexpected failures\s+(\d+)", output, re.M)
    if not passes:
        raise AssertionError(f"no SRFI-64 summary in the output:\n{output}")
    return int(passes.group(1)), int(failures.group(1)) if failures else 0


def assert_suite_passed(proc: subprocess.CompletedProcess, name: str) -> int:
    """Fail with the names of the failing tests unless PROC is a clean SRFI-64 run."""
    output = proc.stdout + proc.stderr
    failing = [line for line in proc.stdout.splitlines() if line.startswith("FAIL ") or line.startswith("  ")]
    try:
        passes, failures = srfi64_counts(proc.stdout)
    except AssertionError:
        raise AssertionError(f"{name} did not finish (exit {proc.returncode}):\n{output[-4000:]}") from None
    assert failures == 0 and proc.returncode == 0, (
        f"{name}: {failures} failing test(s), exit {proc.returncode}:\n" + "\n".join(failing))
    assert passes > 0, f"{name}: no test ran"
    return passes


@pytest.mark.parametrize("name", UNIT_FILES)
def test_srfi64_file(name: str, tmp_path: Path) -> None:
    """Each unit SRFI-64 file passes: codec vectors, envelopes, records, FFI sockets, client."""
    proc = run_guile([str(TESTS_DIR / name)], cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert_suite_passed(proc, name)


def make_demo_store(path: Path, *, trained: bool) -> str:
    """Fill a store at PATH with a small demo history (and a champion failure model when
    TRAINED, its artifacts under $PREDICTOR_HOME); return a service of the demo."""
    from predictor.demo_data import generate_history
    from predictor.store import open_store
    from predictor.store.ingest import ingest_records

    history = generate_history(seed=0, services=6, days=20, deployments_per_day=10)
    store = open_store(path)
    try:
        ingest_records(store, deployments=history.deployments, rollbacks=history.rollbacks,
                       services=history.services)
        if trained:
            from predictor.models.train import train_and_register
            train_and_register(store, promote="always", include_forest=False, evaluate_first=False,
                               plots=False)
    finally:
        store.con.close()
    return history.deployments[0]["service"]


@pytest.mark.parametrize("model", ["untrained", "trained"])
def test_end_to_end_against_the_daemon(model: str, home: Path, tmp_path: Path) -> None:
    """Every exported procedure against `predictor serve`, then a stop and a restart.

    Untrained, `predict` must answer the remote error model_unavailable; trained, it must answer.
    """
    store = tmp_path / "history.duckdb"
    service = make_demo_store(store, trained=model == "trained")
    log = tmp_path / "daemon.log"
    env = {
        "PREDICTOR_TEST_PYTHON": sys.executable,
        "PREDICTOR_TEST_DB": str(store),
        "PREDICTOR_TEST_SERVICE": service,
        "PREDICTOR_TEST_LOG": str(log),
        "PREDICTOR_TEST_PREDICT": "ready" if model == "trained" else "unavailable",
        "TMPDIR": str(tmp_path),
    }
    proc = run_guile([str(TESTS_DIR / "ml-predictor-test.scm")], cwd=tmp_path, env=env, timeout=180)
    try:
        assert_suite_passed(proc, "ml-predictor-test.scm")
    except AssertionError as exc:
        daemon_log = log.read_text()[-3000:] if log.exists() else "(no daemon log)"
        raise AssertionError(f"{exc}\n--- daemon log ---\n{daemon_log}") from None


def test_plugin_loads_without_the_ledger_and_without_libzmq(tmp_path: Path) -> None:
    """The module loads with neither (deploy-ledger core types) nor libzmq; a call then fails clearly."""
    script = """
      (use-modules (rnrs bytevectors)
                   (deploy-ledger plugins ml-predictor)
                   (deploy-ledger plugins ml-predictor msgpack))
      (display (bytevector-length (pack '((\"a\" . 1)))))
      (newline)
      (display (catch #t
                 (lambda () (ml-predictor-ping) 'answered)
                 (lambda (key . args)
                   (call-with-output-string (lambda (port) (print-exception port #f key args))))))
      (newline)
    """
    proc = run_guile(["-c", script], cwd=tmp_path, load_path=(SCHEME_DIR,),
                     env={"PREDICTOR_LIBZMQ": "/nonexistent/libzmq-missing.so"})
    assert proc.returncode == 0, proc.stderr
    size, message = proc.stdout.split("\n", 1)
    assert size == "4", proc.stdout
    assert "cannot load libzmq" in message and "/nonexistent/libzmq-missing.so" in message, message
    assert "PREDICTOR_LIBZMQ" in message, message


ENDPOINT_CASES = [
    {},
    {"XDG_RUNTIME_DIR": "/run/user/1000/"},
    {"XDG_RUNTIME_DIR": "/run//user/1000", "PREDICTOR_HOME": "~/ledger/./home/"},
    {"PREDICTOR_HOME": "relative/home", "XDG_DATA_HOME": "/data"},
    {"XDG_DATA_HOME": "/data//share/", "XDG_RUNTIME_DIR": ""},
    {"PREDICTOR_ENDPOINT": "tcp://127.0.0.1:7777", "PREDICTOR_HOME": "/x"},
    {"PREDICTOR_ENDPOINT": "", "PREDICTOR_HOME": "", "XDG_RUNTIME_DIR": "/run/x"},
]


@pytest.mark.parametrize("variables", ENDPOINT_CASES, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "none")
def test_default_endpoint_matches_python(variables: dict, tmp_path: Path) -> None:
    """The plugin's default endpoint is predictor.config.default_endpoint() in every case."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREDICTOR_ENDPOINT", "PREDICTOR_HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME")}
    env.update(variables)
    # HOME moves (for ~ expansion); Guile's compiled-file cache stays put.
    env["XDG_CACHE_HOME"] = guile_cache_home()
    env["HOME"] = str(tmp_path)
    python = subprocess.run([sys.executable, "-c", "from predictor.config import default_endpoint; "
                             "print(default_endpoint())"], capture_output=True, text=True, env=env,
                            cwd=ROOT, check=True)
    full = subprocess.run(["guile", "-L", str(SCHEME_DIR), "-c",
                           "(use-modules (deploy-ledger plugins ml-predictor)) (display (ml-predictor-endpoint))"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert full.stdout.strip() == python.stdout.strip()


def test_scheme_path_command(cli) -> None:
    """`predictor scheme-path` prints the directory that holds the plugin's modules."""
    proc = cli("scheme-path", check=True)
    directory = Path(proc.stdout.strip())
    assert directory.is_absolute()
    assert (directory / "deploy-ledger" / "plugins" / "ml-predictor.scm").is_file()
