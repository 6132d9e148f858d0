"""Write deploy-ledger files the way the ledger does: its SQLite schemas (both variants, the
exact DDL), its sexp / JSON / CSV exports, and experiment 001's feature lines.

Used by the ingest tests and by bench/ingest.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from predictor.store.formats.ledger_schema import DDL

# the storage module's init-database!, and migrations/001-initial-schema.sql + 002-add-features.sql
INIT_DDL = DDL["init"]
MIGRATIONS_DDL = DDL["migrations"]

T0 = dt.datetime(2026, 11, 21, 15, 30, 5)


def sample_history(n: int = 6) -> dict:
    """A small history: N deployments over 3 services, 1 rollback, 3 services with dependencies."""
    deployments = []
    statuses = ["success", "failure", "success", "rolled-back", "success", "in-progress"]
    types = ["canary", "rolling", "blue-green", "big-bang", "feature-flag", "a-b-test"]
    for i in range(n):
        started = T0 + dt.timedelta(hours=i * 7, minutes=i)
        status = statuses[i % len(statuses)]
        completed = None if status == "in-progress" else started + dt.timedelta(seconds=600 + 37 * i)
        deployments.append({
            "id": f"dep-{i + 1}", "service": ["api", "web", "db"][i % 3], "version": f"1.{i}.0",
            "environment": ["staging", "production"][i % 2], "deployment_type": types[i % len(types)],
            "started": started, "completed": completed, "status": status, "initiator": "bob",
            "metadata": {"region": "eu", "change-size": 100 + i, "config": {"replicas": 2 + i}} if i % 2 == 0 else {},
            "parent_id": f"dep-{i}" if i % 3 == 2 else None,
        })
    rollbacks = [{"id": "rb-1", "service": "web", "from_version": "1.1.0", "to_version": "1.0.0",
                  "reason": "error rate", "started": T0 + dt.timedelta(hours=8), "completed": T0 + dt.timedelta(hours=8, minutes=5),
                  "status": "completed", "initiator": "alice", "impact": "checkout", "deployment_id": "dep-2"}]
    services = [
        {"name": "api", "type": "microservice", "dependencies": [{"depends_on": "db", "kind": "hard"},
                                                                 {"depends_on": "cache", "kind": "soft"}],
         "owners": ["team-a"], "tags": ["core"]},
        {"name": "web", "type": "monolith", "dependencies": [{"depends_on": "api", "kind": "hard"}],
         "owners": ["team-b"], "tags": []},
        {"name": "db", "type": "batch-job", "dependencies": [], "owners": [], "tags": ["data"]},
    ]
    return {"deployments": deployments, "rollbacks": rollbacks, "services": services}


def epoch(moment: dt.datetime | None) -> int:
    """Epoch seconds of a naive UTC datetime (0 for none, as the ledger's time->unix does)."""
    return 0 if moment is None else int(moment.replace(tzinfo=dt.timezone.utc).timestamp())


def iso(moment: dt.datetime | None) -> str | None:
    """The ledger's time format ~Y-~m-~dT~H:~M:~SZ."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sexp_value(value) -> str:
    """Write VALUE as Guile's `write` would (strings quoted, symbols bare, alists dotted)."""
    if value is None or value is False:
        return "#f"
    if value is True:
        return "#t"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "(" + " ".join(f"({k} . {sexp_value(v)})" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return "(" + " ".join(sexp_value(v) for v in value) + ")"
    return str(value)


def metadata_text(metadata: dict) -> str:
    """The ledger's stored metadata: (format #f "~s" alist), "" when empty."""
    return sexp_value(metadata) if metadata else ""


def alter_sqlite(path: Path, *statements) -> None:
    """Run STATEMENTS (SQL text, or (SQL, parameters)) on the SQLite database at PATH and commit."""
    db = sqlite3.connect(path)
    try:
        for statement in statements:
            sql, parameters = (statement, ()) if isinstance(statement, str) else statement
            db.execute(sql, parameters)
        db.commit()
    finally:
        db.close()


def write_sqlite(path: Path, history: dict, variant: str = "migrations") -> Path:
    """Write a ledger SQLite database in VARIANT ("init" or "migrations") holding HISTORY."""
    db = sqlite3.connect(path)
    db.executescript(INIT_DDL if variant == "init" else MIGRATIONS_DDL)
    db.executemany(
        "INSERT INTO deployments (id, service_name, version, environment, deployment_type, started, completed, "
        "status, initiator, metadata, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(d["id"], d["service"], d["version"], d["environment"], d["deployment_type"], epoch(d["started"]),
          epoch(d["completed"]), d["status"], d["initiator"], metadata_text(d["metadata"]), d["parent_id"])
         for d in history["deployments"]],
    )
    for r in history["rollbacks"]:
        if variant == "init":
            db.execute("INSERT INTO rollbacks (id, service_name, from_version, to_version, reason, initiated, completed, "
                       "status, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (r["id"], r["service"], r["from_version"], r["to_version"], r["reason"], epoch(r["started"]),
                        epoch(r["completed"]), r["status"], r["deployment_id"]))
        else:
            db.execute("INSERT INTO rollbacks (id, service_name, from_version, to_version, reason, timestamp, initiator, "
                       "impact, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (r["id"], r["service"], r["from_version"], r["to_version"], r["reason"], epoch(r["started"]),
                        r["initiator"], r["impact"], r["deployment_id"]))
    for s in history["services"]:
        if variant == "init":
            deps = "(" + " ".join(f'("{d["depends_on"]}" . {d["kind"]})' for d in s["dependencies"]) + ")"
            db.execute("INSERT INTO service_metadata VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (s["name"], f"the {s['name']} service", s["owners"][0] if s["owners"] else None,
                        f"https://git.example/{s['name']}", None, f"https://{s['name']}/health", deps,
                        sexp_value(s["tags"]) if s["tags"] else ""))
        else:
            db.execute("INSERT INTO service_metadata (name, type, dependencies, owners, repository, health_check, "
                       "created, updated, active, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (s["name"], s["type"], sexp_value([d["depends_on"] for d in s["dependencies"]]) if s["dependencies"] else "",
                        sexp_value(s["owners"]) if s["owners"] else "", f"https://git.example/{s['name']}",
                        f"https://{s['name']}/health", epoch(T0), epoch(T0), 1,
                        sexp_value(s["tags"]) if s["tags"] else ""))
            for d in s["dependencies"]:
                db.execute("INSERT INTO service_dependencies (service_name, depends_on, dependency_type) VALUES (?, ?, ?)",
                           (s["name"], d["depends_on"], d["kind"]))
    db.commit()
    db.close()
    return path


def deployment_sexp(d: dict) -> str:
    """One export entry, laid out as Guile's pretty-print writes it."""
    fields = [("id", sexp_value(d["id"])), ("service", sexp_value(d["service"])), ("version", sexp_value(d["version"])),
              ("environment", d["environment"]), ("type", d["deployment_type"]), ("started", sexp_value(iso(d["started"]))),
              ("completed", sexp_value(iso(d["completed"]))), ("status", d["status"]),
              ("initiator", sexp_value(d["initiator"])), ("metadata", sexp_value(d["metadata"]) if d["metadata"] else "()"),
              ("parent-id", sexp_value(d["parent_id"]))]
    return "(deployment\n" + "\n".join(f"  ({name} {value})" for name, value in fields) + ")\n"


def rollback_sexp(r: dict) -> str:
    """One rollback export entry."""
    fields = [("id", sexp_value(r["id"])), ("service", sexp_value(r["service"])),
              ("from-version", sexp_value(r["from_version"])), ("to-version", sexp_value(r["to_version"])),
              ("reason", sexp_value(r["reason"])), ("timestamp", sexp_value(iso(r["started"]))),
              ("initiator", sexp_value(r["initiator"])), ("impact", sexp_value(r["impact"])),
              ("deployment-id", sexp_value(r["deployment_id"]))]
    return "(rollback\n" + "\n".join(f"  ({name} {value})" for name, value in fields) + ")\n"


def write_sexp(path: Path, history: dict) -> Path:
    """Write the ledger's sexp export of HISTORY."""
    with path.open("w") as out:
        out.write("(deploy-ledger-export (version 1))\n")
        for d in history["deployments"]:
            out.write(deployment_sexp(d))
        for r in history["rollbacks"]:
            out.write(rollback_sexp(r))
    return path


def write_json_export(path: Path, history: dict) -> Path:
    """Write the ledger's JSON export (the layout export-deployments-json prints)."""
    objects = []
    for d in history["deployments"]:
        objects.append("{\n" + ",\n".join([
            f'  "id": "{d["id"]}"', f'  "service": "{d["service"]}"', f'  "version": "{d["version"]}"',
            f'  "environment": "{d["environment"]}"', f'  "deployment_type": "{d["deployment_type"]}"',
            f'  "started": "{iso(d["started"])}"',
            f'  "completed": ' + (f'"{iso(d["completed"])}"' if d["completed"] else "null"),
            f'  "status": "{d["status"]}"', f'  "initiator": "{d["initiator"]}"',
            f'  "parent_id": ' + (f'"{d["parent_id"]}"' if d["parent_id"] else "null")]) + "\n}")
    path.write_text("[\n" + ",\n".join(objects) + "\n]\n")
    return path


def write_csv_export(path: Path, history: dict) -> Path:
    """Write the ledger's CSV export: bare header, every value double-quoted, not escaped."""
    with path.open("w") as out:
        out.write("id,service,version,environment,type,started,completed,status,initiator\n")
        for d in history["deployments"]:
            values = [d["id"], d["service"], d["version"], d["environment"], d["deployment_type"], iso(d["started"]),
                      iso(d["completed"]) or "", d["status"], d["initiator"]]
            out.write(",".join(f'"{v}"' for v in values) + "\n")
    return path


def write_feature_lines(path: Path, history: dict) -> Path:
    """Write experiment 001's collect-data lines: one alist per service."""
    lines = []
    for service in sorted({d["service"] for d in history["deployments"]}):
        mine = [d for d in history["deployments"] if d["service"] == service]
        hourly = [0] * 24
        weekly = [0] * 7
        failures: dict[str, int] = {}
        for d in mine:
            hourly[d["started"].hour] += 1
            weekly[d["started"].weekday()] += 1
            if d["status"] in ("failure", "rolled-back"):
                failures[d["deployment_type"]] = failures.get(d["deployment_type"], 0) + 1
        patterns = " ".join(f'(("{service}" . {t}) . {n})' for t, n in failures.items())
        lines.append(f'((service . "{service}") (total-deployments . {len(mine)}) '
                     f'(hourly-distribution . #({" ".join(map(str, hourly))})) '
                     f'(weekly-distribution . #({" ".join(map(str, weekly))})) '
                     f'(failure-patterns . ({patterns})))')
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write RECORDS as JSON Lines (datetimes as ISO-8601 Z)."""
    def default(value):
        return iso(value)
    path.write_text("".join(json.dumps(r, default=default) + "\n" for r in records))
    return path


SNAPSHOT_TABLES = ("deployments", "rollbacks", "services", "service_dependencies", "service_profiles", "sources")


def snapshot(store) -> dict[str, list[tuple]]:
    """Every row of every history table (sorted), to compare a store before and after."""
    result = {}
    for table in SNAPSHOT_TABLES:
        rows = store.con.execute(f"SELECT * FROM {table}").fetchall()
        result[table] = sorted(rows, key=repr)
    return result
