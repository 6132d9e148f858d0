"""Ingest deploy-ledger history into the store: every format, idempotent, one transaction per file.

Public API (used by the CLI and the daemon):

* :func:`ingest_paths` -- read files (format detected by content, never by name; see
  :mod:`predictor.store.formats`), validate every record, merge; a bad file leaves the store
  exactly as it was unless ``skip_invalid``, which drops and reports each bad record.
* :func:`ingest_records` -- the same validation and merge for canonical record dicts (the
  daemon's ``record``); ``mode="upsert"`` lets an outcome update change an existing deployment.

Re-ingesting identical content changes nothing (no row, no provenance, no ``sources`` row).
The same id with different content is an error naming both places. A row that only adds values
the store lacks (e.g. the SQLite db's metadata after the CSV export) fills them in ("updated").
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb

from predictor import sexp
from predictor.errors import IngestError, UnknownFormatError
from predictor.store import DEPENDENCY_KINDS, SERVICE_TYPES, Store, utcnow
from predictor.store import merge as merging
from predictor.store import outcomes
from predictor.store.formats import Batch, feature_lines, ledger_csv, ledger_json, ledger_sexp, ledger_sqlite, plain
from predictor.store.formats.common import (
    DEPLOYMENT_COLUMNS, ROLLBACK_COLUMNS, SERVICE_COLUMNS, deployment_row, stage_rows, to_json_text,
)
from predictor.store.formats.csv_files import csv_error, is_csv_error, read_header, whole_files

__all__ = ["IngestReport", "ingest_paths", "ingest_records", "detect_format", "FORMATS"]

#: format name -> reader(con, path, *, skip_invalid) -> Batch
READERS = {
    "ledger-sqlite": ledger_sqlite.read,
    "ledger-sexp": ledger_sexp.read,
    "ledger-json": ledger_json.read,
    "ledger-csv": ledger_csv.read,
    "feature-lines": feature_lines.read,
    "csv": plain.read_csv,
    "jsonl": plain.read_jsonl,
    "parquet": plain.read_parquet,
}
FORMATS = tuple(READERS)
#: files bigger than this get a progress display (on a terminal)
PROGRESS_BYTES = 2_000_000
TABLES = ("deployments", "rollbacks", "services", "service_dependencies", "service_profiles")


@dataclass
class IngestReport:
    """What ingesting one file (or one batch of records) did."""

    path: str
    format: str
    sha256: str | None = None
    source_id: int | None = None
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[IngestError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True when the store was written (something inserted or updated)."""
        return any(c.get("inserted", 0) or c.get("updated", 0) for c in self.tables.values())

    def count(self, table: str, what: str) -> int:
        """Return one summary count, e.g. ``count("deployments", "inserted")``."""
        return self.tables.get(table, {}).get(what, 0)

    def summary(self) -> dict[str, dict[str, int]]:
        """Return {table: {inserted, updated, unchanged, skipped}} for tables this input touched."""
        return {name: dict(counts) for name, counts in self.tables.items()}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (skipped records as their messages and places)."""
        return {
            "path": self.path, "format": self.format, "sha256": self.sha256, "source_id": self.source_id,
            "changed": self.changed, "seconds": round(self.seconds, 3), "tables": self.summary(),
            "skipped": [{"line": e.line, "field": e.field, "expected": e.expected,
                         "found": None if e.found is None else str(e.found), "id": e.record_id,
                         "message": str(e)} for e in self.skipped],
        }


# -- format detection ---------------------------------------------------------------------------
def detect_format(path: Path) -> str:
    """Return the format name of PATH from its content; raise UnknownFormatError otherwise."""
    where = str(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as error:
        raise IngestError(where, f"cannot read: {error.strerror or error}") from None
    if head.startswith(ledger_sqlite.MAGIC):
        return "ledger-sqlite"
    if head.startswith(plain.PARQUET_MAGIC):
        return "parquet"
    if b"\x00" in head or not head.strip():
        raise _unknown(where, head)
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if text.startswith("(") or text.startswith(";"):
        if ledger_sexp.looks_like(text):
            return "ledger-sexp"
        if feature_lines.looks_like(text):
            return "feature-lines"
        raise _unknown(where, head)
    if text.startswith("["):
        return "ledger-json"
    if text.startswith("{"):
        return "jsonl"
    first_line = text.split("\n", 1)[0]
    if "," in first_line:
        header = read_header(path)
        if ledger_csv.looks_like(header):
            return "ledger-csv"
        return "csv"
    raise _unknown(where, head)


def _unknown(where: str, head: bytes) -> UnknownFormatError:
    sample = head[:40].decode("utf-8", errors="backslashreplace") if head else "an empty file"
    return UnknownFormatError(
        where, "not a format ingest understands (formats are detected by content, not by file name)", line=1,
        expected="a ledger SQLite db, sexp/JSON/CSV export, feature lines, or plain CSV/JSON Lines/Parquet",
        found=sample,
    )


# -- ingest files -------------------------------------------------------------------------------
def ingest_paths(store: Store, paths: Iterable[str | Path], *, skip_invalid: bool = False,
                 progress: bool = True) -> list[IngestReport]:
    """Ingest each file of PATHS, one transaction per file; return one report per file.

    A file with an invalid record raises :class:`IngestError` (file, line or row, field,
    expected, found) and leaves the store as it was, files before it staying ingested.
    With SKIP_INVALID bad records are dropped and listed in the report instead.
    """
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise IngestError(str(path), "no such file" if not path.exists() else "not a regular file")
    reports = []
    with _Progress(enabled=progress and any(p.stat().st_size >= PROGRESS_BYTES for p in files)) as bar:
        for path in files:
            reports.append(_ingest_file(store, path, skip_invalid=skip_invalid, bar=bar))
    return reports


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ingest_file(store: Store, path: Path, *, skip_invalid: bool, bar: "_Progress") -> IngestReport:
    started = time.perf_counter()
    fmt = detect_format(path)
    where = str(path)
    # the file's digest is computed by a thread while the file is read and merged (hashlib and
    # file reads release the GIL); it is needed only to record the source
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hasher:
        digest = hasher.submit(_sha256, path)
        report = IngestReport(where, fmt)
        try:
            _ingest_read_merge(store, path, report, digest, skip_invalid=skip_invalid, bar=bar, fast=True)
        except merging.FastPathFailed:
            # rolled back: the full path reads the file again and names the problem precisely
            # (or collapses an id given twice with identical content)
            report = IngestReport(where, fmt)
            with whole_files(store.con):
                _ingest_read_merge(store, path, report, digest, skip_invalid=skip_invalid, bar=bar, fast=False)
    if fmt == "ledger-sexp" and report.skipped:
        report.skipped = [ledger_sexp.field_line(error) for error in report.skipped]
    report.seconds = time.perf_counter() - started
    return report


def _ingest_read_merge(store: Store, path: Path, report: IngestReport, digest: concurrent.futures.Future, *,
                       skip_invalid: bool, bar: "_Progress", fast: bool = False) -> None:
    """Read PATH and merge it in one transaction (see :func:`_ingest_file`).

    With FAST (and without SKIP_INVALID) rows for an empty table go in with one statement
    (:func:`predictor.store.merge.insert_new`); :class:`~predictor.store.merge.FastPathFailed`
    means the transaction was rolled back and the caller should try again without FAST.
    """
    fmt = report.format
    where = str(path)
    con = store.con
    task = bar.add(path.name, 4)
    _bulk_settings(con)
    con.execute("BEGIN TRANSACTION")
    try:
        batch = READERS[fmt](con, path, skip_invalid=skip_invalid)
        report.format = batch.format
        bar.advance(task, "validating")
        source_id = con.execute(
            "INSERT INTO sources (path, format, sha256, ingested_at) VALUES (?, ?, NULL, ?) RETURNING id",
            [str(path.resolve()), batch.format, utcnow()],
        ).fetchone()[0]
        if batch.profiles:
            report.sha256 = digest.result()       # profiles compare it with earlier sources
        _merge_batch(con, batch, report, source_id=source_id, where=where, mode="insert",
                     skip_invalid=skip_invalid, bar=bar, task=task, fast=fast and not skip_invalid)
        report.sha256 = digest.result()
        if report.changed:
            report.source_id = source_id
            con.execute("UPDATE sources SET sha256 = ?, summary = ? WHERE id = ?",
                        [report.sha256, json.dumps(report.summary()), source_id])
            con.execute("COMMIT")
        else:
            con.execute("ROLLBACK")
    except IngestError as error:
        con.execute("ROLLBACK")
        if fmt == "ledger-sexp":
            raise ledger_sexp.field_line(error) from None
        raise
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        _drop_work_tables(con)
        _bulk_settings(con, bulk=False)
    bar.done(task)


def _bulk_settings(con: duckdb.DuckDBPyConnection, *, bulk: bool = True) -> None:
    """Let DuckDB write rows in any order while a file is merged (every query of ingest that
    cares about order says ORDER BY), and restore the default afterwards."""
    if bulk:
        con.execute("SET preserve_insertion_order = false")
    else:
        con.execute("RESET preserve_insertion_order")


#: the temporary tables and views an ingest may make
_WORK_NAMES = ["_csv_rejects", "_raw_sqlite_deployments", "_raw_sqlite_metadata",
               *(f"{prefix}_{table}" for table in ("deployments", "rollbacks")
                 for prefix in ("_raw", "_norm", "_csv", "_pq"))]
#: the statement dropping each, as a view or as a table: made once from the fixed names (a name
#: cannot travel as a parameter)
_DROP_STATEMENTS = {(name, kind): f"DROP {kind} IF EXISTS {name}" for name in _WORK_NAMES for kind in ("VIEW", "TABLE")}


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables and views one ingest made (whichever exist)."""
    for name in _WORK_NAMES:
        con.unregister(name)                 # Arrow tables registered by stage_arrow (no-op otherwise)
    for name, kind in con.execute(
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE temporary AND view_name IN (SELECT unnest($n)) "
            "UNION ALL SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary "
            "AND table_name IN (SELECT unnest($n))", {"n": _WORK_NAMES}).fetchall():
        con.execute(_DROP_STATEMENTS[name, kind])


def _merge_batch(con: duckdb.DuckDBPyConnection, batch: Batch, report: IngestReport, *, source_id: int, where: str,
                 mode: str, skip_invalid: bool, bar: "_Progress | None" = None, task: int = 0,
                 fast: bool = False) -> None:
    now = utcnow()
    report.skipped.extend(batch.skipped)
    reader_skips = _skips_by_table(batch)
    for spec, present in ((merging.DEPLOYMENTS, batch.deployments), (merging.ROLLBACKS, batch.rollbacks)):
        if not present:
            continue
        if fast and mode == "insert" and merging.is_empty(con, spec):
            outcome = merging.insert_new(con, spec, source_id=source_id, ingested_at=now)
            outcome.skipped += reader_skips.get(spec.table, 0)
            report.tables[spec.table] = outcome.counts()
            if bar is not None:
                bar.advance(task, "merging")
            continue
        try:
            checks = merging.normalize(con, spec)
        except duckdb.InvalidInputException as error:      # an unreadable row of a CSV read in place
            if not is_csv_error(error):
                raise
            raise csv_error(where, error) from None
        outcome = merging.merge(con, spec, checks, path=where, source_id=source_id, ingested_at=now, mode=mode,
                                skip_invalid=skip_invalid)
        outcome.skipped += reader_skips.get(spec.table, 0)
        report.tables[spec.table] = outcome.counts()
        report.skipped.extend(outcome.errors)
        if bar is not None:
            bar.advance(task, "merging")
    if batch.services or batch.dependencies:
        _merge_services(con, batch, report, source_id=source_id, where=where, mode=mode,
                        skip_invalid=skip_invalid, now=now)
    if batch.profiles:
        _merge_profiles(con, batch, report, source_id=source_id, now=now)
    for table, count in reader_skips.items():
        if table not in report.tables:
            report.tables[table] = {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": count}
    report.skipped.sort(key=lambda e: (e.line is None, e.line or 0))


def _skips_by_table(batch: Batch) -> dict[str, int]:
    """Attribute reader-level skips to a table (by the batch's format) for the summary."""
    if not batch.skipped:
        return {}
    table = {"feature-lines": "service_profiles"}.get(batch.format, "deployments")
    counts: dict[str, int] = {}
    for error in batch.skipped:
        name = table
        if error.field in ("dependencies", "tags", "owners", "type", "name") and batch.services:
            name = "services"
        counts[name] = counts.get(name, 0) + 1
    return counts


# -- services and dependencies (few rows: row by row) -------------------------------------------
def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(sexp.to_plain(v)) if not isinstance(v, str) else str(v) for v in value]
    raise ValueError(f"expected a list of strings, found {value!r}")


def _normalize_service(where: str, line: int, raw: dict) -> tuple[dict, list[dict]]:
    """Return (services row, dependency rows) for one service dict; IngestError when invalid."""
    def fail(column: str, expected: str, found: Any) -> IngestError:
        return IngestError(where, f"service {raw.get('name')!r}: invalid {column}", line=line, field=column,
                           expected=expected, found=found, record_id=raw.get("name"))

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "a non-empty service name", name)
    row: dict[str, Any] = {}
    for column, kind in SERVICE_COLUMNS.items():
        value = raw.get(column)
        if value is None:
            row[column] = None
            continue
        if kind == "time":
            try:
                row[column] = outcomes.convert("time", value)
            except OverflowError:
                raise fail(column, "a plausible time, between 1990-01-01 and 2100-01-01", value) from None
            except (ValueError, TypeError):
                raise fail(column, merging.TIME_EXPECTED, value) from None
        elif kind == "json":
            try:
                row[column] = to_json_text(_str_list(value))
            except ValueError:
                raise fail(column, "a list of strings", value) from None
        elif kind == "bool":
            if isinstance(value, bool):
                row[column] = value
            elif value in (0, 1):
                row[column] = bool(value)
            elif isinstance(value, str) and value.lower() in ("true", "false", "#t", "#f", "1", "0"):
                row[column] = value.lower() in ("true", "#t", "1")
            else:
                raise fail(column, "true or false", value)
        else:
            row[column] = str(value)
    if row["type"] is not None and row["type"] not in SERVICE_TYPES:
        raise fail("type", "one of " + ", ".join(SERVICE_TYPES), row["type"])
    dependencies = []
    for entry in raw.get("dependencies") or []:
        if isinstance(entry, str):
            entry = {"depends_on": entry, "kind": "hard"}
        if not isinstance(entry, dict) or not isinstance(entry.get("depends_on"), str) or not entry["depends_on"]:
            raise fail("dependencies", '{"depends_on": name, "kind": "hard"|"soft"|"optional"} or a name', entry)
        kind = str(entry.get("kind") or "hard")
        if kind not in DEPENDENCY_KINDS:
            raise fail("dependencies", "a kind among " + ", ".join(DEPENDENCY_KINDS), kind)
        dependencies.append({"service": name, "depends_on": entry["depends_on"], "kind": kind})
    return row, dependencies


#: the statements reading and adding one service, made once from the fixed column names
_SELECT_SERVICE = f"SELECT {', '.join(SERVICE_COLUMNS)}, source_id, source_line FROM services WHERE name = ?"
_INSERT_SERVICE = (f"INSERT INTO services ({', '.join(SERVICE_COLUMNS)}, source_id, source_line, ingested_at) "
                   f"VALUES ({', '.join('?' * len(SERVICE_COLUMNS))}, ?, ?, ?)")


def _merge_services(con: duckdb.DuckDBPyConnection, batch: Batch, report: IngestReport, *, source_id: int,
                    where: str, mode: str, skip_invalid: bool, now: dt.datetime) -> None:
    services = {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    deps = {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    columns = list(SERVICE_COLUMNS)
    pending_deps: list[tuple[int, dict]] = list(batch.dependencies)
    seen: dict[str, tuple[int, dict]] = {}
    for line, raw in batch.services:
        try:
            row, dependencies = _normalize_service(where, line, raw)
            name = row["name"]
            if name in seen and seen[name][1] != row:
                raise IngestError(where, f"service {name!r} appears twice with different content "
                                  f"(first at line {seen[name][0]})", line=line, field="name",
                                  expected="one record per service", found=name, record_id=name)
            seen[name] = (line, row)
            pending_deps.extend((line, d) for d in dependencies)
            stored = con.execute(_SELECT_SERVICE, [name]).fetchone()
            if stored is None:
                con.execute(_INSERT_SERVICE, [row[c] for c in columns] + [source_id, line, now])
                services["inserted"] += 1
                continue
            old = dict(zip(columns, stored[:-2]))
            changes = _row_changes(con, where, line, "service", name, old, row, mode, stored[-2], stored[-1], columns)
            if changes:
                assign = ", ".join(f"{c} = ?" for c in changes)
                con.execute(f"UPDATE services SET {assign}, source_id = ?, source_line = ?, ingested_at = ? "
                            "WHERE name = ?", list(changes.values()) + [source_id, line, now, name])
                services["updated"] += 1
            else:
                services["unchanged"] += 1
        except IngestError as error:
            if not skip_invalid:
                raise
            report.skipped.append(error)
            services["skipped"] += 1
    for line, dep in pending_deps:
        try:
            kind = dep.get("kind") or "hard"
            if kind not in DEPENDENCY_KINDS or not dep.get("service") or not dep.get("depends_on"):
                raise IngestError(where, "invalid service dependency", line=line, field="kind",
                                  expected="service, depends_on and a kind among " + ", ".join(DEPENDENCY_KINDS),
                                  found=f"{dep.get('service')} -> {dep.get('depends_on')} ({kind})")
            stored = con.execute("SELECT kind, source_id FROM service_dependencies WHERE service = ? AND depends_on = ?",
                                 [dep["service"], dep["depends_on"]]).fetchone()
            if stored is None:
                con.execute("INSERT INTO service_dependencies VALUES (?, ?, ?, ?, ?)",
                            [dep["service"], dep["depends_on"], kind, source_id, now])
                deps["inserted"] += 1
            elif stored[0] == kind:
                deps["unchanged"] += 1
            elif mode == "upsert":
                con.execute("UPDATE service_dependencies SET kind = ?, source_id = ?, ingested_at = ? "
                            "WHERE service = ? AND depends_on = ?", [kind, source_id, now, dep["service"],
                                                                     dep["depends_on"]])
                deps["updated"] += 1
            else:
                raise IngestError(where, f"dependency {dep['service']} -> {dep['depends_on']} is already stored "
                                  f"from {_source_path(con, stored[1])} with another kind", line=line, field="kind",
                                  expected=f"{stored[0]} (as stored)", found=kind)
        except IngestError as error:
            if not skip_invalid:
                raise
            report.skipped.append(error)
            deps["skipped"] += 1
    if batch.services:
        report.tables["services"] = services
    if pending_deps:
        report.tables["service_dependencies"] = deps


def _source_path(con: duckdb.DuckDBPyConnection, source_id: int) -> str:
    row = con.execute("SELECT path FROM sources WHERE id = ?", [source_id]).fetchone()
    return row[0] if row else f"source {source_id}"


def _row_changes(con: duckdb.DuckDBPyConnection, where: str, line: int, kind: str, key: str, old: dict, new: dict,
                 mode: str, stored_source: int, stored_line: int | None, columns: list[str]) -> dict[str, Any]:
    """Return {column: value} to write for an existing row; raise on a conflict (insert mode)."""
    changes = {}
    for column in columns:
        before, after = old[column], new[column]
        if after is None:
            continue
        if before is None:
            changes[column] = after
        elif _comparable(before) != _comparable(after):
            if mode == "upsert":
                changes[column] = after
            else:
                place = _source_path(con, stored_source) + (f":{stored_line}" if stored_line is not None else "")
                raise IngestError(where, f"{kind} {key!r} is already stored from {place} with different content",
                                  line=line, field=column, expected=f"{before} (as stored)", found=after,
                                  record_id=key)
    return changes


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# -- service profiles ---------------------------------------------------------------------------
def _merge_profiles(con: duckdb.DuckDBPyConnection, batch: Batch, report: IngestReport, *, source_id: int,
                    now: dt.datetime) -> None:
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    same = None
    if report.sha256:
        same = con.execute("SELECT id FROM sources WHERE sha256 = ? AND format = ? AND id <> ? LIMIT 1",
                           [report.sha256, batch.format, source_id]).fetchone()
    if same is not None:
        counts["unchanged"] = len(batch.profiles)
    else:
        for line, profile in batch.profiles:
            con.execute(
                "INSERT INTO service_profiles (service, source_id, total_deployments, hourly_distribution, "
                "weekly_distribution, failure_patterns, raw, source_line, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [profile["service"], source_id, profile["total_deployments"], profile["hourly_distribution"],
                 profile["weekly_distribution"], json.dumps(profile["failure_patterns"]), json.dumps(profile["raw"]),
                 line, now],
            )
            counts["inserted"] += 1
    report.tables["service_profiles"] = counts


# -- ingest records (the daemon's `record`) -----------------------------------------------------
def ingest_records(store: Store, *, deployments: Iterable[dict] = (), rollbacks: Iterable[dict] = (),
                   services: Iterable[dict] = (), source: str = "record", mode: str = "insert") -> IngestReport:
    """Validate and merge canonical record dicts in one transaction; return the report.

    Times may be datetime (naive = UTC), epoch seconds or ISO-8601 text. With ``mode="upsert"``
    a record for an existing id replaces the values it carries and may carry only those (an
    outcome update: ``{"id", "status", "completed", ...}``; the duration is recomputed); with
    ``"insert"`` a different value is an error. Invalid records raise :class:`IngestError`
    naming the field; "line" is the record's 1-based position. Upserts and small batches (up
    to ``outcomes.MAX_RECORDS``) go row by row (a few ms each); bigger inserts go the bulk path.
    """
    if mode not in ("insert", "upsert"):
        raise ValueError(f"mode must be 'insert' or 'upsert', not {mode!r}")
    deployments, rollbacks, services = list(deployments), list(rollbacks), list(services)
    report = IngestReport(source, "record")
    started = time.perf_counter()
    con = store.con
    batch = Batch("record", services=[(i, dict(s)) for i, s in enumerate(services, start=1)])
    fast = mode == "upsert" or len(deployments) + len(rollbacks) <= outcomes.MAX_RECORDS
    con.execute("BEGIN TRANSACTION")
    try:
        rows = [_record_deployment(source, i, d) for i, d in enumerate(deployments, start=1)]
        for i, item in enumerate(rollbacks, start=1):
            _check_fields(source, i, item, ROLLBACK_COLUMNS, "rollback")
        source_id = _record_source(con, source)
        if fast:
            now = utcnow()
            for spec, items in ((merging.DEPLOYMENTS, rows), (merging.ROLLBACKS, rollbacks)):
                if items:
                    report.tables[spec.table] = outcomes.record(con, spec, items, source=source, source_id=source_id,
                                                                mode=mode, ingested_at=now)
        else:
            if rows:
                stage_rows(con, "deployments", DEPLOYMENT_COLUMNS, rows, range(1, len(rows) + 1))
                batch.deployments = True
            if rollbacks:
                stage_rows(con, "rollbacks", ROLLBACK_COLUMNS, rollbacks, range(1, len(rollbacks) + 1))
                batch.rollbacks = True
        _merge_batch(con, batch, report, source_id=source_id, where=source, mode=mode, skip_invalid=False)
        report.source_id = source_id
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        if not fast:
            _drop_work_tables(con)
    report.seconds = time.perf_counter() - started
    return report


def _check_fields(source: str, index: int, record: dict, columns: dict, noun: str) -> None:
    unknown = sorted(set(record) - set(columns))
    if unknown:
        raise IngestError(source, f"unknown {noun} field", line=index, field=unknown[0],
                          expected="one of " + ", ".join(columns), found=unknown[0], record_id=record.get("id"))


def _record_deployment(source: str, index: int, record: dict) -> dict:
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise IngestError(source, "invalid metadata", line=index, field="metadata", expected="an object",
                          found=metadata, record_id=record.get("id"))
    _check_fields(source, index, record, DEPLOYMENT_COLUMNS, "deployment")
    return deployment_row(record, metadata)


def _record_source(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """Return the sources row for live records from SOURCE (created once)."""
    path = source if ":" in source else f"daemon:{source}"
    row = con.execute("SELECT id FROM sources WHERE path = ? AND format = 'record' ORDER BY id LIMIT 1",
                      [path]).fetchone()
    if row is not None:
        return row[0]
    return con.execute("INSERT INTO sources (path, format, sha256, ingested_at) VALUES (?, 'record', NULL, ?) "
                       "RETURNING id", [path, utcnow()]).fetchone()[0]


# -- progress -----------------------------------------------------------------------------------
class _Progress:
    """A rich progress display on stderr for large inputs; does nothing when disabled or not a tty."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[step]}"),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, name: str, steps: int) -> int:
        """Add a task for one file; return its id."""
        if self._progress is None:
            return 0
        return self._progress.add_task(name, total=steps, step="reading")

    def advance(self, task: int, step: str) -> None:
        """Move TASK one step on, now doing STEP."""
        if self._progress is not None:
            self._progress.update(task, advance=1, step=step)

    def done(self, task: int) -> None:
        """Mark TASK complete."""
        if self._progress is not None:
            self._progress.update(task, completed=self._progress.tasks[task].total, step="done")
