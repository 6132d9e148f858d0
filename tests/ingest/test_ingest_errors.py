"""Broken inputs: each error names the file, line or row, and field; the store is left as it was.
With --skip-invalid the good records go in and every bad one is reported."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import ledger_files as lf
from ledger_files import snapshot
from predictor.errors import IngestError, UnknownFormatError
from predictor.store.ingest import ingest_paths


def _history() -> dict:
    return lf.sample_history()


def _sexp_lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def truncated_sexp(tmp: Path):
    path = lf.write_sexp(tmp / "export.sexp", _history())
    lines = _sexp_lines(path)
    path.write_text("".join(lines[:30]) + '  (status succ')            # cut inside the third entry
    return path, {"line": 31, "message": "end of input inside the list opened on line 26"}


def unbalanced_sexp(tmp: Path):
    path = lf.write_sexp(tmp / "export.sexp", _history())
    lines = _sexp_lines(path)
    lines[15] = lines[15].rstrip("\n") + ")\n"                        # line 16: one ')' too many
    path.write_text("".join(lines))
    return path, {"line": 25, "message": "unexpected ')'"}        # where the extra ')' shows


def unknown_status_sexp(tmp: Path):
    history = _history()
    history["deployments"][1]["status"] = "exploded"
    return lf.write_sexp(tmp / "export.sexp", history), {"line": 22, "field": "status", "found": "exploded",
                                                         "message": "deployment 'dep-2'"}


def bad_rollback_time_sexp(tmp: Path):
    path = lf.write_sexp(tmp / "export.sexp", _history())
    path.write_text(path.read_text().replace('(timestamp "2026-11-21T23:30:05Z")', '(timestamp "soon")'))
    return path, {"line": 80, "field": "started", "found": "soon", "message": "rollback 'rb-1'"}


def bad_timestamp_csv(tmp: Path):
    path = lf.write_csv_export(tmp / "export.csv", _history())
    text = path.read_text().replace("2026-11-22T05:32:05Z", "2026-13-45T99:00:00Z")
    path.write_text(text)
    return path, {"line": 4, "field": "started", "found": "2026-13-45T99:00:00Z"}


def implausible_time_sqlite(tmp: Path):
    path = lf.write_sqlite(tmp / "ledger.db", _history(), "init")
    lf.alter_sqlite(path, "UPDATE deployments SET started = 86400 WHERE id = 'dep-5'")
    return path, {"line": 5, "field": "started", "expected": "a plausible time"}


def completed_before_started_json(tmp: Path):
    history = _history()
    history["deployments"][2]["completed"] = history["deployments"][2]["started"].replace(year=2025)
    return lf.write_json_export(tmp / "export.json", history), {"line": 26, "field": "completed",
                                                                "expected": "at or after started"}


def wrong_column_set_csv(tmp: Path):
    path = tmp / "deployments.csv"
    path.write_text("id,service,environment,started,status,colour\ndep-9,api,staging,2026-01-01T00:00:00Z,success,red\n")
    return path, {"line": 1, "field": "colour", "expected": "one of id, service"}


def missing_column_csv(tmp: Path):
    path = tmp / "deployments.csv"
    path.write_text("id,service,started,status\ndep-9,api,2026-01-01T00:00:00Z,success\n")
    return path, {"line": 1, "field": "environment", "message": "missing required"}


def duplicate_id_in_file_json(tmp: Path):
    history = _history()
    twin = copy.deepcopy(history["deployments"][1])
    twin["status"] = "success"
    history["deployments"].append(twin)
    return lf.write_json_export(tmp / "export.json", history), {"line": 74, "field": "id",
                                                                "message": "first at line 14"}


def duplicate_id_against_store_sexp(tmp: Path):
    history = _history()
    history["deployments"][0]["version"] = "9.9.9"
    return lf.write_sexp(tmp / "export.sexp", history), {"line": 5, "field": "version", "found": "9.9.9",
                                                         "message": "already stored from"}


def not_sqlite_db(tmp: Path):
    path = tmp / "ledger.db"
    path.write_text("this is not a database\n")
    return path, {"line": 1, "message": "not a format ingest understands"}


def bad_metadata_sqlite(tmp: Path):
    path = lf.write_sqlite(tmp / "ledger.db", _history(), "migrations")
    lf.alter_sqlite(path, "UPDATE deployments SET metadata = '((region . \"eu\")' WHERE id = 'dep-3'")
    return path, {"line": 3, "field": "metadata"}


def unknown_status_sqlite_init(tmp: Path):
    path = lf.write_sqlite(tmp / "ledger.db", _history(), "init")
    lf.alter_sqlite(path, "UPDATE deployments SET status = 'done' WHERE id = 'dep-4'")
    return path, {"line": 4, "field": "status", "found": "done"}


def unterminated_quote_csv(tmp: Path):
    path = lf.write_csv_export(tmp / "export.csv", _history())
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"bob"', '"bob')
    path.write_text("".join(lines))
    return path, {"line": 3, "message": "unreadable CSV row"}


def unknown_type_csv(tmp: Path):
    path = lf.write_csv_export(tmp / "export.csv", _history())
    path.write_text(path.read_text().replace('"blue-green"', '"purple-green"'))
    return path, {"line": 4, "field": "deployment_type", "found": "purple-green"}


def malformed_jsonl(tmp: Path):
    path = tmp / "records.jsonl"
    path.write_text('{"id": "x1", "service": "a", "environment": "e", "started": 1767225600, "status": "success"}\n'
                    '{"id": "x2", "service": \n')
    return path, {"line": 2, "message": "malformed JSON"}


def bad_service_type_jsonl(tmp: Path):
    path = tmp / "services.jsonl"
    path.write_text('{"name": "api", "type": "microservice"}\n{"name": "mq", "type": "mainframe"}\n')
    return path, {"line": 2, "field": "type", "found": "mainframe"}


def bad_dependency_kind_jsonl(tmp: Path):
    path = tmp / "services.jsonl"
    path.write_text('{"name": "mq", "dependencies": [{"depends_on": "db", "kind": "mandatory"}]}\n')
    return path, {"line": 1, "field": "dependencies", "found": "mandatory"}


def bad_feature_line(tmp: Path):
    path = lf.write_feature_lines(tmp / "features.out", _history())
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("(hourly-distribution . #(", "(hourly-distribution . #(oops ")
    path.write_text("".join(lines))
    return path, {"line": 2, "field": "hourly-distribution"}


BROKEN = [truncated_sexp, unbalanced_sexp, unknown_status_sexp, bad_rollback_time_sexp, bad_timestamp_csv, implausible_time_sqlite,
          completed_before_started_json, wrong_column_set_csv, missing_column_csv, duplicate_id_in_file_json,
          duplicate_id_against_store_sexp, not_sqlite_db, bad_metadata_sqlite, unknown_status_sqlite_init,
          unterminated_quote_csv, unknown_type_csv, malformed_jsonl, bad_service_type_jsonl,
          bad_dependency_kind_jsonl, bad_feature_line]


@pytest.mark.parametrize("make", BROKEN, ids=[f.__name__ for f in BROKEN])
def test_broken_input_names_the_place_and_changes_nothing(make, store, tmp_path):
    good = lf.write_sqlite(tmp_path / "good.db", _history(), "migrations")
    ingest_paths(store, [good], progress=False)
    before = snapshot(store)
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    path, expected = make(broken_dir)
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    error = caught.value
    assert error.path == str(path)
    assert error.line == expected["line"], str(error)
    assert str(error).startswith(f"{path}:{expected['line']}: ")
    if "field" in expected:
        assert error.field == expected["field"], str(error)
    if "found" in expected:
        assert expected["found"] in str(error.found), str(error)
    if "expected" in expected:
        assert expected["expected"] in (error.expected or ""), str(error)
    if "message" in expected:
        assert expected["message"] in str(error), str(error)
    assert snapshot(store) == before


def test_unknown_format_is_its_own_error(store, tmp_path):
    path, _ = not_sqlite_db(tmp_path)
    with pytest.raises(UnknownFormatError):
        ingest_paths(store, [path], progress=False)


def test_a_bad_file_keeps_earlier_files_of_the_same_call(store, tmp_path):
    good = lf.write_csv_export(tmp_path / "good.csv", _history())
    bad, _ = not_sqlite_db(tmp_path)
    with pytest.raises(IngestError):
        ingest_paths(store, [good, bad], progress=False)
    assert store.con.execute("SELECT count(*) FROM deployments").fetchone() == (6,)


def test_skip_invalid_keeps_going_and_reports_each_record(store, tmp_path):
    path = lf.write_csv_export(tmp_path / "export.csv", _history())
    text = path.read_text().replace('"blue-green"', '"purple-green"').replace('"failure"', '"kaput"')
    lines = text.splitlines(keepends=True)
    lines[5] = lines[5].replace(',"bob"', '')                    # row on line 6 lacks a column
    path.write_text("".join(lines))
    [report] = ingest_paths(store, [path], skip_invalid=True, progress=False)
    assert report.count("deployments", "inserted") == 3
    assert [(e.line, e.field) for e in report.skipped] == [(3, "status"), (4, "deployment_type"), (6, "initiator")]
    stored = dict(store.con.execute("SELECT id, source_line FROM deployments").fetchall())
    assert stored == {"dep-1": 2, "dep-4": 5, "dep-6": 7}
    assert report.summary()["deployments"]["skipped"] == 3


def test_skip_invalid_sexp_and_conflicts(store, tmp_path):
    ingest_paths(store, [lf.write_csv_export(tmp_path / "export.csv", _history())], progress=False)
    history = _history()
    history["deployments"][0]["status"] = "failure"                 # conflicts with the stored dep-1
    history["deployments"][2]["deployment_type"] = "yolo"
    path = lf.write_sexp(tmp_path / "export.sexp", history)
    text = path.read_text().replace("(deployment\n  (id \"dep-5\")", "(deploymnt\n  (id \"dep-5\")")
    path.write_text(text)
    [report] = ingest_paths(store, [path], skip_invalid=True, progress=False)
    assert [(e.line, e.field) for e in report.skipped] == [(10, "status"), (31, "deployment_type"), (50, "entry")]
    assert report.summary()["deployments"]["skipped"] == 3
    assert report.summary()["deployments"]["updated"] == 3          # dep-2, dep-4, dep-6 gain metadata
    assert store.con.execute("SELECT status FROM deployments WHERE id = 'dep-1'").fetchone() == ("success",)
    assert json.loads(store.con.execute("SELECT summary FROM sources ORDER BY id DESC LIMIT 1").fetchone()[0]) == \
        report.summary()
