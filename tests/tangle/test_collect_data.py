"""The tangled collect-data.scm, run with real Guile on ledger SQLite databases of both schemas."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tangle_ledger_db import SAMPLE_DEPLOYMENTS, make_ledger
from tests.conftest import ROOT, scaled

EXPERIMENT = ROOT / "tangle" / "experiments" / "001-ml-predictions"
COLLECT = EXPERIMENT / "collect-data.scm"
FAKE_LEDGER = Path(__file__).parent / "fake-ledger"
# the stand-in (deploy-ledger core types) of the plugin's tests serves here too
STAND_IN_TYPES = Path(__file__).resolve().parents[1] / "scheme"
SCHEMAS = ("init", "migrations")


def collect(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``guile collect-data.scm ARGS``; its stderr keeps collect-data's own lines only
    (Guile's ";;;" notes about compiled files come and go with the cache)."""
    full_env = {key: value for key, value in os.environ.items() if key != "GUILE_LOAD_PATH"}
    full_env.update(env or {})
    proc = subprocess.run(["guile", "--no-auto-compile", str(COLLECT), *args], capture_output=True,
                          text=True, env=full_env, timeout=scaled(60))
    proc.stderr = "".join(line for line in proc.stderr.splitlines(keepends=True) if not line.startswith(";;;"))
    return proc


@pytest.fixture(params=SCHEMAS)
def exported(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    """A sample ledger in one schema variant, exported by collect-data.scm."""
    db = make_ledger(tmp_path / f"ledger-{request.param}.db", request.param)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out, lines, services = tmp_path / "history.sexp", tmp_path / "features.lines", tmp_path / "services.jsonl"
    proc = collect("--db", str(db), "--out", str(out), "--features", str(lines), "--services", str(services))
    assert proc.returncode == 0, proc.stderr
    return {"schema": request.param, "db": db, "before": before, "out": out, "lines": lines,
            "services": services, "proc": proc}


DEP_1 = """(deployment
 (id "dep-1")
 (service "api")
 (version "1.0.0")
 (environment production)
 (type canary)
 (started "2026-11-16T09:00:00Z")
 (completed "2026-11-16T09:10:00Z")
 (status success)
 (initiator "alice")
 (metadata ((region . "eu") (change-size . 120)))
 (parent-id #f))
"""

DEP_4 = """(deployment
 (id "dep-4")
 (service "db")
 (version "2.0.0")
 (environment production)
 (type big-bang)
 (started "2026-11-22T23:59:59Z")
 (completed #f)
 (status in-progress)
 (initiator "carol")
 (metadata ())
 (parent-id #f))
"""

ROLLBACK = {
    "migrations": """(rollback
 (id "rb-1")
 (service "api")
 (from-version "1.0.1")
 (to-version "1.0.0")
 (reason "error rate above 5%")
 (timestamp "2026-11-17T14:20:00Z")
 (initiator "bob")
 (impact ("checkout" "search"))
 (deployment-id "dep-3"))
""",
    "init": """(rollback
 (id "rb-1")
 (service "api")
 (from-version "1.0.1")
 (to-version "1.0.0")
 (reason "error rate above 5%")
 (timestamp "2026-11-17T14:20:00Z")
 (initiator #f)
 (impact #f)
 (deployment-id "dep-3")
 (completed "2026-11-17T14:25:00Z")
 (status success))
""",
}


def test_export_is_the_ledger_format(exported: dict) -> None:
    text = exported["out"].read_text(encoding="utf-8")
    assert text.startswith("(deploy-ledger-export (version 1))\n(deployment\n")
    assert DEP_1 in text and DEP_4 in text
    assert text.endswith(ROLLBACK[exported["schema"]])
    assert '(initiator "zoë")' in text                       # UTF-8 kept as it is
    # nested association lists are written dotted (the same datum as Guile's `write' gives)
    assert " (metadata ((change-size . 3000) (configuration . ((replicas . 3) (canary-percent . 10)))))\n" in text
    ids = [line.split('"')[1] for line in text.splitlines() if line.startswith(" (id ")]
    assert ids == ["dep-1", "dep-2", "dep-3", "dep-6", "dep-5", "dep-4", "rb-1"]   # oldest first
    assert f"({exported['schema']} schema, deployments read directly): 6 deployments, 1 rollbacks, 4 services" \
        in exported["proc"].stderr


def test_export_reads_back_with_guile(exported: dict) -> None:
    program = """
(use-modules (ice-9 match))
(call-with-input-file (cadr (command-line))
  (lambda (port)
    (let loop ((datum (read port)) (heads '()))
      (if (eof-object? datum)
          (write (reverse heads))
          (loop (read port) (cons (match datum ((head . fields) (list head (length fields)))) heads))))))
"""
    proc = subprocess.run(["guile", "--no-auto-compile", "-c", program, str(exported["out"])],
                          capture_output=True, text=True, timeout=scaled(30))
    assert proc.returncode == 0, proc.stderr
    fields = 11 if exported["schema"] == "init" else 9
    assert proc.stdout == ("((deploy-ledger-export 1)" + " (deployment 11)" * 6 + f" (rollback {fields}))")


def test_export_is_deterministic(exported: dict, tmp_path: Path) -> None:
    again = tmp_path / "again.sexp"
    proc = collect("--db", str(exported["db"]), "--out", str(again))
    assert proc.returncode == 0, proc.stderr
    assert again.read_bytes() == exported["out"].read_bytes()


def test_ledger_file_is_left_untouched(exported: dict) -> None:
    assert hashlib.sha256(exported["db"].read_bytes()).hexdigest() == exported["before"]
    assert not list(exported["db"].parent.glob("*.db-wal")) and not list(exported["db"].parent.glob("*.tmp"))


def feature_line(service: str, total: int, hours: dict[int, int], days: dict[int, int],
                 failures: list[tuple[str, int]]) -> str:
    """The feature line collect-data writes, from counts given by hand."""
    hourly = " ".join(str(hours.get(hour, 0)) for hour in range(24))
    weekly = " ".join(str(days.get(day, 0)) for day in range(7))
    patterns = " ".join(f'(("{service}" . {kind}) . {count})' for kind, count in failures)
    return (f'((service . "{service}") (total-deployments . {total}) (hourly-distribution . #({hourly}))'
            f" (weekly-distribution . #({weekly})) (failure-patterns . ({patterns})))")


def test_services_are_json_lines_in_the_plain_ingest_format(exported: dict) -> None:
    services = [json.loads(line) for line in exported["services"].read_text(encoding="utf-8").splitlines()]
    assert [service["name"] for service in services] == ["api", "batch", "db", "web"]
    assert all(service["record"] == "service" for service in services)
    web = services[3]
    assert web["dependencies"] == [{"depends_on": "api", "kind": "hard"}] and web["tags"] == ["edge", "public"]
    if exported["schema"] == "init":
        assert web["description"] == 'the "web" service\n(owned by frontend)'
        assert web["documentation_url"] is None and web["team"] == "frontend"
    else:
        assert web["type"] == "serverless" and web["owners"] == ["frontend"] and web["active"] is True
        assert web["created"] == "2026-01-05T00:00:00Z"


def test_feature_lines_match_hand_counts(exported: dict) -> None:
    # api: Mon 09:00 success, Tue 09:30 failure (rolling), Tue 14:00 rolled-back (canary),
    # Fri 09:15 failure (canary).  db: Sun 23:59:59 in progress.  web: Sat 00:00 partial.
    # batch: described in service_metadata, never deployed.  Days count from Sunday = 0.
    expected = [
        feature_line("api", 4, {9: 3, 14: 1}, {1: 1, 2: 2, 5: 1}, [("canary", 2), ("rolling", 1)]),
        feature_line("batch", 0, {}, {}, []),
        feature_line("db", 1, {23: 1}, {0: 1}, []),
        feature_line("web", 1, {0: 1}, {6: 1}, [("blue-green", 1)]),
    ]
    assert exported["lines"].read_text(encoding="utf-8").splitlines() == expected


def test_export_ingests_with_counts_and_values(exported: dict, tmp_path: Path) -> None:
    from predictor.store import open_store
    from predictor.store.ingest import ingest_paths

    with open_store(tmp_path / "store.duckdb") as store:
        ingest_paths(store, [exported["out"], exported["lines"], exported["services"]], progress=False)
        con = store.con
        assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == len(SAMPLE_DEPLOYMENTS)
        assert con.execute("SELECT count(*) FROM rollbacks").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM service_profiles").fetchone()[0] == 4
        row = con.execute(
            "SELECT service, version, environment, deployment_type, started, completed, status, initiator,"
            " parent_id FROM deployments WHERE id = 'dep-3'").fetchone()
        assert row == ("api", "1.0.1", "production", "canary", dt.datetime(2026, 11, 17, 14, 0),
                       dt.datetime(2026, 11, 17, 14, 20), "rolled-back", "bob", "dep-2")
        assert con.execute("SELECT completed, status FROM deployments WHERE id = 'dep-4'").fetchone() \
            == (None, "in-progress")
        assert con.execute("SELECT initiator FROM deployments WHERE id = 'dep-5'").fetchone()[0] == "zoë"
        assert json.loads(con.execute("SELECT metadata FROM deployments WHERE id = 'dep-1'").fetchone()[0]) \
            == {"region": "eu", "change-size": 120}
        change_size, configuration = con.execute(
            "SELECT change_size, configuration FROM deployments WHERE id = 'dep-6'").fetchone()
        assert change_size == 3000 and json.loads(configuration) == {"replicas": 3, "canary-percent": 10}
        rollback = con.execute(
            "SELECT service, from_version, to_version, started, initiator, deployment_id FROM rollbacks").fetchone()
        expected_initiator = "bob" if exported["schema"] == "migrations" else None
        assert rollback == ("api", "1.0.1", "1.0.0", dt.datetime(2026, 11, 17, 14, 20), expected_initiator, "dep-3")
        assert con.execute("SELECT service, depends_on, kind FROM service_dependencies ORDER BY service"
                           ).fetchall() == [("api", "db", "hard"), ("web", "api", "hard")]
        service = con.execute("SELECT name, type, team, owners, tags FROM services WHERE name = 'web'").fetchone()
        if exported["schema"] == "migrations":
            assert service[:2] == ("web", "serverless") and json.loads(service[3]) == ["frontend"]
        else:
            assert service[:3] == ("web", None, "frontend")
        assert json.loads(service[4]) == ["edge", "public"]
        assert con.execute("SELECT count(*) FROM services").fetchone()[0] == 4
        again = ingest_paths(store, [exported["out"], exported["lines"], exported["services"]], progress=False)
        assert not any(report.changed for report in again), [report.summary() for report in again]
        profile = con.execute(
            "SELECT total_deployments, hourly_distribution[10], weekly_distribution[3]"
            " FROM service_profiles WHERE service = 'api'").fetchone()
        assert profile == (4, 3, 2)                     # DuckDB lists count from 1


# -- through the ledger's own storage API ----------------------------------------------------

def test_uses_the_ledger_api_when_it_works(tmp_path: Path) -> None:
    db = make_ledger(tmp_path / "ledger.db", "migrations")
    direct = collect("--db", str(db), "--out", str(tmp_path / "direct.sexp"))
    log = tmp_path / "calls.log"
    proc = collect("--db", str(db), "--out", str(tmp_path / "api.sexp"),
                   env={"GUILE_LOAD_PATH": f"{FAKE_LEDGER / 'working'}:{STAND_IN_TYPES}", "FAKE_LEDGER_LOG": str(log)})
    assert direct.returncode == 0 and proc.returncode == 0, proc.stderr
    assert "deployments read through the ledger's API" in proc.stderr
    assert log.read_text().splitlines() == ["(list-deployments #:limit 1)", "(list-deployments)"]
    assert (tmp_path / "api.sexp").read_bytes() == (tmp_path / "direct.sexp").read_bytes()


def test_falls_back_when_the_ledger_reader_fails(tmp_path: Path) -> None:
    db = make_ledger(tmp_path / "ledger.db", "init")
    direct = collect("--db", str(db), "--out", str(tmp_path / "direct.sexp"))
    proc = collect("--db", str(db), "--out", str(tmp_path / "fallback.sexp"),
                   env={"GUILE_LOAD_PATH": f"{FAKE_LEDGER / 'broken'}:{STAND_IN_TYPES}"})
    assert direct.returncode == 0 and proc.returncode == 0, proc.stderr
    assert "the ledger's list-deployments failed here" in proc.stderr and "sqlite-done?" in proc.stderr
    assert "deployments read directly" in proc.stderr
    assert (tmp_path / "fallback.sexp").read_bytes() == (tmp_path / "direct.sexp").read_bytes()


# -- errors -----------------------------------------------------------------------------------

def _missing(path: Path) -> None:
    pass


def _not_sqlite(path: Path) -> None:
    path.write_text("(deploy-ledger-export (version 1))\n")


def _other_database(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE deployments (id TEXT, name TEXT)")
    con.commit()
    con.close()


def _unknown_variant(path: Path) -> None:
    make_ledger(path, "migrations")
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE rollbacks RENAME COLUMN timestamp TO happened")
    con.commit()
    con.close()


def _bad_metadata(path: Path) -> None:
    make_ledger(path, "init")
    con = sqlite3.connect(path)
    con.execute("UPDATE deployments SET metadata = '((region . \"eu\")' WHERE id = 'dep-2'")
    con.commit()
    con.close()


def _metadata_not_alist(path: Path) -> None:
    make_ledger(path, "init")
    con = sqlite3.connect(path)
    con.execute("UPDATE deployments SET metadata = '42' WHERE id = 'dep-6'")
    con.commit()
    con.close()


def _bad_time(path: Path) -> None:
    make_ledger(path, "migrations")
    con = sqlite3.connect(path)
    con.execute("UPDATE deployments SET started = 'yesterday' WHERE id = 'dep-5'")
    con.commit()
    con.close()


@pytest.mark.parametrize("make, expected", [
    (_missing, "{db}: no such file"),
    (_not_sqlite, "{db}: cannot read the ledger database: file is not a database"),
    (_other_database, '{db}: not a deploy-ledger database: table deployments has columns ("id" "name")'),
    (_unknown_variant, "{db}: unknown ledger schema: rollbacks has columns"),
    (_bad_metadata, '{db}: deployment "dep-2", column metadata: expected an S-expression, '
                    'found "((region . \\"eu\\")"'),
    (_metadata_not_alist, '{db}: deployment "dep-6", column metadata: expected an association list, found "42"'),
    (_bad_time, '{db}: deployment "dep-5", column started: expected epoch seconds, found "yesterday"'),
], ids=lambda value: getattr(value, "__name__", "")[1:] or None)
def test_errors_name_the_place_and_write_nothing(tmp_path: Path, make, expected: str) -> None:
    db = tmp_path / "ledger.db"
    make(db)
    out = tmp_path / "history.sexp"
    proc = collect("--db", str(db), "--out", str(out))
    assert proc.returncode == 1
    assert proc.stderr.startswith("collect-data: " + expected.format(db=db)), proc.stderr
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_usage_without_required_options(tmp_path: Path) -> None:
    proc = collect("--out", str(tmp_path / "x.sexp"))
    assert proc.returncode == 1
    assert "--db and --out are required" in proc.stderr and "Usage: guile collect-data.scm" in proc.stderr


EDGE_TIMES = [0, -1, 946684799, 951782400, 951868800, 1709251199, 1772323200, 4102444800, 1763000000.4]


def test_times_are_iso8601_utc_across_calendar_edges(tmp_path: Path) -> None:
    db = make_ledger(tmp_path / "ledger.db", "migrations")
    con = sqlite3.connect(db)
    con.execute("DELETE FROM deployments")
    con.executemany(
        "INSERT INTO deployments (id, service_name, version, environment, deployment_type, started, completed,"
        " status, initiator, metadata, parent_id) VALUES (?, 'api', '1', 'production', 'canary', ?, NULL,"
        " 'success', 'ci', NULL, NULL)",
        [(f"edge-{index:02d}", seconds) for index, seconds in enumerate(EDGE_TIMES)],
    )
    con.commit()
    con.close()
    out = tmp_path / "history.sexp"
    proc = collect("--db", str(db), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    started = [line.split('"')[1] for line in out.read_text().splitlines() if line.startswith(" (started ")]
    expected = sorted((dt.datetime(1970, 1, 1) + dt.timedelta(seconds=round(s))).strftime("%Y-%m-%dT%H:%M:%SZ")
                      for s in EDGE_TIMES)
    assert started == expected
