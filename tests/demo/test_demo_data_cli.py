"""``predictor demo-data`` as a real process."""

from __future__ import annotations

import json
import sqlite3


def test_demo_data_writes_the_ledger_files_and_says_so(cli, home, tmp_path):
    out = tmp_path / "demo"
    proc = cli("demo-data", str(out), "--seed", "4", "--services", "8", "--days", "10", "--per-day", "30",
               "--formats", "sqlite,sexp,csv")
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"ledger.db", "ledger-export.scm", "ledger-export.csv"}
    con = sqlite3.connect(out / "ledger.db")
    deployments = con.execute("SELECT count(*) FROM deployments").fetchone()[0]
    services = con.execute("SELECT count(*) FROM service_metadata").fetchone()[0]
    con.close()
    assert services == 8 and deployments > 100
    assert f"{deployments} deployments" in proc.stdout
    assert "ledger.db" in proc.stdout and "ledger-export.scm" in proc.stdout
    csv_rows = (out / "ledger-export.csv").read_text().count("\n") - 1
    assert csv_rows == deployments

    again = cli("demo-data", str(out), "--seed", "4", "--formats", "sqlite")
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--force" in again.stderr

    bad = cli("demo-data", str(out), "--formats", "sqlite,parquet")
    assert bad.returncode == 1 and "parquet" in bad.stderr

    forced = cli("demo-data", str(out), "--seed", "4", "--services", "8", "--days", "10", "--per-day", "30",
                 "--formats", "sqlite", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    result = json.loads(forced.stdout)
    assert result["history"]["deployments"] == deployments  # same seed, same history
    assert result["files"][0]["format"] == "ledger-sqlite-migrations"
