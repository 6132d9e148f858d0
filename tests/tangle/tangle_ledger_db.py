"""Build deploy-ledger SQLite databases, in both schema variants, for the collect-data tests.

The two variants are the ones the public ledger ships (see issue 2): the tables its storage
module's ``init-database!`` creates, and the ones its ``migrations/*.sql`` create. Only the
columns matter to a reader; predictor.store.formats.ledger_schema declares them with the
ledger's types and keys.
Values are stored the way the ledger stores them: times as epoch seconds, metadata, impact,
dependencies and tags as S-expression text.
"""

from __future__ import annotations

import calendar
import sqlite3
from pathlib import Path

from predictor.store.formats.ledger_schema import DDL

INIT_DDL = DDL["init"]
MIGRATIONS_DDL = DDL["migrations"]


def epoch(text: str) -> int:
    """Return the epoch seconds of the UTC time TEXT, e.g. ``2026-11-16T09:00:00Z``."""
    return calendar.timegm(__import__("time").strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


# A small history whose feature lines are easy to count by hand (2026-11-16 is a Monday).
# (id, service, version, environment, type, started, completed, status, initiator, metadata, parent)
SAMPLE_DEPLOYMENTS = [
    ("dep-1", "api", "1.0.0", "production", "canary", "2026-11-16T09:00:00Z", "2026-11-16T09:10:00Z",
     "success", "alice", '((region . "eu") (change-size . 120))', None),
    ("dep-2", "api", "1.0.1", "staging", "rolling", "2026-11-17T09:30:00Z", "2026-11-17T09:31:40Z",
     "failure", "alice", "", None),
    ("dep-3", "api", "1.0.1", "production", "canary", "2026-11-17T14:00:00Z", "2026-11-17T14:20:00Z",
     "rolled-back", "bob", '((region . "us"))', "dep-2"),
    ("dep-4", "db", "2.0.0", "production", "big-bang", "2026-11-22T23:59:59Z", None,
     "in-progress", "carol", None, None),
    ("dep-5", "web", "0.1.0", "production", "blue-green", "2026-11-21T00:00:00Z", "2026-11-21T00:00:30Z",
     "partial", "zoë", "()", None),
    ("dep-6", "api", "1.0.2", "production", "canary", "2026-11-20T09:15:00Z", "2026-11-20T09:40:00Z",
     "failure", "alice", "((change-size . 3000) (configuration (replicas . 3) (canary-percent . 10)))", None),
]

# (id, service, from, to, reason, time, completed, status, initiator, impact, deployment id)
SAMPLE_ROLLBACKS = [
    ("rb-1", "api", "1.0.1", "1.0.0", "error rate above 5%", "2026-11-17T14:20:00Z", "2026-11-17T14:25:00Z",
     "success", "bob", '("checkout" "search")', "dep-3"),
]

# (name, type, dependencies, team/owners, tags)
SAMPLE_SERVICES = [
    ("api", "microservice", ("db",), "payments", ("critical",)),
    ("batch", "batch-job", (), "data", ()),
    ("db", "monolith", (), "platform", ()),
    ("web", "serverless", ("api",), "frontend", ("edge", "public")),
]


def sexp_strings(items) -> str:
    """Return the S-expression text of a list of strings, as the ledger writes it with ~s."""
    return "(" + " ".join('"' + item + '"' for item in items) + ")"


def make_ledger(path: Path | str, schema: str) -> Path:
    """Create a ledger database at PATH in SCHEMA ("init" or "migrations") holding the sample."""
    path = Path(path)
    con = sqlite3.connect(path)
    try:
        con.executescript(INIT_DDL if schema == "init" else MIGRATIONS_DDL)
        con.executemany(
            "INSERT INTO deployments (id, service_name, version, environment, deployment_type, started,"
            " completed, status, initiator, metadata, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(d[0], d[1], d[2], d[3], d[4], epoch(d[5]), d[6] and epoch(d[6]), *d[7:]) for d in SAMPLE_DEPLOYMENTS],
        )
        for rid, service, old, new, reason, at, done, status, initiator, impact, dep in SAMPLE_ROLLBACKS:
            if schema == "init":
                con.execute(
                    "INSERT INTO rollbacks (id, service_name, from_version, to_version, reason, initiated,"
                    " completed, status, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [rid, service, old, new, reason, epoch(at), epoch(done), status, dep],
                )
            else:
                con.execute(
                    "INSERT INTO rollbacks (id, service_name, from_version, to_version, reason, timestamp,"
                    " initiator, impact, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [rid, service, old, new, reason, epoch(at), initiator, impact, dep],
                )
        created = epoch("2026-01-05T00:00:00Z")
        for name, kind, deps, team, tags in SAMPLE_SERVICES:
            if schema == "init":
                con.execute(
                    "INSERT INTO service_metadata (service_name, description, team, repository_url,"
                    " documentation_url, health_check_url, dependencies, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, f'the "{name}" service\n(owned by {team})', team, f"https://git.example/{name}", None,
                     f"https://{name}.example/health", sexp_strings(deps), sexp_strings(tags)],
                )
            else:
                con.execute(
                    "INSERT INTO service_metadata (name, type, dependencies, owners, repository, health_check,"
                    " created, updated, active, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, kind, sexp_strings(deps), sexp_strings((team,)), f"https://git.example/{name}",
                     f"https://{name}.example/health", created, created, 1, sexp_strings(tags)],
                )
                con.executemany(
                    "INSERT INTO service_dependencies (service_name, depends_on, dependency_type) VALUES (?, ?, ?)",
                    [(name, dep, "hard") for dep in deps],
                )
        con.commit()
    finally:
        con.close()
    return path
