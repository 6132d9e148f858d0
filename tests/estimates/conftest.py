"""Fixtures of the estimates tests: one generated history in a real DuckDB store per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from predictor.store import open_store

from histories import generate, write_store  # noqa: E402  (tests/estimates is on sys.path via rootdir)


@pytest.fixture(scope="session")
def planted():
    """The generated history (12 services, 12 weeks) with its planted structure."""
    return generate(services=12, days=84, per_day=60, seed=0)


@pytest.fixture(scope="session")
def estimates_home(tmp_path_factory, planted) -> Path:
    """A PREDICTOR_HOME holding the planted history in history.duckdb (closed; tests open it)."""
    home = tmp_path_factory.mktemp("estimates-home")
    with open_store(home / "history.duckdb") as store:
        write_store(store, planted)
    return home


@pytest.fixture
def store(estimates_home, monkeypatch):
    """The planted store, open for writing, with PREDICTOR_HOME pointing at its home."""
    monkeypatch.setenv("PREDICTOR_HOME", str(estimates_home))
    with open_store(estimates_home / "history.duckdb") as opened:
        yield opened


@pytest.fixture(scope="session")
def answerer(estimates_home):
    """A loaded estimates answerer over the planted store (the daemon's view)."""
    from predictor.estimates.runtime import load_answerer

    previous = os.environ.get("PREDICTOR_HOME")
    os.environ["PREDICTOR_HOME"] = str(estimates_home)
    try:
        with open_store(estimates_home / "history.duckdb") as opened:
            loaded = load_answerer(opened)
    finally:
        if previous is None:
            os.environ.pop("PREDICTOR_HOME", None)
        else:
            os.environ["PREDICTOR_HOME"] = previous
    return loaded
