"""Fixtures of the ingest tests: a fresh store and a sample history."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ledger_files  # noqa: E402

from predictor.store import open_store  # noqa: E402


@pytest.fixture
def store(tmp_path: Path):
    """A fresh, migrated store in tmp_path."""
    with open_store(tmp_path / "store.duckdb") as opened:
        yield opened


@pytest.fixture
def history() -> dict:
    """The sample ledger history every format is written from."""
    return ledger_files.sample_history()
