"""Record a few deployments or rollbacks as they happen (the daemon's ``record``), fast.

The bulk path (:mod:`predictor.store.merge`) stages rows and validates them in SQL: right for a
million rows, ~20 statements too many for one. Here each record is validated in Python with
the same rules (:data:`predictor.store.merge.DEPLOYMENTS` / ``ROLLBACKS``: required fields,
allowed values, plausible times, completed >= started) and written with an indexed lookup and
one INSERT or UPDATE.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import duckdb

from predictor.errors import IngestError
from predictor.store import merge as merging
from predictor.store.formats.common import to_json_text

#: batches up to this size take this path; bigger ones the bulk path
MAX_RECORDS = 50


def parse_time(value: Any) -> dt.datetime | None:
    """Return VALUE (datetime, epoch seconds, ISO-8601 text) as naive UTC; ValueError if not a time."""
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) >= 1e11:
            raise ValueError(f"not a time: {value!r}")
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            return parse_time(float(text))
        except ValueError:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        raise ValueError(f"not a time: {value!r}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def convert(kind: str, value: Any) -> Any:
    """Convert VALUE to the stored type of KIND; ValueError when it cannot be."""
    if value is None:
        return None
    if kind == "text":
        if isinstance(value, (dict, list, tuple)):
            raise ValueError("not text")
        text = str(value) if not isinstance(value, bool) else ("true" if value else "false")
        return text or None
    if kind == "time":
        moment = parse_time(value)
        if moment is not None and not merging.EARLIEST <= moment < merging.LATEST:
            raise OverflowError(moment.isoformat())
        return moment
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("a boolean")
        return float(value)
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("a boolean")
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, float):
            if not number.is_integer():
                raise ValueError("not an integer")
            number = int(number)
        return int(number)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "#t", "#f", "t", "f", "1", "0"):
            return value.lower() in ("true", "#t", "t", "1")
        raise ValueError("not a boolean")
    if kind == "json":
        if isinstance(value, str):
            json.loads(value)
            return value
        return to_json_text(value)
    raise ValueError(kind)


_EXPECTED = {"float": "a number", "int": "an integer", "bool": "true or false", "json": "JSON (an object or list)",
             "text": "text"}


def validate(spec: merging.TableSpec, record: dict, source: str, line: int) -> dict:
    """Return RECORD's stored values (every column of SPEC); raise IngestError naming the field."""
    record_id = record.get("id")
    noun = spec.table[:-1]

    def fail(column: str, expected: str, found: Any) -> IngestError:
        return IngestError(source, f"{noun} {record_id!r}: invalid {column}" if record_id else f"{noun}: invalid "
                           f"{column}", line=line, field=column, expected=expected, found=found,
                           record_id=record_id if isinstance(record_id, str) else None)

    row: dict[str, Any] = {}
    for column, kind in spec.columns.items():
        value = record.get(column)
        try:
            row[column] = convert(kind, value)
        except OverflowError:
            raise fail(column, "a plausible time, between 1990-01-01 and 2100-01-01", value) from None
        except (ValueError, TypeError):
            raise fail(column, merging.TIME_EXPECTED if kind == "time" else _EXPECTED[kind], value) from None
    for column in spec.required:
        if row[column] is None:
            raise fail(column, merging.TIME_EXPECTED if spec.columns[column] == "time" else "a non-empty value",
                       record.get(column))
    for column, allowed in spec.enums.items():
        if row[column] is not None and row[column] not in allowed:
            raise fail(column, "one of " + ", ".join(allowed), row[column])
    if row.get("completed") is not None and row["completed"] < row["started"]:
        raise fail("completed", f"a time at or after started ({row['started'].isoformat()})", record.get("completed"))
    if spec.duration:
        if row[spec.duration] is None and row.get("completed") is not None:
            row[spec.duration] = (row["completed"] - row["started"]).total_seconds()
        if row[spec.duration] is not None and row[spec.duration] < 0:
            raise fail(spec.duration, "a duration >= 0 seconds", row[spec.duration])
    return row


def _same(stored: Any, new: Any) -> bool:
    if isinstance(stored, str) and isinstance(new, str) and stored[:1] in "[{" and new[:1] in "[{":
        try:
            return json.loads(stored) == json.loads(new)
        except json.JSONDecodeError:
            return stored == new
    return stored == new


def record(con: duckdb.DuckDBPyConnection, spec: merging.TableSpec, records: list[dict], *, source: str,
           source_id: int, mode: str, ingested_at: dt.datetime) -> dict[str, int]:
    """Validate and write RECORDS one by one (inside the caller's transaction); return counts.

    With MODE "upsert", a record for a stored id may carry only the fields that change; the
    rest comes from the store (and a new ``completed`` recomputes the duration).
    """
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    columns = list(spec.columns)
    found = []
    new_ids: dict[str, int] = {}
    for index, item in enumerate(records, start=1):
        stored = None
        if isinstance(item.get("id"), str) and item["id"]:
            stored = con.execute(f"SELECT {', '.join(columns)}, source_id, source_line FROM {spec.table} "
                                 "WHERE id = ?", [item["id"]]).fetchone()
        if stored is not None and mode == "upsert":
            # an outcome update may carry only what changed (id, status, completed, ...)
            given = {key: value for key, value in item.items() if value is not None}
            if "completed" in given and spec.duration and spec.duration not in given:
                given[spec.duration] = None
                item = {**dict(zip(columns, stored)), spec.duration: None, **given}
            else:
                item = {**dict(zip(columns, stored)), **given}
        row = validate(spec, item, source, index)
        if stored is None:
            # a new id given twice in one batch: say which records (the key would only say "duplicate")
            first = new_ids.setdefault(row["id"], index)
            if first != index:
                raise IngestError(source, f"{spec.table[:-1]} {row['id']!r} appears twice (first as record {first})",
                                  line=index, field="id", expected="one record per id", found=row["id"],
                                  record_id=row["id"])
        found.append((stored, row))
    for index, (stored, row) in enumerate(found, start=1):
        if stored is None:
            con.execute(f"INSERT INTO {spec.table} ({', '.join(columns)}, source_id, source_line, ingested_at) "
                        f"VALUES ({', '.join('?' * len(columns))}, ?, ?, ?)",
                        [row[c] for c in columns] + [source_id, index, ingested_at])
            counts["inserted"] += 1
            continue
        old = dict(zip(columns, stored))
        changes = {}
        for column in columns[1:]:
            before, after = old[column], row[column]
            if after is None or _same(before, after):
                continue
            if before is None or mode == "upsert":
                changes[column] = after
            else:
                place = con.execute("SELECT path FROM sources WHERE id = ?", [stored[-2]]).fetchone()
                where = (place[0] if place else f"source {stored[-2]}") + (
                    f":{stored[-1]}" if stored[-1] is not None else "")
                raise IngestError(source, f"{spec.table[:-1]} {row['id']!r} is already stored from {where} with "
                                  f"different content", line=index, field=column,
                                  expected=f"{before} (as stored)", found=after, record_id=row["id"])
        if not changes:
            counts["unchanged"] += 1
            continue
        assign = ", ".join(f"{c} = ?" for c in changes)
        con.execute(f"UPDATE {spec.table} SET {assign}, source_id = ?, source_line = ?, ingested_at = ? WHERE id = ?",
                    list(changes.values()) + [source_id, index, ingested_at, row["id"]])
        counts["updated"] += 1
    return counts
