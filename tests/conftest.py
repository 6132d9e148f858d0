"""Fixtures every test area shares: an isolated PREDICTOR_HOME, the CLI as a real process,
and one knob (PREDICTOR_TEST_TIME_FACTOR) that scales every timing in the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIME_FACTOR = float(os.environ.get("PREDICTOR_TEST_TIME_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """Return SECONDS scaled by PREDICTOR_TEST_TIME_FACTOR (slow machines set it above 1)."""
    return seconds * TIME_FACTOR


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PREDICTOR_HOME for this test, with the endpoint inside it."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("PREDICTOR_HOME", str(path))
    monkeypatch.setenv("PREDICTOR_ENDPOINT", f"ipc://{path / 'predictor.sock'}")
    return path


def run_cli(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m predictor ARGS`` as a real process with the current environment plus ENV."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "predictor", *args],
        capture_output=True, text=True, env=full_env, input=input, timeout=scaled(timeout), cwd=ROOT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"predictor {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    """The ``run_cli`` helper as a fixture."""
    return run_cli
