"""Validate staged rows and merge them into the history tables, in SQL, in bulk.

A reader leaves raw rows in ``_raw_deployments`` / ``_raw_rollbacks`` (canonical column names,
values as found: ISO-8601 text, epoch seconds, JSON text, ...). Here they are

1. normalized into ``_norm_<table>`` (times to naive UTC TIMESTAMP, numbers, booleans, JSON),
   with ``_problem`` naming the first rule each row breaks (one scan for every rule);
2. checked: the first bad row is reported with its line, field, what was expected and what was
   found (or, with ``skip_invalid``, every bad row is dropped and reported);
3. checked for duplicate ids inside the file (identical copies collapse; different content is
   an error naming both lines) and against the store (same id, different content: an error
   naming both places, unless ``mode="upsert"``);
4. merged: one ``INSERT ... SELECT`` with an anti-join for new ids, one ``UPDATE`` for rows
   that add values the store lacks (or, for upserts, change them).

A file for an empty table (a store's first ingest) takes a shorter way when it can:
:func:`insert_new` normalizes, checks and inserts in one statement, no staging table; the
first row breaking a rule (or an id given twice, which the table's key refuses) stops it, and
ingest rolls back and takes the steps above, which say precisely what is wrong.

Only identifiers from the constant column lists are spliced into SQL; every value is a parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from predictor.errors import IngestError
from predictor.store import DEPLOYMENT_TYPES, STATUSES
from predictor.store.formats.common import DEPLOYMENT_COLUMNS, ROLLBACK_COLUMNS

EARLIEST = dt.datetime(1990, 1, 1)
LATEST = dt.datetime(2100, 1, 1)
TIME_EXPECTED = "an ISO-8601 UTC time (e.g. 2026-11-21T15:30:05Z) or epoch seconds"

_SQL_TYPES = {"text": "VARCHAR", "time": "TIMESTAMP", "float": "DOUBLE", "int": "INTEGER",
              "bool": "BOOLEAN", "json": "VARCHAR"}


@dataclass(frozen=True)
class TableSpec:
    """How one history table is validated: columns, required ones, allowed values."""

    table: str
    columns: dict[str, str]
    required: tuple[str, ...]
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    duration: str | None = None        # column derived from completed - started when absent


DEPLOYMENTS = TableSpec(
    "deployments", DEPLOYMENT_COLUMNS, ("id", "service", "environment", "started", "status"),
    {"status": STATUSES, "deployment_type": DEPLOYMENT_TYPES}, "duration_seconds",
)
ROLLBACKS = TableSpec("rollbacks", ROLLBACK_COLUMNS, ("id", "service", "started"), {}, "recovery_seconds")


@dataclass
class Check:
    """One rule: the SQL condition that breaks it, the field, and what was expected."""

    field: str
    condition: str
    expected: str


@dataclass
class TableOutcome:
    """What merging one table did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[IngestError] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Return the summary counts (inserted / updated / unchanged / skipped)."""
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "skipped": self.skipped}


# -- normalization ----------------------------------------------------------------------------
def _raw_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE _raw_{table}").fetchall()
    return {name: kind.upper() for name, kind, *_ in rows}


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "REAL")


def _is_numeric(sql_type: str) -> bool:
    return sql_type in _NUMERIC or sql_type.startswith("DECIMAL")


def _expression(column: str, kind: str, raw_type: str | None) -> str:
    """Return the SQL turning raw column COLUMN (of RAW_TYPE) into its canonical KIND."""
    if raw_type is None:
        return f"CAST(NULL AS {_SQL_TYPES[kind]})"
    c = f'r."{column}"'
    is_text = raw_type == "VARCHAR"
    if kind == "text":
        return f"NULLIF(CAST({c} AS VARCHAR), '')"
    if kind == "time":
        if is_text:
            return (
                f"CASE WHEN {c} IS NULL OR {c} IN ('', 'null', '#f') THEN NULL "
                f"WHEN suffix({c}, 'Z') THEN TRY_CAST({c} AS TIMESTAMP) "
                f"WHEN regexp_matches({c}, '[0-9]:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)?[+-][0-9]{{2}}(:?[0-9]{{2}})?$') "
                f"THEN timezone('UTC', TRY_CAST({c} AS TIMESTAMPTZ)) "
                f"ELSE COALESCE(TRY_CAST({c} AS TIMESTAMP), CASE WHEN abs(TRY_CAST({c} AS DOUBLE)) < 1e11 "
                f"THEN make_timestamp(CAST(TRY_CAST({c} AS DOUBLE) * 1000000 AS BIGINT)) END) END"
            )
        if _is_numeric(raw_type):
            return (f"CASE WHEN abs({c}) < 1e11 THEN make_timestamp(CAST({c} * 1000000 AS BIGINT)) END")
        if "TIME ZONE" in raw_type:
            return f"timezone('UTC', {c})"
        return f"TRY_CAST({c} AS TIMESTAMP)"
    if kind in ("float", "int"):
        target = _SQL_TYPES[kind]
        if is_text:
            return f"TRY_CAST(NULLIF({c}, '') AS {target})"
        return f"TRY_CAST({c} AS {target})"
    if kind == "bool":
        if is_text:
            return (f"CASE lower({c}) WHEN '#t' THEN true WHEN '#f' THEN false WHEN '' THEN NULL "
                    f"ELSE TRY_CAST({c} AS BOOLEAN) END")
        if _is_numeric(raw_type):
            return f"({c} <> 0)"
        return f"TRY_CAST({c} AS BOOLEAN)"
    if kind == "json":
        if is_text:
            return f"CASE WHEN NULLIF({c}, '') IS NULL THEN NULL WHEN json_valid({c}) THEN {c} END"
        return f"CAST(to_json({c}) AS VARCHAR)"
    raise ValueError(kind)


def _checks(spec: TableSpec, raw_types: dict[str, str]) -> list[Check]:
    """Return the rules for SPEC, in the order a row is checked."""
    checks: list[Check] = []
    for column in spec.required:
        if spec.columns[column] == "time":
            continue
        checks.append(Check(column, f"n.{column} IS NULL", "a non-empty value"))
    for column, allowed in spec.enums.items():
        required = column in spec.required
        checks.append(Check(column, f"n.{column} IS NOT NULL AND NOT list_contains(${column}_allowed, n.{column})",
                            "one of " + ", ".join(allowed) + ("" if required else " (or empty)")))
    for column, kind in spec.columns.items():
        if column not in raw_types or kind == "text":
            continue
        raw = f"n._raw_{column}"
        present = f"{raw} IS NOT NULL AND {raw} NOT IN ('', 'null')"
        if kind == "time":
            if column in spec.required:
                checks.append(Check(column, f"NOT ({present})", TIME_EXPECTED))
            checks.append(Check(column, f"{present} AND n.{column} IS NULL", TIME_EXPECTED))
            checks.append(Check(column, f"n.{column} < $earliest OR n.{column} >= $latest",
                                "a plausible time, between 1990-01-01 and 2100-01-01"))
        else:
            expected = {"float": "a number", "int": "an integer", "bool": "true or false (#t/#f)",
                        "json": "JSON text"}[kind]
            checks.append(Check(column, f"{present} AND n.{column} IS NULL", expected))
    if "completed" in raw_types and "started" in spec.columns:
        checks.append(Check("completed", "n.completed < n.started", "a time at or after started"))
    if spec.duration and spec.duration in raw_types:
        checks.append(Check(spec.duration, f"n.{spec.duration} < 0", "a duration >= 0 seconds"))
    if "started" in spec.required and "started" not in raw_types:
        checks.insert(0, Check("started", "true", TIME_EXPECTED))
    return checks


@dataclass
class _Normalized:
    """The SELECT turning ``_raw_<table>`` into canonical rows (every identifier from SPEC's
    constant column lists), the rules it checks, and the parameters the rules use."""

    checks: list[Check]
    outer: list[str]            # canonical columns over the inner select ``n``
    inner: str                  # ``SELECT ... FROM _raw_<table> r``
    conditions: list[str]       # one SQL condition per check (true when the row breaks it)
    params: dict[str, object]


def _normalized(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> _Normalized:
    raw_types = _raw_types(con, spec.table)
    checks = _checks(spec, raw_types)
    parse_columns = [c for c, kind in spec.columns.items() if kind != "text" and c in raw_types]
    inner = [f"{_expression(c, kind, raw_types.get(c))} AS {c}" for c, kind in spec.columns.items()]
    inner += [f"CAST(r.\"{c}\" AS VARCHAR) AS _raw_{c}" for c in parse_columns]
    inner.append("CAST(r.source_line AS INTEGER) AS source_line")
    columns = list(spec.columns)
    outer = [f"n.{c}" for c in columns]
    if spec.duration:
        index = columns.index(spec.duration)
        outer[index] = (f"COALESCE(n.{spec.duration}, "
                        f"(epoch_us(n.completed) - epoch_us(n.started)) / 1000000.0)")
    conditions = [check.condition for check in checks]
    params: dict[str, object] = {}
    text = " ".join(conditions)
    for column, allowed in spec.enums.items():
        if f"${column}_allowed" in text:
            params[f"{column}_allowed"] = list(allowed)
    if "$earliest" in text:
        params["earliest"] = EARLIEST
        params["latest"] = LATEST
    return _Normalized(checks, outer, f"SELECT {', '.join(inner)} FROM _raw_{spec.table} r", conditions, params)


def normalize(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[Check]:
    """Create ``_norm_<table>`` from ``_raw_<table>``; return the checks (``_problem`` indexes them)."""
    norm = _normalized(con, spec)
    problem = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, c in enumerate(norm.conditions)) + " END"
    if not norm.conditions:
        problem = "CAST(NULL AS INTEGER)"
    definition = ", ".join(f"{c} {_SQL_TYPES[kind]}" for c, kind in spec.columns.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE _norm_{spec.table} ({definition}, source_line INTEGER, "
                f"_problem INTEGER)")
    con.execute(f"INSERT INTO _norm_{spec.table} SELECT {', '.join(norm.outer)}, n.source_line, {problem} "
                f"FROM ({norm.inner}) n", norm.params)
    return norm.checks


class FastPathFailed(Exception):
    """The one-statement insert met something it does not handle (a row breaking a rule, an id
    twice, an unreadable row, ...): the caller rolls the file's transaction back and takes the
    full path, which reports it precisely (or collapses identical repeats)."""


def is_empty(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> bool:
    """True when SPEC's table holds no row (the first ingest into a store)."""
    return not con.execute(_EXISTS_SQL[spec.table]).fetchone()[0]


_EXISTS_SQL = {spec.table: f"SELECT EXISTS (SELECT 1 FROM {spec.table})" for spec in (DEPLOYMENTS, ROLLBACKS)}


def insert_new(con: duckdb.DuckDBPyConnection, spec: TableSpec, *, source_id: int,
               ingested_at: dt.datetime) -> TableOutcome:
    """Normalize, check and insert ``_raw_<table>`` into SPEC's empty table in one statement.

    A row breaking any rule stops the statement (``error()``), and so does an id given twice
    (the table's key refuses it). Either raises :class:`FastPathFailed` and leaves the
    transaction to be rolled back. Rows never go through an intermediate table.
    """
    norm = _normalized(con, spec)
    guard = "true"
    if norm.conditions:
        guard = (f"CASE WHEN {' OR '.join(f'({c})' for c in norm.conditions)} "
                 "THEN error('ingest: a row breaks a rule') ELSE true END")
    sql = (f"INSERT INTO {spec.table} ({', '.join(spec.columns)}, source_id, source_line, ingested_at) "
           f"SELECT {', '.join(norm.outer)}, $source_id, n.source_line, $ingested_at "
           f"FROM ({norm.inner}) n WHERE {guard}")
    try:
        inserted = con.execute(sql, {**norm.params, "source_id": source_id,
                                     "ingested_at": ingested_at}).fetchone()[0]
    except duckdb.Error as error:
        raise FastPathFailed(str(error)) from error
    return TableOutcome(inserted=inserted)


def find_problems(con: duckdb.DuckDBPyConnection, spec: TableSpec, checks: list[Check], path: str,
                  *, limit: int | None = 1) -> list[IngestError]:
    """Return an :class:`IngestError` for each row that breaks a rule (the first LIMIT, by line)."""
    sql = (f"SELECT source_line, id, _problem FROM _norm_{spec.table} WHERE _problem IS NOT NULL "
           "ORDER BY source_line")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    errors = []
    for line, record_id, index in con.execute(sql).fetchall():
        check = checks[index]
        found = _raw_value(con, spec.table, check.field, line)
        message = f"{spec.table[:-1]} {record_id!r}: invalid {check.field}" if record_id else \
            f"{spec.table[:-1]}: invalid {check.field}"
        if check.field == "completed" and check.expected.startswith("a time at or after"):
            started = _raw_value(con, spec.table, "started", line)
            message += f" (started {started})"
        errors.append(IngestError(path, message, line=line, field=check.field, expected=check.expected,
                                  found=found, record_id=record_id))
    return errors


def _raw_value(con: duckdb.DuckDBPyConnection, table: str, column: str, line: int) -> object:
    try:
        row = con.execute(f'SELECT CAST("{column}" AS VARCHAR) FROM _raw_{table} WHERE source_line = ?',
                          [line]).fetchone()
    except duckdb.BinderException:
        return None
    return None if row is None else row[0]


# -- merge --------------------------------------------------------------------------------------
def _differs(column: str, kind: str) -> str:
    if kind == "json":
        return (f"(n.{column} IS NOT NULL AND t.{column} IS NOT NULL AND "
                f"CAST(n.{column} AS VARCHAR) <> CAST(t.{column} AS VARCHAR))")
    return f"(n.{column} IS NOT NULL AND t.{column} IS NOT NULL AND n.{column} <> t.{column})"


def merge(con: duckdb.DuckDBPyConnection, spec: TableSpec, checks: list[Check], *, path: str, source_id: int,
          ingested_at: dt.datetime, mode: str = "insert", skip_invalid: bool = False) -> TableOutcome:
    """Validate ``_norm_<table>`` and merge it into the table; raise the first error unless SKIP_INVALID."""
    table = spec.table
    norm = f"_norm_{table}"
    outcome = TableOutcome()
    total = con.execute(f"SELECT count(*) FROM {norm}").fetchone()[0]
    problems = find_problems(con, spec, checks, path, limit=None if skip_invalid else 1)
    if problems:
        if not skip_invalid:
            raise problems[0]
        outcome.errors.extend(problems)
        outcome.skipped += len(problems)
        con.execute(f"DELETE FROM {norm} WHERE _problem IS NOT NULL")
    outcome.unchanged += _collapse_duplicates(con, spec, path, outcome, skip_invalid)
    content = [c for c in spec.columns if c != "id"]
    # an empty table (the first ingest of a store) needs no conflict check, update or anti-join
    stored = con.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
    if mode != "upsert" and stored:
        conflicts = _conflicts(con, spec, content, path)
        if conflicts:
            if not skip_invalid:
                raise conflicts[0]
            outcome.errors.extend(conflicts)
            outcome.skipped += len(conflicts)
            con.execute(f"DELETE FROM {norm} WHERE source_line IN (SELECT unnest(?::INTEGER[]))",
                        [[error.line for error in conflicts]])
    remaining = total - outcome.skipped - outcome.unchanged
    # rows that exist: fill in what the store lacks (upsert: also change what differs)
    if mode == "upsert":
        wanted = " OR ".join(f"(n.{c} IS NOT NULL AND (t.{c} IS NULL OR {_differs(c, k)}))"
                             for c, k in spec.columns.items() if c != "id")
        assign = ", ".join(f"{c} = COALESCE(n.{c}, t.{c})" for c in content)
    else:
        wanted = " OR ".join(f"(n.{c} IS NOT NULL AND t.{c} IS NULL)" for c in content)
        assign = ", ".join(f"{c} = COALESCE(t.{c}, n.{c})" for c in content)
    existing = con.execute(f"SELECT count(*) FROM {norm} n JOIN {table} t ON t.id = n.id").fetchone()[0] \
        if stored else 0
    if existing:
        updated = con.execute(
            f"UPDATE {table} AS t SET {assign}, source_id = ?, source_line = n.source_line, ingested_at = ? "
            f"FROM {norm} AS n WHERE t.id = n.id AND ({wanted})",
            [source_id, ingested_at],
        ).fetchone()[0]
        outcome.updated += updated
        outcome.unchanged += existing - updated
    columns = ", ".join(spec.columns)
    new_only = f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = n.id)" if existing else ""
    inserted = con.execute(
        f"INSERT INTO {table} ({columns}, source_id, source_line, ingested_at) "
        f"SELECT {', '.join('n.' + c for c in spec.columns)}, ?, n.source_line, ? FROM {norm} n {new_only}",
        [source_id, ingested_at],
    ).fetchone()[0] if remaining - existing > 0 else 0
    outcome.inserted += inserted
    return outcome


def _collapse_duplicates(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: str, outcome: TableOutcome,
                         skip_invalid: bool) -> int:
    """Drop exact repeats of an id inside the file; a repeat with other content is an error."""
    norm = f"_norm_{spec.table}"
    repeats = con.execute(f"SELECT count(*) - count(DISTINCT id) FROM {norm}").fetchone()[0]
    if not repeats:
        return 0
    content = ", ".join(f"CAST({c} AS VARCHAR)" for c in spec.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _dups AS SELECT source_line, id, hash({content}) AS h, "
                f"row_number() OVER (PARTITION BY id ORDER BY source_line) AS k, "
                f"first(hash({content})) OVER (PARTITION BY id ORDER BY source_line) AS h0, "
                f"first(source_line) OVER (PARTITION BY id ORDER BY source_line) AS line0 "
                f"FROM {norm} WHERE id IN (SELECT id FROM {norm} GROUP BY id HAVING count(*) > 1)")
    different = con.execute("SELECT source_line, id, line0 FROM _dups WHERE h <> h0 ORDER BY source_line").fetchall()
    for line, record_id, first_line in different:
        error = IngestError(path, f"{spec.table[:-1]} {record_id!r} appears twice with different content "
                            f"(first at line {first_line})", line=line, field="id",
                            expected="one record per id", found=record_id, record_id=record_id)
        if not skip_invalid:
            con.execute("DROP TABLE IF EXISTS _dups")
            raise error
        outcome.errors.append(error)
        outcome.skipped += 1
    con.execute(f"DELETE FROM {norm} WHERE source_line IN (SELECT source_line FROM _dups WHERE k > 1)")
    same = con.execute("SELECT count(*) FROM _dups WHERE k > 1 AND h = h0").fetchone()[0]
    con.execute("DROP TABLE IF EXISTS _dups")
    return same


def _conflicts(con: duckdb.DuckDBPyConnection, spec: TableSpec, content: list[str], path: str) -> list[IngestError]:
    """Return an error for every staged row whose id is stored with different content."""
    table = spec.table
    differs = [(c, _differs(c, spec.columns[c])) for c in content]
    which = "CASE " + " ".join(f"WHEN {cond} THEN '{c}'" for c, cond in differs) + " END"
    rows = con.execute(
        f"SELECT n.source_line, n.id, {which} AS field, s.path, t.source_line FROM _norm_{table} n "
        f"JOIN {table} t ON t.id = n.id LEFT JOIN sources s ON s.id = t.source_id "
        f"WHERE {' OR '.join(cond for _, cond in differs)} ORDER BY n.source_line"
    ).fetchall()
    errors = []
    for line, record_id, column, stored_path, stored_line in rows:
        new_value, old_value = con.execute(
            f"SELECT CAST(n.{column} AS VARCHAR), CAST(t.{column} AS VARCHAR) FROM _norm_{table} n "
            f"JOIN {table} t ON t.id = n.id WHERE n.source_line = ?", [line]).fetchone()
        where = f"{stored_path}:{stored_line}" if stored_line is not None else str(stored_path)
        errors.append(IngestError(
            path, f"{table[:-1]} {record_id!r} is already stored from {where} with different content",
            line=line, field=column, expected=f"{old_value} (as stored)", found=new_value, record_id=record_id,
        ))
    return errors


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables of one ingest (safe to call when they do not exist)."""
    for spec in (DEPLOYMENTS, ROLLBACKS):
        con.execute(f"DROP TABLE IF EXISTS _raw_{spec.table}")
        con.execute(f"DROP TABLE IF EXISTS _norm_{spec.table}")
