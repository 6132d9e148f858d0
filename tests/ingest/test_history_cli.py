"""The ingest, history and stats commands, run as real processes."""

from __future__ import annotations

import json

import ledger_files as lf


def test_ingest_history_stats_through_the_cli(cli, home, tmp_path):
    history = lf.sample_history()
    db_path = lf.write_sqlite(tmp_path / "ledger.db", history, "init")
    export = lf.write_sexp(tmp_path / "export.sexp", history)
    result = cli("ingest", str(db_path), str(export), "--json")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [r["format"] for r in reports] == ["ledger-sqlite-init", "ledger-sexp"]
    assert reports[0]["tables"]["deployments"]["inserted"] == 6
    assert reports[1]["tables"]["deployments"] == {"inserted": 0, "updated": 0, "unchanged": 6, "skipped": 0}
    assert (home / "history.duckdb").exists()                 # the default store under PREDICTOR_HOME

    result = cli("history", "--service", "web", "--status", "failure", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["id"], r["environment"], r["status"]) for r in rows] == [("dep-2", "production", "failure")]

    result = cli("history", "--since", "2026-11-22", "--until", "2026-11-22T13:00:00Z", "--json")
    assert [r["id"] for r in json.loads(result.stdout)] == ["dep-4", "dep-3"]

    result = cli("stats", "--json")
    stats = {(r["service"], r["environment"]): r for r in json.loads(result.stdout)}
    assert stats[("web", "production")]["failures"] == 1 and stats[("web", "production")]["failure_rate"] == 1.0
    assert stats[("web", "production")]["rollbacks"] == 1
    assert stats[("db", "production")]["unfinished"] == 1 and stats[("db", "production")]["failure_rate"] is None

    table = cli("stats", env={"COLUMNS": "200"})
    assert table.returncode == 0 and "web" in table.stdout and "100.0%" in table.stdout


def test_cli_reports_the_place_of_a_bad_record_and_exit_1(cli, home, tmp_path):
    export = lf.write_csv_export(tmp_path / "export.csv", lf.sample_history())
    export.write_text(export.read_text().replace('"rolling"', '"sideways"'))
    result = cli("ingest", str(export))
    assert result.returncode == 1
    assert f"{export}:3:" in result.stderr and "deployment_type" in result.stderr and "sideways" in result.stderr
    result = cli("ingest", str(export), "--skip-invalid", "--json")
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["tables"]["deployments"]["inserted"] == 5
    assert [(s["line"], s["field"], s["found"]) for s in report["skipped"]] == [(3, "deployment_type", "sideways")]
    bad = cli("history", "--status", "exploded")
    assert bad.returncode == 1 and "status" in bad.stderr
