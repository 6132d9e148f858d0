"""The writers produce files real tools read, in the exact ledger layouts."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from predictor import sexp
from predictor.demo import (
    write_csv_export, write_executions_jsonl, write_feature_lines, write_json_export, write_ledger_sqlite,
    write_sexp_export,
)
from predictor.demo.writers import WRITERS, write_demo_files
from predictor.errors import OutputExistsError, ValidationError

EPOCH = dt.datetime(1970, 1, 1)
DEPLOYMENT_COLUMNS = ["id", "service_name", "version", "environment", "deployment_type", "started", "completed",
                      "status", "initiator", "metadata", "parent_id"]
EXPECTED_COLUMNS = {  # the ledger's columns, bookkeeping (created_at ...) included
    "migrations": {
        "schema_migrations": ["version", "name", "applied_at", "checksum"],
        "deployments": DEPLOYMENT_COLUMNS + ["created_at", "updated_at"],
        "rollbacks": ["id", "service_name", "from_version", "to_version", "reason", "timestamp", "initiator",
                      "impact", "deployment_id", "created_at"],
        "service_metadata": ["name", "type", "dependencies", "owners", "repository", "health_check", "created",
                             "updated", "active", "tags"],
        "service_dependencies": ["service_name", "depends_on", "dependency_type", "created_at"],
    },
    "init": {
        "deployments": DEPLOYMENT_COLUMNS + ["created_at"],
        "rollbacks": ["id", "service_name", "from_version", "to_version", "reason", "initiated", "completed",
                      "status", "deployment_id"],
        "service_metadata": ["service_name", "description", "team", "repository_url", "documentation_url",
                             "health_check_url", "dependencies", "tags"],
    },
}


def epoch(moment: dt.datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("schema", ["migrations", "init"])
def test_sqlite_ledger_has_the_exact_tables_and_values(small_history, tmp_path, schema):
    history = small_history
    path = tmp_path / "ledger.db"
    summary = write_ledger_sqlite(history, path, schema=schema)
    assert summary["format"] == f"ledger-sqlite-{schema}"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set(EXPECTED_COLUMNS[schema])
    for table, columns in EXPECTED_COLUMNS[schema].items():
        assert [row[1] for row in con.execute(f"PRAGMA table_info({table})")] == columns, table
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == len(history.deployments)
    assert con.execute("SELECT count(*) FROM rollbacks").fetchone()[0] == len(history.rollbacks)
    assert con.execute("SELECT count(*) FROM service_metadata").fetchone()[0] == len(history.services)
    rows = {row[0]: row for row in con.execute("SELECT * FROM deployments")}
    for record in history.deployments[::37]:
        row = rows[record["id"]]
        assert row[1:9] == (record["service"], record["version"], record["environment"], record["deployment_type"],
                            epoch(record["started"]), epoch(record["completed"]), record["status"],
                            record["initiator"])
        assert sexp.to_plain(sexp.read(row[9])) == record["metadata"]
        assert row[10] == record["parent_id"]
    rollback = history.rollbacks[0]
    row = con.execute("SELECT * FROM rollbacks WHERE id = ?", [rollback["id"]]).fetchone()
    assert row[1:6] == (rollback["service"], rollback["from_version"], rollback["to_version"], rollback["reason"],
                        epoch(rollback["started"]))
    service = history.services[5]
    if schema == "migrations":
        assert row[6:9] == (rollback["initiator"], rollback["impact"], rollback["deployment_id"])
        assert [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1")] == [1, 2]
        meta = con.execute("SELECT type, dependencies, owners, tags FROM service_metadata WHERE name = ?",
                           [service["name"]]).fetchone()
        edges = con.execute("SELECT depends_on, dependency_type FROM service_dependencies WHERE service_name = ?"
                            " ORDER BY rowid", [service["name"]]).fetchall()
        assert edges == [(e["depends_on"], e["kind"]) for e in service["dependencies"]]
        assert meta[0] == service["type"] and sexp.read(meta[2]) == service["owners"]
        total_edges = sum(len(s["dependencies"]) for s in history.services)
        assert con.execute("SELECT count(*) FROM service_dependencies").fetchone()[0] == total_edges
    else:
        assert row[6:] == (epoch(rollback["completed"]), rollback["status"], rollback["deployment_id"])
        meta = con.execute("SELECT team, dependencies, tags FROM service_metadata WHERE service_name = ?",
                           [service["name"]]).fetchone()
        assert meta[0] == service["team"] and sexp.read(meta[2]) == service["tags"]
    names = [e["depends_on"] for e in service["dependencies"]]
    assert (sexp.read(meta[1]) if meta[1] else []) == names
    con.close()


def test_sqlite_schema_name_is_checked(small_history, tmp_path):
    with pytest.raises(ValidationError, match="schema"):
        write_ledger_sqlite(small_history, tmp_path / "x.db", schema="v2")
    assert not (tmp_path / "x.db").exists()


GUILE_READER = r"""
(define port (open-input-file (cadr (command-line))))
(define header (read port))
(unless (equal? header '(deploy-ledger-export (version 1))) (error "bad header" header))
(let loop ((deployments 0) (rollbacks 0))
  (let ((entry (read port)))
    (cond ((eof-object? entry)
           (format #t "counts ~a ~a~%" deployments rollbacks))
          ((eq? (car entry) 'deployment)
           (let ((metadata (cadr (assq 'metadata (cdr entry)))))
             (unless (and (symbol? (cadr (assq 'environment (cdr entry))))
                          (string? (cdr (assq 'region metadata)))
                          (integer? (cdr (assq 'change-size metadata))))
               (error "bad deployment" entry)))
           (loop (+ deployments 1) rollbacks))
          ((eq? (car entry) 'rollback)
           (write (cadr (assq 'reason (cdr entry)))) (newline)
           (loop deployments (+ rollbacks 1)))
          (else (error "unknown entry" entry)))))
"""


def test_sexp_export_is_read_by_guile_with_escaped_strings(small_history, tmp_path):
    history = small_history
    path = tmp_path / "export.scm"
    write_sexp_export(history, path)
    script = tmp_path / "read.scm"
    script.write_text(GUILE_READER)
    proc = subprocess.run(["guile", "--no-auto-compile", str(script), str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == f"counts {len(history.deployments)} {len(history.rollbacks)}"
    # Guile writes each reason back; it must be the very text we meant (quotes, backslashes)
    reasons_back = [sexp.read(line) for line in lines[:-1]]
    assert reasons_back == [r["reason"] for r in history.rollbacks]
    assert any('"' in r and "\\" in r for r in reasons_back)


def test_sexp_export_layout(small_history, tmp_path):
    history = small_history
    path = tmp_path / "export.scm"
    write_sexp_export(history, path)
    data = sexp.read_all(path.read_text())
    assert data[0] == [sexp.Symbol("deploy-ledger-export"), [sexp.Symbol("version"), 1]]
    first = data[1]
    assert first[0] == "deployment"
    fields = {entry[0]: entry[1] for entry in first[1:]}
    assert list(fields) == ["id", "service", "version", "environment", "type", "started", "completed", "status",
                            "initiator", "metadata", "parent-id"]
    record = history.deployments[0]
    assert fields["id"] == record["id"] and fields["started"] == iso(record["started"])
    assert isinstance(fields["environment"], sexp.Symbol) and isinstance(fields["status"], sexp.Symbol)
    assert sexp.to_plain(fields["metadata"]) == record["metadata"]
    assert fields["parent-id"] is False
    with_parent = next(d for d in data[1:] if d[0] == "deployment" and dict((e[0], e[1]) for e in d[1:])["parent-id"])
    assert dict((e[0], e[1]) for e in with_parent[1:])["parent-id"].startswith("dep-")
    rollback = next(d for d in data if d[0] == "rollback")
    assert [entry[0] for entry in rollback[1:]] == ["id", "service", "from-version", "to-version", "reason",
                                                    "timestamp", "initiator", "impact", "deployment-id"]
    assert path.read_text().startswith("(deploy-ledger-export (version 1))\n(deployment\n  (id \"dep-0000001\")\n")


def test_csv_export_header_and_quoting(small_history, tmp_path):
    history = small_history
    path = tmp_path / "export.csv"
    write_csv_export(history, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "id,service,version,environment,type,started,completed,status,initiator"
    quoted = re.compile(r'^"[^"]*"(,"[^"]*"){8}$')
    assert all(quoted.match(line) for line in lines[1:])
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(history.deployments)
    record = history.deployments[10]
    assert rows[10] == {"id": record["id"], "service": record["service"], "version": record["version"],
                        "environment": record["environment"], "type": record["deployment_type"],
                        "started": iso(record["started"]), "completed": iso(record["completed"]),
                        "status": record["status"], "initiator": record["initiator"]}


def test_json_export_objects(small_history, tmp_path):
    history = small_history
    path = tmp_path / "export.json"
    write_json_export(history, path)
    objects = json.loads(path.read_text())
    assert len(objects) == len(history.deployments)
    for obj, record in zip(objects[::50], history.deployments[::50]):
        assert obj == {"id": record["id"], "service": record["service"], "version": record["version"],
                       "environment": record["environment"], "deployment_type": record["deployment_type"],
                       "started": iso(record["started"]), "completed": iso(record["completed"]),
                       "status": record["status"], "initiator": record["initiator"],
                       "parent_id": record["parent_id"]}


def test_feature_lines_one_alist_per_service(small_history, tmp_path):
    history = small_history
    path = tmp_path / "training-data.sexp"
    write_feature_lines(history, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(history.services)
    total = 0
    for line, service in zip(lines, history.services):
        profile = sexp.alist_to_dict(sexp.read(line))
        assert profile["service"] == service["name"]
        mine = [d for d in history.deployments if d["service"] == service["name"]]
        assert profile["total-deployments"] == len(mine)
        hourly, weekly = profile["hourly-distribution"], profile["weekly-distribution"]
        assert len(hourly) == 24 and len(weekly) == 7 and sum(hourly) == sum(weekly) == len(mine)
        assert weekly[0] == sum(d["started"].isoweekday() == 7 for d in mine)  # SRFI-19: Sunday is 0
        for pattern in profile["failure-patterns"]:  # (("api" . canary) . 3)
            pattern_service, pattern_type, count = pattern.car.car, pattern.car.cdr, pattern.cdr
            assert pattern_service == service["name"]
            assert count == sum(d["deployment_type"] == pattern_type and d["status"] == "failure" for d in mine) >= 2
        total += len(mine)
    assert total == len(history.deployments)
    assert lines[0].startswith('((service . "auth") (total-deployments . ')


def test_executions_jsonl_equals_the_canonical_records(small_history, tmp_path):
    history = small_history
    path = tmp_path / "executions.jsonl"
    write_executions_jsonl(history, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(history.deployments)
    to_text = lambda value: iso(value) if isinstance(value, dt.datetime) else value  # noqa: E731
    for line, record in zip(lines, history.deployments):
        assert json.loads(line) == {key: to_text(value) for key, value in record.items()}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writers_refuse_to_replace_a_file(small_history, tmp_path, name):
    path = tmp_path / "existing"
    path.write_text("keep me")
    with pytest.raises(OutputExistsError, match="already exists"):
        WRITERS[name](small_history, path, False)
    assert path.read_text() == "keep me"


def test_write_demo_files_checks_every_target_first(tmp_path):
    (tmp_path / "ledger-export.scm").write_text("keep me")
    with pytest.raises(OutputExistsError):
        write_demo_files(tmp_path, ["sqlite", "sexp"], days=2)
    assert not (tmp_path / "ledger.db").exists()
    with pytest.raises(ValidationError, match="formats"):
        write_demo_files(tmp_path, ["sqlite", "parquet"], days=2)
    result = write_demo_files(tmp_path, ["sqlite", "sexp"], days=2, overwrite=True)
    assert [Path(f["path"]).name for f in result["files"]] == ["ledger.db", "ledger-export.scm"]
    assert result["files"][0]["deployments"] == result["history"]["deployments"] > 0
