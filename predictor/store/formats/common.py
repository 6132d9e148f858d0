"""What every reader shares: the canonical columns, staging rows into DuckDB, and turning the
ledger's metadata alist into the columns it carries (change size, configuration, ...)."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import pyarrow as pa


from predictor import sexp
from predictor.errors import IngestError

#: canonical deployment columns and their kind (text, time, float, int, bool, json)
DEPLOYMENT_COLUMNS: dict[str, str] = {
    "id": "text", "service": "text", "version": "text", "environment": "text",
    "deployment_type": "text", "started": "time", "completed": "time", "status": "text",
    "initiator": "text", "metadata": "json", "parent_id": "text", "duration_seconds": "float",
    "change_size": "int", "configuration": "json", "commit_time": "time", "name": "text",
    "strategy": "text", "source_environment": "text", "target_host": "text", "resources": "json",
    "failure_reasons": "json", "rollback_triggered": "bool", "rollback_successful": "bool",
    "automated": "bool", "log_excerpt": "text", "performance": "json", "lessons_learned": "json",
}
ROLLBACK_COLUMNS: dict[str, str] = {
    "id": "text", "service": "text", "from_version": "text", "to_version": "text", "reason": "text",
    "started": "time", "completed": "time", "status": "text", "initiator": "text", "impact": "text",
    "deployment_id": "text", "recovery_seconds": "float", "steps": "json",
}
SERVICE_COLUMNS: dict[str, str] = {
    "name": "text", "type": "text", "description": "text", "team": "text", "owners": "json",
    "repository": "text", "documentation_url": "text", "health_check": "text", "tags": "json",
    "active": "bool", "created": "time", "updated": "time",
}

#: metadata keys (kebab or snake case) that carry a deployments column, first match wins
METADATA_ALIASES: dict[str, tuple[str, ...]] = {
    "change_size": ("change-size", "lines-changed", "changed-lines", "change-lines", "diff-size",
                    "files-changed"),
    "configuration": ("configuration", "config"),
    "commit_time": ("commit-time", "first-commit-time", "commit-timestamp", "committed"),
    "strategy": ("strategy",),
    "duration_seconds": ("duration-seconds", "duration"),
    "name": ("name", "deployment-name"),
    "source_environment": ("source-environment", "source-env"),
    "target_host": ("target-host", "host"),
    "resources": ("resources", "resources-deployed"),
    "failure_reasons": ("failure-reasons",),
    "rollback_triggered": ("rollback-triggered",),
    "rollback_successful": ("rollback-successful",),
    "automated": ("automated", "automation"),
    "log_excerpt": ("log-excerpt", "logs"),
    "performance": ("performance", "performance-data", "metrics"),
    "lessons_learned": ("lessons-learned",),
}


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


#: json.dumps(value, default=_json_default, ensure_ascii=False), without building an encoder per call
_JSON_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False)


def to_json_text(value: Any) -> str | None:
    """Return VALUE as JSON text (None stays None); S-expression data become plain first."""
    if value is None:
        return None
    return _JSON_ENCODER.encode(sexp.to_plain(value))


def raw_text(value: Any) -> str | None:
    """Return VALUE as the text DuckDB will cast (times stay ISO / epoch text; bools true/false)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str or kind is sexp.Symbol:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return to_json_text(value)


#: metadata key (either case) -> (column, rank among that column's aliases)
_ALIAS_COLUMN = {alias.replace("-", sep): (column, rank)
                 for column, aliases in METADATA_ALIASES.items()
                 for rank, alias in enumerate(aliases) for sep in ("-", "_")}


def metadata_columns(metadata: dict) -> dict[str, Any]:
    """Return the deployments columns METADATA carries (see METADATA_ALIASES), raw values."""
    found: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    for key, value in metadata.items():
        hit = _ALIAS_COLUMN.get(key)
        if hit is None or value is None:
            continue
        column, rank = hit
        if column not in found or rank < ranks[column]:
            found[column] = value
            ranks[column] = rank
    return found


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while building millions of small containers.

    Reading a big file allocates lists by the million and keeps them; the collector would
    rescan them again and again (it halves the sexp reader's speed). Nothing read is cyclic.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def metadata_from_sexp_text(text: str | None) -> dict:
    """Parse the ledger's stored metadata (``(format #f "~s" alist)`` text) into a dict.

    Raises ``ValueError`` (via :class:`predictor.sexp.SexpError`) when it is not an alist.
    """
    if text is None or not text.strip():
        return {}
    datum = sexp.read(text)
    return metadata_from_datum(datum)


def metadata_from_datum(datum: Any) -> dict:
    """Return the metadata dict of an alist datum (``()``/``#f`` give ``{}``; nested alists
    become nested dicts, lists and vectors lists). Raises ``ValueError`` naming the bad entry."""
    return sexp.plain_alist(datum)


def object_metadata(where: str, line: int, record: dict, metadata: Any) -> dict | None:
    """Return METADATA when it is a dict or None; else raise IngestError naming the record."""
    if metadata is None or isinstance(metadata, dict):
        return metadata
    record_id = record.get("id") if isinstance(record.get("id"), str) else None
    raise IngestError(where, "invalid metadata" if record_id is None else f"deployment {record_id!r}: invalid metadata",
                      line=line, field="metadata", expected="an object of key/value pairs",
                      found=json.dumps(metadata, default=str)[:80], record_id=record_id)


def deployment_row(record: dict, metadata: dict | None) -> dict[str, Any]:
    """Return the raw column values of one deployment (metadata-carried columns filled in)."""
    row = {column: record.get(column) for column in DEPLOYMENT_COLUMNS}
    if metadata is not None:
        row["metadata"] = metadata
        for column, value in metadata_columns(metadata).items():
            if row.get(column) is None:
                row[column] = value
    return row


def stage_rows(con, table: str, columns: dict[str, str], rows: Iterable[dict], lines: Iterable[int]) -> int:
    """Create the temporary table ``_raw_<table>`` from Python ROWS (dicts; values as found).

    JSON-kind values are written as JSON text, everything else as text (:func:`raw_text`);
    columns no row carries are left out (the merge treats them as empty).
    Returns the number of rows staged.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    stage_arrow(con, table, rows_to_arrow(columns, rows, lines))
    return len(rows)


def rows_to_arrow(columns: dict[str, str], rows: list[dict], lines: Iterable[int]) -> "pa.Table":
    """Return ROWS as an Arrow table of text columns plus ``source_line`` (see :func:`stage_rows`)."""
    import pyarrow as pa

    present: set[str] = set()
    for row in rows[:1000]:
        present.update(row)
    if len(rows) > 1000:
        for row in rows:
            if not present.issuperset(row):
                present.update(row)
    names, arrays = [], []
    for name, kind in columns.items():
        if name not in present:
            continue
        values = [row.get(name) for row in rows]
        if not any(value is not None for value in values):
            continue
        names.append(name)
        arrays.append(column_array(values, kind))
    names.append("source_line")
    arrays.append(pa.array(list(lines), type=pa.int64()))
    return pa.Table.from_arrays(arrays, names=names)


def concat_arrow(tables: list["pa.Table"]) -> "pa.Table":
    """Concatenate tables whose column sets may differ (missing columns become null)."""
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="default")


def column_array(values: list, kind: str) -> "pa.Array":
    """Return VALUES as an Arrow string array: JSON text for json KIND, else raw text."""
    import pyarrow as pa

    if kind == "json":
        return pa.array([value if value is None or type(value) is str else to_json_text(value) for value in values],
                        type=pa.string())
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([raw_text(value) for value in values], type=pa.string())


def stage_arrow(con, table: str, arrow: "pa.Table") -> None:
    """Make the Arrow table visible to DuckDB as ``_raw_<table>`` (registered, not copied).

    :func:`predictor.store.ingest` unregisters it when the file is done.
    """
    con.register(f"_raw_{table}", arrow)
