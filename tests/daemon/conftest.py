"""Fixtures of the daemon tests: the demo store, private copies of it, daemons to start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, build_demo_home


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    """(home directory with the demo store, facts about it), built once per session."""
    home = tmp_path_factory.mktemp("demo-home")
    return home, build_demo_home(home)


@pytest.fixture
def copy_home(demo, tmp_path) -> Path:
    """A private copy of the demo home (store and model artifacts) for a test that writes."""
    home, _ = demo
    target = tmp_path / "home"
    shutil.copytree(home, target)
    return target


@pytest.fixture
def start_daemon(tmp_path):
    """Start daemons for this test (a fresh ipc endpoint each); all are stopped on teardown."""
    started: list[DaemonProcess] = []

    def start(home: Path, *args: str, endpoint: str | None = None, ready: bool = True, **client_options) -> DaemonProcess:
        endpoint = endpoint or f"ipc://{tmp_path / f'd{len(started)}.sock'}"
        process = DaemonProcess(home, endpoint, *args)
        started.append(process)
        if ready:
            process.wait_ready(**client_options)
        return process

    yield start
    for process in started:
        process.stop()


