"""Plain CSV, JSON Lines and Parquet files of deployments, rollbacks and services.

For users of other ledgers and CI systems. Column (or key) names are the canonical ones:

deployments
    required ``id, service, environment, started, status``; optional ``version,
    deployment_type, completed, initiator, metadata, parent_id, duration_seconds, change_size,
    configuration, commit_time, name, strategy, source_environment, target_host, resources,
    failure_reasons, rollback_triggered, rollback_successful, automated, log_excerpt,
    performance, lessons_learned``
rollbacks
    required ``id, service, started``; optional ``from_version, to_version, reason, completed,
    status, initiator, impact, deployment_id, recovery_seconds, steps``
services
    required ``name``; optional ``type, description, team, owners, repository,
    documentation_url, health_check, tags, active, created, updated, dependencies``
    (``dependencies``: a list of ``{"depends_on": name, "kind": "hard"|"soft"|"optional"}`` or of
    names, meaning hard)

Times are ISO-8601 (``Z`` or an offset; no offset means UTC) or epoch seconds. Object and list
values (metadata, configuration, resources, ...) are JSON text in CSV, nested values in JSON
Lines and Parquet. Which table a CSV or Parquet file fills is decided by its columns: ``from_version``
or ``to_version`` mean rollbacks, ``name`` without ``service`` means services, else deployments.
A JSON Lines object may say which it is with ``"record": "deployment"|"rollback"|"service"``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from predictor.errors import IngestError
from predictor.store.formats import Batch
from predictor.store.formats.common import (
    DEPLOYMENT_COLUMNS, ROLLBACK_COLUMNS, SERVICE_COLUMNS, deployment_row, object_metadata, stage_rows,
)
from predictor.store.formats.csv_files import STAGED_TABLES, read_header, stage_csv

PARQUET_MAGIC = b"PAR1"
TABLE_COLUMNS = {"deployments": DEPLOYMENT_COLUMNS, "rollbacks": ROLLBACK_COLUMNS,
                 "services": {**SERVICE_COLUMNS, "dependencies": "json"}}
REQUIRED = {"deployments": ("id", "service", "environment", "started", "status"),
            "rollbacks": ("id", "service", "started"), "services": ("name",)}
_KINDS = {"deployment": "deployments", "rollback": "rollbacks", "service": "services"}

#: per staged table: the statements copying a Parquet file (path $p) into ``_pq_<table>`` and
#: defining ``_raw_<table>`` over it, made once from the fixed table names (a table name cannot
#: travel as a parameter; the path does)
_PARQUET_STAGING = {
    table: (f"CREATE OR REPLACE TEMP TABLE _pq_{table} AS SELECT * FROM read_parquet($p) WITH ORDINALITY",
            f"CREATE OR REPLACE TEMP VIEW _raw_{table} AS SELECT * EXCLUDE (ordinality), "
            f"CAST(ordinality AS INTEGER) AS source_line FROM _pq_{table}")
    for table in STAGED_TABLES}


def table_for(columns: list[str]) -> str:
    """Return which table a file with COLUMNS fills."""
    names = set(columns)
    if names & {"from_version", "to_version", "recovery_seconds"}:
        return "rollbacks"
    if "name" in names and "service" not in names and "started" not in names:
        return "services"
    return "deployments"


def check_columns(where: str, table: str, columns: list[str], *, line: int = 1) -> None:
    """Raise IngestError when COLUMNS has an unknown name or lacks a required one."""
    known = TABLE_COLUMNS[table]
    for name in columns:
        if name not in known and name not in ("record", "source_line"):
            raise IngestError(where, f"unknown {table} column", line=line, field=name,
                              expected="one of " + ", ".join(known), found=name)
    for name in REQUIRED[table]:
        if name not in columns:
            raise IngestError(where, f"missing required {table} column", line=line, field=name,
                              expected=f"a column named {name!r}", found=", ".join(columns))


# -- CSV -------------------------------------------------------------------------------------
def read_csv(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Stage a plain CSV file (header with canonical names)."""
    where = str(path)
    header = read_header(path)
    table = table_for(header)
    check_columns(where, table, header)
    batch = Batch("csv")
    if table == "services":
        with path.open(newline="", encoding="utf-8") as handle:
            for index, row in enumerate(csv.DictReader(handle), start=2):
                service = {k: (v if v != "" else None) for k, v in row.items()}
                for key in ("owners", "tags", "dependencies"):
                    service[key] = _json_field(where, index, key, service.get(key))
                batch.services.append((index, service))
        batch.seen["services"] = len(batch.services)
        return batch
    batch.skipped.extend(stage_csv(con, path, table, header, {}, skip_invalid=skip_invalid))
    setattr(batch, table, True)
    return batch


def _json_field(where: str, line: int, key: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        if key in ("owners", "tags") and "[" not in value:
            return [part.strip() for part in value.split(",") if part.strip()]
        raise IngestError(where, f"bad {key}", line=line, field=key, expected="JSON text", found=value) from None


# -- JSON Lines ------------------------------------------------------------------------------
def read_jsonl(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Stage a JSON Lines file: one deployment, rollback or service object per line."""
    where = str(path)
    batch = Batch("jsonl")
    rows: dict[str, list[dict]] = {"deployments": [], "rollbacks": []}
    lines: dict[str, list[int]] = {"deployments": [], "rollbacks": []}
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                item = _jsonl_object(where, number, text)
                kind = item.pop("record", None)
                table = _KINDS.get(kind) if isinstance(kind, str) else table_for(list(item)) if kind is None else None
                if table is None:
                    raise IngestError(where, "unknown record kind", line=number, field="record",
                                      expected="deployment, rollback or service", found=kind)
                check_columns(where, table, list(item), line=number)
                if table == "services":
                    batch.services.append((number, item))
                elif table == "deployments":
                    rows[table].append(deployment_row(item, object_metadata(where, number, item, item.get("metadata"))))
                    lines[table].append(number)
                else:
                    rows[table].append(item)
                    lines[table].append(number)
            except IngestError as error:
                if not skip_invalid:
                    raise
                batch.skipped.append(error)
    for table, columns in (("deployments", DEPLOYMENT_COLUMNS), ("rollbacks", ROLLBACK_COLUMNS)):
        batch.seen[table] = len(rows[table])
        if rows[table]:
            stage_rows(con, table, columns, rows[table], lines[table])
            setattr(batch, table, True)
    batch.seen["services"] = len(batch.services)
    return batch


def _jsonl_object(where: str, number: int, text: str) -> dict:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as error:
        raise IngestError(where, f"malformed JSON: {error.msg}", line=number, expected="one JSON object per line",
                          found=f"column {error.colno}: {text.strip()[:60]}") from None
    if not isinstance(item, dict):
        raise IngestError(where, "not a JSON object", line=number, expected="one JSON object per line",
                          found=type(item).__name__)
    return item


# -- Parquet ---------------------------------------------------------------------------------
def read_parquet(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Stage a Parquet file; rows are numbered from 1 in messages."""
    where = str(path)
    try:
        columns = [row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": where}).fetchall()]
    except Exception as error:  # duckdb.Error and its IO subclasses
        raise IngestError(where, f"unreadable Parquet file: {str(error).splitlines()[0]}") from None
    table = table_for(columns)
    check_columns(where, table, columns)
    batch = Batch("parquet")
    if table == "services":
        cursor = con.execute("SELECT * FROM read_parquet($p)", {"p": where})
        names = [d[0] for d in cursor.description]
        for index, row in enumerate(cursor.fetchall(), start=1):
            batch.services.append((index, dict(zip(names, row))))
        batch.seen["services"] = len(batch.services)
        return batch
    copy, view = _PARQUET_STAGING[table]
    con.execute(copy, {"p": where})
    con.execute(view)
    setattr(batch, table, True)
    return batch
