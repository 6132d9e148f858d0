"""Every ledger format, written with real tools, round-trips into the store; re-ingest is a no-op."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ledger_files as lf
from ledger_files import snapshot
from predictor.errors import IngestError
from predictor.store.ingest import detect_format, ingest_paths

WRITERS = {
    "ledger-sqlite-migrations": lambda path, h: lf.write_sqlite(path.with_suffix(".db"), h, "migrations"),
    "ledger-sqlite-init": lambda path, h: lf.write_sqlite(path.with_suffix(".sqlite"), h, "init"),
    "ledger-sexp": lambda path, h: lf.write_sexp(path.with_suffix(".sexp"), h),
    "ledger-json": lambda path, h: lf.write_json_export(path.with_suffix(".json"), h),
    "ledger-csv": lambda path, h: lf.write_csv_export(path.with_suffix(".csv"), h),
}


def _deployments(store) -> dict[str, dict]:
    cursor = store.con.execute("SELECT * FROM deployments")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_ledger_formats_round_trip(fmt, store, history, tmp_path):
    path = WRITERS[fmt](tmp_path / "ledger", history)
    [report] = ingest_paths(store, [path], progress=False)
    assert report.format == fmt
    assert report.count("deployments", "inserted") == len(history["deployments"])
    stored = _deployments(store)
    for expected in history["deployments"]:
        row = stored[expected["id"]]
        for column in ("service", "version", "environment", "deployment_type", "started", "completed", "status",
                       "initiator"):
            assert row[column] == expected[column], (column, row[column], expected[column])
        if expected["completed"] is not None:
            assert row["duration_seconds"] == (expected["completed"] - expected["started"]).total_seconds()
        if fmt != "ledger-csv":
            assert row["parent_id"] == expected["parent_id"]
        if fmt.startswith("ledger-sqlite") or fmt == "ledger-sexp":
            assert json.loads(row["metadata"]) == expected["metadata"]
            if expected["metadata"]:
                assert row["change_size"] == expected["metadata"]["change-size"]
                assert json.loads(row["configuration"]) == expected["metadata"]["config"]
    source = store.con.execute("SELECT path, format, sha256, summary FROM sources").fetchall()
    assert source == [(str(path.resolve()), fmt, hashlib.sha256(path.read_bytes()).hexdigest(),
                       json.dumps(report.summary()))]
    assert store.con.execute("SELECT DISTINCT source_id FROM deployments").fetchall() == [(report.source_id,)]
    before = snapshot(store)
    [again] = ingest_paths(store, [path], progress=False)
    assert not again.changed and again.count("deployments", "unchanged") == len(history["deployments"])
    assert snapshot(store) == before


@pytest.mark.parametrize("variant", ["init", "migrations"])
def test_sqlite_rollbacks_services_and_dependencies(variant, store, history, tmp_path):
    path = lf.write_sqlite(tmp_path / f"{variant}.db", history, variant)
    content, mtime = path.read_bytes(), os.stat(path).st_mtime_ns
    [report] = ingest_paths(store, [path], progress=False)
    assert path.read_bytes() == content and os.stat(path).st_mtime_ns == mtime   # opened read-only
    assert report.summary()["rollbacks"]["inserted"] == 1
    rollback = store.con.execute("SELECT service, from_version, to_version, reason, started, deployment_id, "
                                 "initiator, impact FROM rollbacks").fetchone()
    expected = history["rollbacks"][0]
    assert rollback[:6] == (expected["service"], expected["from_version"], expected["to_version"], expected["reason"],
                            expected["started"], expected["deployment_id"])
    if variant == "migrations":
        assert rollback[6:] == (expected["initiator"], expected["impact"])
        types = dict(store.con.execute("SELECT name, type FROM services").fetchall())
        assert types == {s["name"]: s["type"] for s in history["services"]}
    else:
        completed, recovery = store.con.execute("SELECT completed, recovery_seconds FROM rollbacks").fetchone()
        assert completed == expected["completed"] and recovery == 300.0
        assert store.con.execute("SELECT health_check FROM services WHERE name = 'api'").fetchone() == \
            ("https://api/health",)
    dependencies = set(store.con.execute("SELECT service, depends_on, kind FROM service_dependencies").fetchall())
    assert dependencies == {(s["name"], d["depends_on"], d["kind"]) for s in history["services"]
                            for d in s["dependencies"]}
    tags = dict(store.con.execute("SELECT name, tags FROM services").fetchall())
    assert json.loads(tags["api"]) == ["core"]


def test_guile_written_sexp_export(store, tmp_path):
    """An export written by Guile itself (write + pretty-print, as export-deployments-sexp does)."""
    path = tmp_path / "guile-export.sexp"
    program = f"""
    (use-modules (ice-9 pretty-print))
    (call-with-output-file "{path}"
      (lambda (port)
        (write '(deploy-ledger-export (version 1)) port) (newline port)
        (pretty-print '(deployment (id "dep-g1") (service "api") (version "2.0.0") (environment production)
                        (type canary) (started "2026-11-21T15:30:05Z") (completed "2026-11-21T15:40:39Z")
                        (status success) (initiator "bob")
                        (metadata ((region . "eu") (lines-changed . 42) (note . "a \\"quoted\\" word")))
                        (parent-id #f)) port)
        (newline port)
        (pretty-print '(rollback (id "rb-g1") (service "api") (from-version "2.0.0") (to-version "1.9.0")
                        (reason "latency") (timestamp "2026-11-21T16:00:00Z") (initiator "ops")
                        (impact ("checkout" "search")) (deployment-id "dep-g1")) port)
        (newline port)))
    """
    subprocess.run(["guile", "-c", program], check=True, capture_output=True, timeout=60)
    assert detect_format(path) == "ledger-sexp"
    [report] = ingest_paths(store, [path], progress=False)
    assert report.summary()["deployments"]["inserted"] == 1 and report.summary()["rollbacks"]["inserted"] == 1
    row = store.con.execute("SELECT environment, completed, change_size, metadata, source_line FROM deployments").fetchone()
    assert row[:3] == ("production", dt.datetime(2026, 11, 21, 15, 40, 39), 42)
    assert json.loads(row[3])["note"] == 'a "quoted" word' and row[4] == 2
    assert store.con.execute("SELECT impact, started FROM rollbacks").fetchone() == \
        ('("checkout" "search")', dt.datetime(2026, 11, 21, 16, 0, 0))


def test_feature_lines(store, history, tmp_path):
    path = lf.write_feature_lines(tmp_path / "features.out", history)
    [report] = ingest_paths(store, [path], progress=False)
    assert report.format == "feature-lines" and report.summary()["service_profiles"]["inserted"] == 3
    total, hourly, weekly, patterns = store.con.execute(
        "SELECT total_deployments, hourly_distribution, weekly_distribution, failure_patterns FROM service_profiles "
        "WHERE service = 'web'").fetchone()
    web = [d for d in history["deployments"] if d["service"] == "web"]
    assert total == len(web) and sum(hourly) == len(web) and len(weekly) == 7
    assert json.loads(patterns) == [{"service": "web", "deployment_type": "rolling", "count": 1}]
    before = snapshot(store)
    [again] = ingest_paths(store, [path], progress=False)
    assert not again.changed and snapshot(store) == before


def _canonical(history: dict) -> list[dict]:
    rows = []
    for d in history["deployments"]:
        row = dict(d)
        row["started"], row["completed"] = lf.iso(d["started"]), lf.iso(d["completed"])
        rows.append(row)
    return rows


def test_plain_jsonl_csv_parquet(store, history, tmp_path):
    rows = _canonical(history)
    services = [{"record": "service", **s} for s in history["services"]]
    rollbacks = [{**r, "started": lf.iso(r["started"]), "completed": lf.iso(r["completed"])} for r in history["rollbacks"]]
    jsonl = lf.write_jsonl(tmp_path / "mixed.jsonl", rows[:3] + services + rollbacks)
    csv_path = tmp_path / "plain.csv"
    columns = ["id", "service", "environment", "deployment_type", "started", "completed", "status", "change_size"]
    lines = [",".join(columns)]
    for r in rows[3:5]:
        lines.append(",".join("7" if c == "change_size" else ("" if r[c] is None else str(r[c])) for c in columns))
    csv_path.write_text("\n".join(lines) + "\n")
    parquet = tmp_path / "plain.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "service": r["service"], "environment": r["environment"],
                                          "started": d["started"], "completed": d["completed"], "status": r["status"],
                                          "metadata": {"region": "us"}}
                                         for r, d in zip(rows[5:], history["deployments"][5:])]), parquet)
    reports = ingest_paths(store, [jsonl, csv_path, parquet], progress=False)
    assert [r.format for r in reports] == ["jsonl", "csv", "parquet"]
    assert reports[0].summary()["services"]["inserted"] == 3 and reports[0].summary()["rollbacks"]["inserted"] == 1
    assert reports[0].summary()["service_dependencies"]["inserted"] == 3
    stored = _deployments(store)
    assert set(stored) == {d["id"] for d in history["deployments"]}
    for expected in history["deployments"]:
        assert stored[expected["id"]]["started"] == expected["started"]
        assert stored[expected["id"]]["status"] == expected["status"]
    assert stored["dep-4"]["change_size"] == 7 and stored["dep-1"]["change_size"] == 100
    assert json.loads(stored["dep-6"]["metadata"]) == {"region": "us"}
    assert [stored[i]["source_line"] for i in ("dep-1", "dep-4", "dep-5", "dep-6")] == [1, 2, 3, 1]
    before = snapshot(store)
    assert not any(r.changed for r in ingest_paths(store, [jsonl, csv_path, parquet], progress=False))
    assert snapshot(store) == before


def test_enrichment_fills_missing_values_and_counts_as_updated(store, history, tmp_path):
    """The CSV export lacks metadata; the SQLite db adds it to the same ids without a conflict."""
    csv_path = lf.write_csv_export(tmp_path / "export.csv", history)
    db_path = lf.write_sqlite(tmp_path / "ledger.db", history)
    first, second = ingest_paths(store, [csv_path, db_path], progress=False)
    assert first.count("deployments", "inserted") == 6
    assert second.count("deployments", "updated") == 6 and second.count("deployments", "inserted") == 0
    assert store.con.execute("SELECT change_size FROM deployments WHERE id = 'dep-1'").fetchone() == (100,)


def test_big_exports_are_read_in_two_processes(store, tmp_path, monkeypatch):
    """Above PARALLEL_BYTES the tail half is read by a worker; rows and lines are the same."""
    from predictor.store.formats import ledger_sexp

    history = lf.sample_history(40)
    path = lf.write_sexp(tmp_path / "export.sexp", history)
    monkeypatch.setattr(ledger_sexp, "PARALLEL_BYTES", 1000)
    monkeypatch.setattr(ledger_sexp, "CHUNK_ROWS", 7)            # several Arrow chunks in this process
    [report] = ingest_paths(store, [path], progress=False)
    assert report.count("deployments", "inserted") == 40 and report.count("rollbacks", "inserted") == 1
    lines = dict(store.con.execute("SELECT id, source_line FROM deployments").fetchall())
    assert lines == {f"dep-{i + 1}": 2 + 12 * i for i in range(40)}
    # a bad entry in the tail half is reported with its true line
    history["deployments"][35]["status"] = "exploded"
    bad = lf.write_sexp(tmp_path / "bad.sexp", history)
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [bad], progress=False)
    assert caught.value.line == 2 + 12 * 35 + 8 and caught.value.field == "status"   # the (status ...) line
    # a split inside a multi-line string falls back to one reader, with the right result
    text = path.read_text()
    middle = text.find("\n(", len(text) // 2)
    text = text[:middle] + '\n  (note "a\n(deployment inside a string")' + text[middle:]
    path.write_text(text.replace('(parent-id #f))\n  (note', '(parent-id #f)\n  (note', 1))
    assert ingest_paths(store, [path], skip_invalid=True, progress=False)[0].count("deployments", "unchanged") >= 39


def test_big_sqlite_databases_are_read_in_two_processes(store, tmp_path, monkeypatch):
    """Above PARALLEL_ROWS the upper rowid half is read by a helper process; same rows, same errors."""
    from predictor.store.formats import ledger_sqlite

    monkeypatch.setattr(ledger_sqlite, "PARALLEL_ROWS", 2)
    history = lf.sample_history(30)
    path = lf.write_sqlite(tmp_path / "ledger.db", history, "migrations")
    [report] = ingest_paths(store, [path], progress=False)
    assert report.count("deployments", "inserted") == 30
    rows = dict(store.con.execute("SELECT id, source_line FROM deployments").fetchall())
    assert rows == {f"dep-{i + 1}": i + 1 for i in range(30)}
    assert store.con.execute("SELECT count(*) FROM deployments WHERE change_size IS NOT NULL").fetchone() == (15,)
    lf.alter_sqlite(path, "UPDATE deployments SET metadata = '((oops' WHERE rowid IN (25, 27)")
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert caught.value.line == 25 and caught.value.field == "metadata"
    [report] = ingest_paths(store, [path], skip_invalid=True, progress=False)
    assert [(e.line, e.field) for e in report.skipped] == [(25, "metadata"), (27, "metadata")]
