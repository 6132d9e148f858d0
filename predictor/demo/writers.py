"""Write a demo history in every form a deploy-ledger user holds history in.

* :func:`write_ledger_sqlite` -- the ledger's SQLite database, ``schema="migrations"`` (the
  tables its ``migrations/*.sql`` create) or ``schema="init"`` (its storage module's
  ``init-database!``); epoch-second times, metadata as S-expression alist text;
* :func:`write_sexp_export` -- ``(deploy-ledger-export (version 1))`` then pretty-printed
  ``(deployment ...)`` and ``(rollback ...)`` entries;
* :func:`write_json_export`, :func:`write_csv_export` -- the ledger's JSON and CSV exports;
* :func:`write_feature_lines` -- experiment 001's collect-data output, one alist per service;
* :func:`write_executions_jsonl` -- JSON Lines of the full canonical deployment records
  (pattern-learner execution details included), ISO-8601 ``Z`` times;
* :func:`write_rollbacks_jsonl` -- JSON Lines of the full canonical rollback records.

Every writer refuses to replace an existing file unless ``overwrite=True``, builds its text
column-wise (a million deployments in seconds), and returns a summary dict (path, format,
row counts).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from predictor.demo import planted as P
from predictor.demo.history import (
    INITIATORS, REASONS, ROLLBACK_STATUSES, IMPACTS, STATUS_NAMES, DemoHistory, iso_times,
)
from predictor.errors import OutputExistsError, ValidationError
from predictor.store.formats.ledger_schema import create_indexes, create_schema

SQLITE_SCHEMAS = ("migrations", "init")
_CHUNK = 50_000


def sexp_string(text: str) -> str:
    """Return TEXT as a Scheme string literal, escaped the way Guile's ``write`` does."""
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\t", "\\t").replace("\r", "\\r")) + '"'


def sexp_value(value: Any) -> str:
    """Return a Python value as S-expression text (dict -> alist, list -> list, None -> #f)."""
    if value is None or value is False:
        return "#f"
    if value is True:
        return "#t"
    if isinstance(value, str):
        return sexp_string(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "(" + " ".join(f"({key} . {sexp_value(item)})" for key, item in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return "(" + " ".join(sexp_value(item) for item in value) + ")"
    raise TypeError(f"cannot write {type(value).__name__} as an S-expression")


def _sexp_list(items) -> str:
    """The ledger stores lists as ``(format #f "~s" list)``, and the empty list as ''."""
    return sexp_value(list(items)) if items else ""


def _prepare(path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise OutputExistsError(f"{path}: already exists; pass --force (overwrite=True) to replace it")
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _summary(path: Path, fmt: str, **counts: int) -> dict:
    return {"path": str(path), "format": fmt, **counts}


def configuration_codes(history: DemoHistory) -> tuple[list[int], list[dict]]:
    """Return a code per deployment and the distinct configuration dicts the codes index."""
    c = history.columns
    keys = ("replicas", "timeout_seconds", "ssl_verify", "audit_logging", "health_check_grace")
    stacked = np.stack([c[key].astype(np.int64) for key in keys], axis=1)
    distinct, code = np.unique(stacked, axis=0, return_inverse=True)
    configs = [
        {"replicas": int(r), "timeout_seconds": int(t), "ssl_verify": bool(s), "audit_logging": bool(a),
         "health_check_grace": int(g)}
        for r, t, s, a, g in distinct.tolist()
    ]
    return code.reshape(-1).tolist(), configs


def _ledger(history: DemoHistory) -> "_Ledger":
    """Return the text columns of HISTORY, built once per history and shared by the writers."""
    cached = history.__dict__.get("_ledger_text")
    if cached is None:
        cached = history.__dict__["_ledger_text"] = _Ledger(history)
    return cached


class _Ledger:
    """The ledger fields of every deployment and rollback as lists of text, built once."""

    def __init__(self, history: DemoHistory) -> None:
        c = history.columns
        cat = history.catalog
        self.n = len(history)
        self.ids = history.deployment_ids()
        self.services = [cat.names[s] for s in c["service"].tolist()]
        self.versions = c["version"]
        self.environments = [P.ENVIRONMENTS[e] for e in c["env"].tolist()]
        self.types = [P.DEPLOYMENT_TYPES[t] for t in c["type"].tolist()]
        self.started = c["started"].tolist()
        completed = c["started"] + c["duration"]
        self.completed = completed.tolist()
        self.started_iso = iso_times(c["started"])
        self.completed_iso = iso_times(completed)
        self.statuses = [STATUS_NAMES[s] for s in c["status"].tolist()]
        self.initiators = [INITIATORS[i] for i in c["initiator"].tolist()]
        self.parents = [self.ids[p] if p >= 0 else None for p in c["parent"].tolist()]
        self.commit_iso = iso_times(c["commit_time"])
        # configurations take few distinct values: write each once, pick by code
        self.config_code, configs = configuration_codes(history)
        region_text = [f'((region . "{region}") (change-size . ' for region in P.REGIONS]
        config_text = [" (configuration . " + sexp_value(config) + "))" for config in configs]
        self.metadata = [
            f'{region_text[region]}{size}) (commit-time . "{commit}"){config_text[code]}'
            for region, size, commit, code in zip(
                c["region"].tolist(), c["change_size"].tolist(), self.commit_iso, self.config_code)
        ]
        rb = history.rollback_columns
        rows = rb["deployment"].tolist()
        self.rb_ids = history.rollback_ids()
        self.rb_services = [self.services[r] for r in rows]
        self.rb_from = [c["version"][r] for r in rows]
        self.rb_to = [c["previous_version"][r] for r in rows]
        self.rb_reasons = [REASONS[r] for r in rb["reason"].tolist()]
        self.rb_started = rb["started"].tolist()
        self.rb_completed = (rb["started"] + rb["recovery"]).tolist()
        self.rb_started_iso = iso_times(rb["started"])
        self.rb_statuses = [ROLLBACK_STATUSES[s] for s in rb["status"].tolist()]
        self.rb_initiators = [INITIATORS[i] for i in rb["initiator"].tolist()]
        self.rb_impacts = [IMPACTS[i] for i in rb["impact"].tolist()]
        self.rb_deployments = [self.ids[r] for r in rows]


# -- SQLite ---------------------------------------------------------------------------------------

_INSERT_ROLLBACK = {
    "migrations": "INSERT INTO rollbacks (id, service_name, from_version, to_version, reason, timestamp, initiator, "
                  "impact, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "init": "INSERT INTO rollbacks (id, service_name, from_version, to_version, reason, initiated, completed, "
            "status, deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
}

def _epoch(moment: dt.datetime) -> int:
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds())


def write_ledger_sqlite(history: DemoHistory, path: str | Path, schema: str = "migrations", *,
                        overwrite: bool = False) -> dict:
    """Write HISTORY as the ledger's SQLite database at PATH in SCHEMA ("migrations" or "init").

    Both variants have ``deployments(id, service_name, version, environment, deployment_type,
    started, completed, status, initiator, metadata, parent_id)`` with epoch seconds and the
    metadata alist as S-expression text. "migrations" adds ``rollbacks(..., timestamp,
    initiator, impact, deployment_id)``, ``service_metadata(name, type, dependencies, owners,
    repository, health_check, created, updated, active, tags)`` and
    ``service_dependencies(service_name, depends_on, dependency_type)``; "init" has
    ``rollbacks(..., initiated, completed, status, deployment_id)`` and
    ``service_metadata(service_name, description, team, repository_url, documentation_url,
    health_check_url, dependencies, tags)``. Lists are S-expression text (``("a" "b")``).
    """
    if schema not in SQLITE_SCHEMAS:
        raise ValidationError("schema", f"expected one of {', '.join(SQLITE_SCHEMAS)}, got {schema!r}")
    path = _prepare(path, overwrite)
    ledger = _ledger(history)
    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")  # 256 MB: the indexes are built in memory
        con.execute("PRAGMA temp_store = MEMORY")
        con.execute("BEGIN")
        create_schema(con, schema, indexes=False)  # the indexes last: faster bulk insert
        rows = zip(ledger.ids, ledger.services, ledger.versions, ledger.environments, ledger.types,
                   ledger.started, ledger.completed, ledger.statuses, ledger.initiators, ledger.metadata,
                   ledger.parents)
        con.executemany("INSERT INTO deployments (id, service_name, version, environment, deployment_type, started, "
                        "completed, status, initiator, metadata, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if schema == "migrations":
            rollbacks = zip(ledger.rb_ids, ledger.rb_services, ledger.rb_from, ledger.rb_to, ledger.rb_reasons,
                            ledger.rb_started, ledger.rb_initiators, ledger.rb_impacts, ledger.rb_deployments)
        else:
            rollbacks = zip(ledger.rb_ids, ledger.rb_services, ledger.rb_from, ledger.rb_to, ledger.rb_reasons,
                            ledger.rb_started, ledger.rb_completed, ledger.rb_statuses, ledger.rb_deployments)
        con.executemany(_INSERT_ROLLBACK[schema], rollbacks)
        edges = 0
        for service in history.services:
            names = [d["depends_on"] for d in service["dependencies"]]
            if schema == "migrations":
                con.execute(
                    "INSERT INTO service_metadata (name, type, dependencies, owners, repository, health_check, created, "
                    "updated, active, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [service["name"], service["type"], _sexp_list(names), _sexp_list(service["owners"]),
                     service["repository"], service["health_check"], _epoch(service["created"]),
                     _epoch(service["updated"]), int(service["active"]), _sexp_list(service["tags"])],
                )
                con.executemany(
                    "INSERT INTO service_dependencies (service_name, depends_on, dependency_type) VALUES (?, ?, ?)",
                    [(service["name"], d["depends_on"], d["kind"]) for d in service["dependencies"]],
                )
                edges += len(service["dependencies"])
            else:
                con.execute(
                    "INSERT INTO service_metadata (service_name, description, team, repository_url, documentation_url, "
                    "health_check_url, dependencies, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [service["name"], service["description"], service["team"], service["repository"],
                     service["documentation_url"], service["health_check"], _sexp_list(names),
                     _sexp_list(service["tags"])],
                )
        create_indexes(con, schema)
        con.execute("COMMIT")
    except BaseException:
        con.close()
        path.unlink(missing_ok=True)
        raise
    con.close()
    counts = {"deployments": ledger.n, "rollbacks": len(ledger.rb_ids), "services": len(history.services)}
    if schema == "migrations":
        counts["service_dependencies"] = edges
    return _summary(path, f"ledger-sqlite-{schema}", **counts)


# -- S-expression export ------------------------------------------------------------------------

def write_sexp_export(history: DemoHistory, path: str | Path, *, overwrite: bool = False) -> dict:
    """Write HISTORY as the ledger's S-expression export at PATH.

    The first datum is ``(deploy-ledger-export (version 1))``; then one pretty-printed
    ``(deployment (id ..) (service ..) (version ..) (environment SYM) (type SYM) (started ISO)
    (completed ISO) (status SYM) (initiator ..) (metadata ALIST) (parent-id STR-or-#f))`` per
    deployment and ``(rollback (id ..) (service ..) (from-version ..) (to-version ..) (reason ..)
    (timestamp ISO) (initiator ..) (impact ..) (deployment-id ..))`` per rollback, each followed
    by an empty line (Guile's ``pretty-print`` then ``newline``).
    """
    path = _prepare(path, overwrite)
    ledger = _ledger(history)
    q = sexp_string
    with path.open("w", encoding="utf-8") as out:
        out.write("(deploy-ledger-export (version 1))\n")
        for begin in range(0, ledger.n, _CHUNK):
            end = min(begin + _CHUNK, ledger.n)
            out.write("".join(
                f"(deployment\n  (id \"{ledger.ids[i]}\")\n  (service {q(ledger.services[i])})\n"
                f"  (version \"{ledger.versions[i]}\")\n  (environment {ledger.environments[i]})\n"
                f"  (type {ledger.types[i]})\n  (started \"{ledger.started_iso[i]}\")\n"
                f"  (completed \"{ledger.completed_iso[i]}\")\n  (status {ledger.statuses[i]})\n"
                f"  (initiator {q(ledger.initiators[i])})\n  (metadata {ledger.metadata[i]})\n"
                f"  (parent-id {q(ledger.parents[i]) if ledger.parents[i] else '#f'}))\n\n"
                for i in range(begin, end)
            ))
        out.write("".join(
            f"(rollback\n  (id \"{ledger.rb_ids[i]}\")\n  (service {q(ledger.rb_services[i])})\n"
            f"  (from-version \"{ledger.rb_from[i]}\")\n  (to-version \"{ledger.rb_to[i]}\")\n"
            f"  (reason {q(ledger.rb_reasons[i])})\n  (timestamp \"{ledger.rb_started_iso[i]}\")\n"
            f"  (initiator {q(ledger.rb_initiators[i])})\n  (impact {q(ledger.rb_impacts[i])})\n"
            f"  (deployment-id \"{ledger.rb_deployments[i]}\"))\n\n"
            for i in range(len(ledger.rb_ids))
        ))
    return _summary(path, "ledger-sexp", deployments=ledger.n, rollbacks=len(ledger.rb_ids))


# -- JSON and CSV exports -------------------------------------------------------------------------

def write_json_export(history: DemoHistory, path: str | Path, *, overwrite: bool = False) -> dict:
    """Write HISTORY's deployments as the ledger's JSON export: an array of objects with id,
    service, version, environment, deployment_type, started, completed, status, initiator,
    parent_id (ISO-8601 ``Z`` times; ``null`` for no completion or parent)."""
    path = _prepare(path, overwrite)
    ledger = _ledger(history)
    enc = json.dumps
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for begin in range(0, ledger.n, _CHUNK):
            end = min(begin + _CHUNK, ledger.n)
            out.write("".join(
                f'{{\n  "id": "{ledger.ids[i]}",\n  "service": {enc(ledger.services[i])},\n'
                f'  "version": "{ledger.versions[i]}",\n  "environment": "{ledger.environments[i]}",\n'
                f'  "deployment_type": "{ledger.types[i]}",\n  "started": "{ledger.started_iso[i]}",\n'
                f'  "completed": "{ledger.completed_iso[i]}",\n  "status": "{ledger.statuses[i]}",\n'
                f'  "initiator": {enc(ledger.initiators[i])},\n'
                f'  "parent_id": {enc(ledger.parents[i])}\n}}{"," if i + 1 < ledger.n else ""}\n'
                for i in range(begin, end)
            ))
        out.write("]\n")
    return _summary(path, "ledger-json", deployments=ledger.n)


CSV_HEADER = "id,service,version,environment,type,started,completed,status,initiator"


def write_csv_export(history: DemoHistory, path: str | Path, *, overwrite: bool = False) -> dict:
    """Write HISTORY's deployments as the ledger's CSV export: header
    ``id,service,version,environment,type,started,completed,status,initiator`` and every field
    double-quoted (the ledger does not escape values; demo values never hold quotes)."""
    path = _prepare(path, overwrite)
    ledger = _ledger(history)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(CSV_HEADER + "\n")
        for begin in range(0, ledger.n, _CHUNK):
            end = min(begin + _CHUNK, ledger.n)
            out.write("".join(
                f'"{ledger.ids[i]}","{ledger.services[i]}","{ledger.versions[i]}","{ledger.environments[i]}",'
                f'"{ledger.types[i]}","{ledger.started_iso[i]}","{ledger.completed_iso[i]}",'
                f'"{ledger.statuses[i]}","{ledger.initiators[i]}"\n'
                for i in range(begin, end)
            ))
    return _summary(path, "ledger-csv", deployments=ledger.n)


# -- experiment 001 feature lines -----------------------------------------------------------------

def write_feature_lines(history: DemoHistory, path: str | Path, *, overwrite: bool = False,
                        min_occurrences: int = 2) -> dict:
    """Write experiment 001's collect-data output: one alist per service per line.

    ``((service . "api") (total-deployments . 42) (hourly-distribution . #(24 counts))
    (weekly-distribution . #(7 counts, Sunday first as SRFI-19 date-week-day))
    (failure-patterns . (((SERVICE . TYPE) . COUNT) ...)))``. Unlike the ledger's script (whose
    distributions cover all services of the last 30 days), distributions and failure patterns
    here are the service's own over the whole history; failure patterns count status
    ``failure`` per deployment type, kept at MIN_OCCURRENCES or more, as the ledger does.
    """
    path = _prepare(path, overwrite)
    c = history.columns
    service = c["service"]
    hour = (c["started"] // 3600) % 24
    sunday_first = (c["started"] // 86400 + 4) % 7  # 1970-01-01 was a Thursday (4)
    failure = c["status"] == STATUS_NAMES.index("failure")
    lines = []
    for s, name in enumerate(history.catalog.names):
        mine = service == s
        hourly = np.bincount(hour[mine], minlength=24)
        weekly = np.bincount(sunday_first[mine], minlength=7)
        by_type = np.bincount(c["type"][mine & failure], minlength=len(P.DEPLOYMENT_TYPES))
        patterns = " ".join(f"(({sexp_string(name)} . {P.DEPLOYMENT_TYPES[t]}) . {int(k)})"
                            for t, k in enumerate(by_type) if k >= min_occurrences)
        lines.append(
            f"((service . {sexp_string(name)}) (total-deployments . {int(mine.sum())}) "
            f"(hourly-distribution . #({' '.join(map(str, hourly.tolist()))})) "
            f"(weekly-distribution . #({' '.join(map(str, weekly.tolist()))})) "
            f"(failure-patterns . ({patterns})))\n"
        )
    path.write_text("".join(lines), encoding="utf-8")
    return _summary(path, "feature-lines", services=len(lines))


# -- executions ------------------------------------------------------------------------------------

def write_executions_jsonl(history: DemoHistory, path: str | Path, *, overwrite: bool = False) -> dict:
    """Write every deployment as one JSON object per line with all canonical columns.

    These are the pattern learner's executions: configuration, resources, strategy, source and
    target environment, target host, failure reasons, rollback flags, performance, lessons.
    Each line equals ``history.deployments[i]`` with times as ISO-8601 UTC strings ending in
    ``Z``. The ids are the ledger files' ids: the same deployment ingested from a ledger file
    and from here is one deployment (this file adds the execution details).
    """
    path = _prepare(path, overwrite)
    ledger = _ledger(history)
    c = history.columns
    cat = history.catalog
    enc = json.dumps
    _, configs = configuration_codes(history)
    config_json = [enc(config) for config in configs]
    service_json = [enc(name) for name in cat.names]
    resources_json = [enc(list(res)) for res in cat.resources]
    reasons_json = [enc([reason]) for reason in REASONS] + ["[]"]
    logs_json = [enc(f"ERROR {reason}") for reason in REASONS]
    lessons_json = [enc([P.CAUSE_LESSONS[cause]]) for cause in P.FAILURE_CAUSES] + ["[]"]
    initiators_json = [enc(name) for name in INITIATORS]
    cancelled = STATUS_NAMES.index("cancelled")
    done_log = enc("deployment finished: all health checks passing")
    cancelled_log = enc("deployment cancelled by operator")
    boolean = ("false", "true")
    # names, versions, ids and environments are [a-z0-9.-] only (see catalog.SAFE_NAME): quote as is
    parent_json = [f'"{id_}"' for id_ in ledger.ids] + ["null"]  # index -1 -> null
    source_json = [f'"{env}"' for env in ledger.environments] + ["null"]
    columns = zip(
        c["service"].tolist(), c["env"].tolist(), c["region"].tolist(), c["change_size"].tolist(),
        c["duration"].tolist(), c["initiator"].tolist(), c["status"].tolist(), c["parent"].tolist(),
        c["reason"].tolist(), c["cause"].tolist(), c["rollback_triggered"].tolist(),
        c["rollback_successful"].tolist(), c["automated"].tolist(), c["host"].tolist(),
        c["cpu_percent"].tolist(), c["memory_mb"].tolist(), c["response_time_ms"].tolist(),
        c["error_rate"].tolist(), ledger.config_code,
    )
    with path.open("w", encoding="utf-8") as out:
        lines = []
        for i, (s, e, region, size, duration, initiator, status, parent, reason, cause, triggered, restored,
                automated, host, cpu, memory, response, errors, code) in enumerate(columns):
            env = P.ENVIRONMENTS[e]
            name = cat.names[s]
            version = ledger.versions[i]
            dtype = ledger.types[i]
            config = config_json[code]
            log = logs_json[reason] if reason >= 0 else (cancelled_log if status == cancelled else done_log)
            lines.append(
                f'{{"id": "{ledger.ids[i]}", "service": {service_json[s]}, "version": "{version}", '
                f'"environment": "{env}", "deployment_type": "{dtype}", "started": "{ledger.started_iso[i]}", '
                f'"completed": "{ledger.completed_iso[i]}", "status": "{ledger.statuses[i]}", '
                f'"initiator": {initiators_json[initiator]}, "metadata": {{"region": "{P.REGIONS[region]}", '
                f'"change-size": {size}, "commit-time": "{ledger.commit_iso[i]}", "configuration": {config}}}, '
                f'"parent_id": {parent_json[parent]}, "duration_seconds": {duration}.0, '
                f'"change_size": {size}, "configuration": {config}, "commit_time": "{ledger.commit_iso[i]}", '
                f'"name": "{name}-{version}-{env}", "strategy": "{dtype}", '
                f'"source_environment": {source_json[parent]}, '
                f'"target_host": "{name}-{env}-{host}.{P.REGIONS[region]}.example.internal", '
                f'"resources": {resources_json[s]}, "failure_reasons": {reasons_json[reason]}, '
                f'"rollback_triggered": {boolean[triggered]}, '
                f'"rollback_successful": {boolean[restored] if triggered else "null"}, '
                f'"automated": {boolean[automated]}, "log_excerpt": {log}, '
                f'"performance": {{"cpu_percent": {cpu!r}, "memory_mb": {memory}, '
                f'"response_time_ms": {response!r}, "error_rate": {errors!r}}}, '
                f'"lessons_learned": {lessons_json[cause]}}}\n'
            )
            if len(lines) == _CHUNK:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
    return _summary(path, "jsonl", deployments=ledger.n)


def write_rollbacks_jsonl(history: DemoHistory, path: str | Path, *, overwrite: bool = False) -> dict:
    """Write every rollback as one JSON object per line: ``{"record": "rollback", ...}`` with all
    canonical rollback columns (completion, status, recovery_seconds and steps included, which the
    ledger's own files do not carry); times ISO-8601 UTC with ``Z``."""
    path = _prepare(path, overwrite)
    encode = json.JSONEncoder(ensure_ascii=False).encode
    with path.open("w", encoding="utf-8") as out:
        for record in history.rollbacks:
            line = {"record": "rollback", **record,
                    "started": record["started"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "completed": record["completed"].strftime("%Y-%m-%dT%H:%M:%SZ")}
            out.write(encode(line) + "\n")
    return _summary(path, "jsonl", rollbacks=len(history.rollbacks))


#: writer per format name (the CLI's --formats)
WRITERS = {
    "sqlite": lambda history, path, overwrite: write_ledger_sqlite(history, path, "migrations", overwrite=overwrite),
    "sqlite-init": lambda history, path, overwrite: write_ledger_sqlite(history, path, "init", overwrite=overwrite),
    "sexp": lambda history, path, overwrite: write_sexp_export(history, path, overwrite=overwrite),
    "json": lambda history, path, overwrite: write_json_export(history, path, overwrite=overwrite),
    "csv": lambda history, path, overwrite: write_csv_export(history, path, overwrite=overwrite),
    "features": lambda history, path, overwrite: write_feature_lines(history, path, overwrite=overwrite),
    "executions": lambda history, path, overwrite: write_executions_jsonl(history, path, overwrite=overwrite),
    "rollbacks": lambda history, path, overwrite: write_rollbacks_jsonl(history, path, overwrite=overwrite),
}
#: file name per format inside the CLI's output directory
FILE_NAMES = {
    "sqlite": "ledger.db", "sqlite-init": "ledger-init.db", "sexp": "ledger-export.scm",
    "json": "ledger-export.json", "csv": "ledger-export.csv", "features": "training-data.sexp",
    "executions": "executions.jsonl", "rollbacks": "rollbacks.jsonl",
}


def write_demo_files(out_dir: str | Path, formats=("sqlite", "sexp"), *, seed: int = 0, services: int = 20,
                     days: int = 120, deployments_per_day: float = 40, start: dt.datetime | None = None,
                     overwrite: bool = False) -> dict:
    """Generate a demo history and write it in FORMATS (names of :data:`WRITERS`) into OUT_DIR.

    Returns ``{"history": {seed, deployments, rollbacks, services, start, end}, "files": [summary
    per file]}``. Checks every target before writing any, so an existing file stops the run
    before anything is written (unless OVERWRITE).
    """
    formats = list(dict.fromkeys(formats))
    unknown = [name for name in formats if name not in WRITERS]
    if unknown or not formats:
        raise ValidationError("formats", f"expected a comma-separated subset of {','.join(WRITERS)}, "
                                         f"got {','.join(formats) or 'nothing'}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError("out_dir", f"{out} exists and is not a directory")
    if not overwrite:
        for name in formats:
            if (out / FILE_NAMES[name]).exists():
                raise OutputExistsError(f"{out / FILE_NAMES[name]}: already exists; pass --force to replace it")
    history_args = {"seed": seed, "services": services, "days": days, "deployments_per_day": deployments_per_day}
    if start is not None:
        history_args["start"] = start
    from predictor.demo.history import generate_history

    history = generate_history(**history_args)
    out.mkdir(parents=True, exist_ok=True)
    files = [WRITERS[name](history, out / FILE_NAMES[name], overwrite) for name in formats]
    return {
        "history": {
            "seed": seed, "deployments": len(history), "rollbacks": int(history.rollback_columns["started"].size),
            "services": len(history.services), "start": history.start.isoformat(), "end": history.end.isoformat(),
        },
        "files": files,
    }
