"""Shared fixtures of the models tests: generated histories loaded into real DuckDB stores."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import synthetic  # noqa: E402

from predictor.store import open_store  # noqa: E402


def make_store(path: Path, **generate_args):
    """Create a store at PATH holding a generated history; return (store, history)."""
    store = open_store(path)
    history = synthetic.generate(**generate_args)
    synthetic.load(store, history)
    return store, history


@pytest.fixture(scope="session")
def large_history(tmp_path_factory):
    """A 24k-deployment history (read it, do not change it)."""
    store, history = make_store(tmp_path_factory.mktemp("large") / "history.duckdb",
                                n_deployments=24_000, services=24, days=150, seed=7)
    yield store, history
    store.close()


@pytest.fixture
def small_history(tmp_path):
    """A fresh 3k-deployment history per test (free to change)."""
    store, history = make_store(tmp_path / "history.duckdb", n_deployments=3_000, services=10, days=40, seed=3)
    yield store, history
    store.close()
