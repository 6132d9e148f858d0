"""Fixtures of the ingest tests: a fresh store, a sample history, and full-table snapshots."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ledger_files  # noqa: E402

from predictor.store import open_store  # noqa: E402

SNAPSHOT_TABLES = ("deployments", "rollbacks", "services", "service_dependencies", "service_profiles", "sources")


@pytest.fixture
def store(tmp_path: Path):
    """A fresh, migrated store in tmp_path."""
    with open_store(tmp_path / "store.duckdb") as opened:
        yield opened


@pytest.fixture
def history() -> dict:
    """The sample ledger history every format is written from."""
    return ledger_files.sample_history()


def snapshot(store) -> dict[str, list[tuple]]:
    """Every row of every history table (sorted), to compare a store before and after."""
    result = {}
    for table in SNAPSHOT_TABLES:
        rows = store.con.execute(f"SELECT * FROM {table}").fetchall()
        result[table] = sorted(rows, key=repr)
    return result
