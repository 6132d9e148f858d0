"""The SQLite reader's rowid ranges: found without a scan, and every row read whatever gaps the
rowids have (deleted rows), by each way of reading (ADBC threads, sqlite3 and a helper process)."""

from __future__ import annotations

import sqlite3

import pytest

import ledger_files as lf
from predictor.store import open_store
from predictor.store.formats import ledger_sqlite
from predictor.store.ingest import ingest_paths


@pytest.mark.parametrize("variant", ["init", "migrations"])
def test_bounds_are_looked_up_not_scanned(tmp_path, variant):
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(9), variant)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM deployments WHERE id IN ('dep-1', 'dep-9')")
    db.commit()
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + ledger_sqlite.BOUNDS_SQL)]
    assert db.execute(ledger_sqlite.BOUNDS_SQL).fetchone() == (2, 8, 7)
    db.close()
    # min and max each a SEARCH at one end of the b-tree; only count(*) walks one
    assert sum(detail.startswith("SEARCH") for detail in plan) == 2, plan
    assert sum(detail.startswith("SCAN") and "CONSTANT ROW" not in detail for detail in plan) == 1, plan


@pytest.mark.parametrize("adbc_rows", [1, 10**12], ids=["ADBC threads", "sqlite3 and a helper process"])
def test_every_row_is_read_whatever_gaps_the_rowids_have(tmp_path, monkeypatch, adbc_rows):
    monkeypatch.setattr(ledger_sqlite, "PARALLEL_ROWS", 2)          # two halves of the rowid range
    monkeypatch.setattr(ledger_sqlite, "ADBC_ROWS", adbc_rows)
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(40))
    db = sqlite3.connect(path)
    # rows gone at both ends and a run in the middle: the halves split min..max, not 1..count
    db.execute("DELETE FROM deployments WHERE rowid IN (1, 2, 40) OR rowid BETWEEN 15 AND 30")
    db.commit()
    kept = [row[0] for row in db.execute("SELECT rowid FROM deployments ORDER BY rowid")]
    ids = [row[0] for row in db.execute("SELECT id FROM deployments ORDER BY rowid")]
    db.close()
    assert kept[0] == 3 and kept[-1] == 39 and len(kept) == 21
    with open_store(tmp_path / "store.duckdb") as store:
        report = ingest_paths(store, [path], progress=False)[0]
        stored = store.con.execute("SELECT source_line, id FROM deployments ORDER BY source_line").fetchall()
    assert report.count("deployments", "inserted") == 21
    assert stored == list(zip(kept, ids))


def test_a_database_without_deployments_still_gives_its_services(store, tmp_path):
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(5))
    lf.alter_sqlite(path, "DELETE FROM deployments")
    report = ingest_paths(store, [path], progress=False)[0]
    assert "deployments" not in report.tables
    assert report.count("services", "inserted") == 3
    assert store.counts()["deployments"] == 0
