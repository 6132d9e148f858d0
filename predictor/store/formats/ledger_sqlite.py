"""The ledger's SQLite database, opened read-only (``file:...?mode=ro``; never modified).

Two schema variants exist; both share

``deployments(id, service_name, version, environment, deployment_type, started, completed,
status, initiator, metadata, parent_id)`` with times in epoch seconds (``completed`` 0 or NULL
when not finished) and metadata as S-expression alist text (``(format #f "~s" alist)``).

* ``init`` (the storage module's ``init-database!``):
  ``rollbacks(id, service_name, from_version, to_version, reason, initiated, completed, status,
  deployment_id)`` and ``service_metadata(service_name, description, team, repository_url,
  documentation_url, health_check_url, dependencies, tags)``, dependencies and tags being
  S-expression text (a list of names, or of ``(name . kind)`` pairs);
* ``migrations`` (``migrations/*.sql``): ``rollbacks(id, service_name, from_version, to_version,
  reason, timestamp, initiator, impact, deployment_id)``, ``service_metadata(name, type,
  dependencies, owners, repository, health_check, created, updated, active, tags)`` and
  ``service_dependencies(service_name, depends_on, dependency_type)``.

Rows are named by table and rowid in messages (``deployments rowid 42``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from predictor import sexp
from predictor.errors import IngestError
from predictor.store.formats import Batch
from predictor.store.formats.common import (
    ROLLBACK_COLUMNS, gc_paused, metadata_columns, metadata_from_sexp_text, stage_arrow, stage_rows,
    to_json_text,
)

if TYPE_CHECKING:
    import pyarrow as pa

MAGIC = b"SQLite format 3\x00"
FORMATS = ("ledger-sqlite-init", "ledger-sqlite-migrations")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open PATH read-only through a ``file:`` URI (the ledger's file is never written)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    # pages are read through a read-only memory map rather than copied by read() calls
    db.execute(_MMAP_PRAGMA)
    return db


_MMAP_PRAGMA = "PRAGMA mmap_size = 4294967296"


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute("SELECT * FROM pragma_table_info(?)", [table]).fetchall()]


def variant(db: sqlite3.Connection, where: str) -> str:
    """Return "init" or "migrations"; raise IngestError when this is not a ledger database."""
    deployments = _columns(db, "deployments")
    needed = ["id", "service_name", "version", "environment", "deployment_type", "started", "completed",
              "status", "initiator", "metadata", "parent_id"]
    missing = [c for c in needed if c not in deployments]
    if missing:
        raise IngestError(where, "not a deploy-ledger database", field="deployments",
                          expected="table deployments(" + ", ".join(needed) + ")",
                          found=("no deployments table" if not deployments else "columns " + ", ".join(deployments)))
    rollbacks = _columns(db, "rollbacks")
    services = _columns(db, "service_metadata")
    if "initiated" in rollbacks or "service_name" in services:
        return "init"
    return "migrations"


def read(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Stage everything the ledger database at PATH holds."""
    where = str(path)
    try:
        db = connect_read_only(path)
    except sqlite3.Error as error:
        raise IngestError(where, f"cannot open the SQLite database read-only: {error}") from None
    try:
        kind = variant(db, where)
        batch = Batch(f"ledger-sqlite-{kind}")
        _deployments(con, db, where, batch, skip_invalid)
        _rollbacks(con, db, where, batch, kind)
        _services(db, where, batch, kind, skip_invalid)
        return batch
    except sqlite3.DatabaseError as error:
        raise IngestError(where, f"cannot read the SQLite database: {error}") from None
    finally:
        db.close()


# -- deployments ------------------------------------------------------------------------------
_META_COLUMNS = ("change_size", "configuration", "commit_time", "strategy", "name", "source_environment",
                 "target_host", "resources", "failure_reasons", "rollback_triggered", "rollback_successful",
                 "automated", "log_excerpt", "performance", "lessons_learned")
_JSON_META = {"configuration", "resources", "failure_reasons", "performance", "lessons_learned"}
#: column -> its place in a parsed metadata entry (after the JSON text)
_META_INDEX = {name: index for index, name in enumerate(_META_COLUMNS, start=1)}


#: databases with more deployments than this are read by two processes (one per rowid half)
PARALLEL_ROWS = 200_000
_ROW_NAMES = ["source_line", "id", "service", "version", "environment", "deployment_type", "started", "completed",
              "status", "initiator", "metadata_text", "parent_id"]


def _row_struct(text: "pa.DataType") -> "pa.DataType":
    """The Arrow type of one fetched deployments row, text columns typed TEXT."""
    import pyarrow as pa

    return pa.struct([(name, pa.int64() if name == "source_line" else pa.float64() if name in ("started", "completed")
                       else text) for name in _ROW_NAMES])


def _same_types(tables: list["pa.Table"]) -> list["pa.Table"]:
    """Return TABLES with one schema: when a part read odd times as text, all parts do."""
    import pyarrow as pa

    if all(table.schema == tables[0].schema for table in tables):
        return tables
    return [table.cast(pa.schema([(f.name, pa.string() if f.name in ("started", "completed") else f.type)
                                  for f in table.schema])) for table in tables]


#: the rowid range and the row count, each in its own subquery: SQLite then looks min and max
#: up at the ends of the rowid b-tree and counts the entries of a b-tree; asked in one SELECT,
#: it reads the whole table or its smallest index (0.12-0.3 s for 1,000,000 rows, before any
#: reading starts; this way 7-20 ms)
BOUNDS_SQL = ("SELECT (SELECT min(rowid) FROM deployments), (SELECT max(rowid) FROM deployments), "
              "(SELECT count(*) FROM deployments)")


def _deployments(con, db: sqlite3.Connection, where: str, batch: Batch, skip_invalid: bool) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    low, high, count = db.execute(BOUNDS_SQL).fetchone()
    batch.seen["deployments"] = count
    if not count:
        return
    parallel = count >= PARALLEL_ROWS and (os.cpu_count() or 1) >= 2
    parts = _read_adbc(where, skip_invalid, low, high, parallel) if count >= ADBC_ROWS else None
    if parts is not None:
        pass
    elif parallel:
        middle = low + (high - low) // 2
        parts = _read_parallel(db, where, skip_invalid, (low, middle), (middle + 1, high))
    else:
        parts = [read_rows(db, where, skip_invalid, low, high)]
    for part in parts:
        if part["error"] is not None:
            raise _error(part["error"])
        batch.skipped.extend(_error(e) for e in part["skipped"])
    tables = [part["rows"] for part in parts if part["rows"] is not None]
    if not tables:
        return
    rows = _same_types(tables)[0] if len(tables) == 1 else pa.concat_tables(_same_types(tables))
    parsed: dict[str, list] = {}
    for part in parts:
        parsed.update(part["metadata"])
    texts = list(parsed)
    # each row points at its metadata text by number: DuckDB joins on an integer, not on the text
    keys = pc.index_in(pc.fill_null(rows.column("metadata_text"), ""), value_set=pa.array(texts, pa.string()))
    stage_arrow(con, "sqlite_deployments", rows.drop_columns(["metadata_text"]).append_column("metadata_key", keys))
    del rows
    carried = [i for i in range(1, len(_META_COLUMNS) + 1) if any(parsed[t][i] is not None for t in texts)]
    meta_names = ["key", "metadata"] + [_META_COLUMNS[i - 1] for i in carried]
    meta_arrays = [pa.array(range(len(texts)), pa.int32()), pa.array([parsed[t][0] for t in texts], pa.string())]
    meta_arrays += [pa.array([parsed[t][i] for t in texts], pa.string()) for i in carried]
    stage_arrow(con, "sqlite_metadata", pa.Table.from_arrays(meta_arrays, names=meta_names))
    extra = "".join(f", m.{name}" for name in meta_names[2:])
    # the raw rows and one row per distinct metadata text, joined by DuckDB (no per-row Python)
    con.execute("CREATE OR REPLACE TEMP VIEW _raw_deployments AS SELECT d.source_line, d.id, d.service, d.version, "
                "d.environment, d.deployment_type, d.started, d.completed, d.status, d.initiator, d.parent_id, "
                f"m.metadata{extra} FROM _raw_sqlite_deployments d "
                "JOIN _raw_sqlite_metadata m ON d.metadata_key = m.key")
    batch.deployments = True


def read_rows(db: sqlite3.Connection, where: str, skip_invalid: bool, low: int, high: int) -> dict:
    """Read deployments with LOW <= rowid <= HIGH into an Arrow table of raw columns.

    Returns {"rows": table or None, "metadata": {text: [json, carried columns...]},
    "skipped": [error fields], "error": error fields or None} (plain data, so a helper
    process can hand it back). Each distinct metadata text is parsed once.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    result: dict[str, Any] = {"rows": None, "metadata": {}, "skipped": [], "error": None}
    text_factory = db.text_factory
    db.text_factory = bytes                    # Arrow checks the UTF-8 (in C, not per value in Python)
    try:
        with gc_paused():
            cursor = db.execute(
                "SELECT rowid, id, service_name, version, environment, deployment_type, started, "
                "NULLIF(completed, 0), status, initiator, metadata, parent_id FROM deployments "
                "WHERE rowid BETWEEN ? AND ? ORDER BY rowid", [low, high])
            chunks = []
            while rows := cursor.fetchmany(FETCH_ROWS):
                chunks.append(_rows_table(where, rows))
                del rows
    except IngestError as error:            # text that is not UTF-8: travels as data, like other errors
        result["error"] = _fields_of(error)
        return result
    finally:
        db.text_factory = text_factory
    if not chunks:
        return result
    chunks = _same_types(chunks)
    table = chunks[0] if len(chunks) == 1 else pa.concat_tables(chunks)
    del chunks
    return with_metadata(table, where, skip_invalid, result)


def with_metadata(table: "pa.Table", where: str, skip_invalid: bool, result: dict) -> dict:
    """Parse each distinct metadata text of TABLE (rows named _ROW_NAMES) once into RESULT
    (see :func:`read_rows`); a text that is not an alist is an error (or, with SKIP_INVALID,
    its rows are dropped and reported)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with gc_paused():
        parsed = result["metadata"]
        bad: dict[Any, str] = {}
        for text in table.column("metadata_text").unique().to_pylist():
            try:
                metadata = metadata_from_sexp_text(text)
            except (ValueError, sexp.SexpError) as error:
                bad[text] = str(error)
                continue
            entry = [to_json_text(metadata)] + [None] * len(_META_COLUMNS)
            for name, value in metadata_columns(metadata).items():
                index = _META_INDEX.get(name)
                if index is not None:
                    entry[index] = _carried(value, name in _JSON_META)
            parsed["" if text is None else text] = entry
        if bad:
            is_bad = pc.is_in(table.column("metadata_text"), value_set=pa.array(list(bad), pa.string()))
            for row in table.filter(is_bad).select(["source_line", "id", "metadata_text"]).to_pylist():
                text = row["metadata_text"]
                error = _fields_of(IngestError(
                    where, f"deployment {row['id']!r}: metadata is not an S-expression alist ({bad[text]})",
                    line=row["source_line"], field="metadata",
                    expected="an association list such as ((region . \"eu\"))", found=str(text)[:80],
                    record_id=row["id"]))
                if not skip_invalid:
                    result["error"] = error
                    return result
                result["skipped"].append(error)
            table = table.filter(pc.invert(is_bad))
            if not table.num_rows:
                return result
        result["rows"] = table
    return result


#: rows fetched from SQLite and converted to Arrow at a time
FETCH_ROWS = 200_000

#: databases with at least this many deployments are read through the ADBC SQLite driver when
#: the optional package ``adbc-driver-sqlite`` is installed (it fills Arrow arrays in C: about
#: a quarter of the CPU time of sqlite3 rows); anything it refuses takes the sqlite3 path
ADBC_ROWS = 50_000
_ADBC_TEXT = ("id", "service_name", "version", "environment", "deployment_type", "status", "initiator",
              "metadata", "parent_id")
# The driver types each column from its first rows: a first row of empty texts (dropped after)
# makes every text column TEXT even when its values start with NULLs. Text columns are read
# as text (CAST keeps NULL); the times as SQLite holds them (numbers, else the driver refuses).
_ADBC_SQL = ("SELECT 0, " + ", ".join("''" for _ in _ADBC_TEXT[:5]) + ", NULL, NULL, "
             + ", ".join("''" for _ in _ADBC_TEXT[5:]) + " UNION ALL SELECT * FROM (SELECT rowid, "
             + ", ".join(f"CAST({c} AS TEXT)" for c in _ADBC_TEXT[:5]) + ", started, NULLIF(completed, 0), "
             + ", ".join(f"CAST({c} AS TEXT)" for c in _ADBC_TEXT[5:])
             + " FROM deployments WHERE rowid BETWEEN ? AND ? ORDER BY rowid)")


def _read_adbc(where: str, skip_invalid: bool, low: int, high: int, parallel: bool) -> list[dict] | None:
    """Read the deployments with LOW <= rowid <= HIGH through the ADBC SQLite driver (read-only
    URI; with PARALLEL two threads, one per rowid half: the driver reads without the GIL);
    return the parts as :func:`read_rows` does, or None when the driver is not installed or
    refuses the data (a column holding numbers and text, text that is not UTF-8, ...)."""
    try:
        import adbc_driver_sqlite.dbapi as adbc_sqlite
    except ImportError:
        return None
    import concurrent.futures

    import pyarrow as pa
    import pyarrow.compute as pc

    uri = f"file:{quote(str(Path(where).resolve()))}?mode=ro"

    def part(first: int, last: int) -> "pa.Table":
        with adbc_sqlite.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute(_ADBC_SQL, (first, last))
            return cursor.fetch_arrow_table().slice(1)

    ranges = [(low, high)]
    if parallel:
        middle = low + (high - low) // 2
        ranges = [(low, middle), (middle + 1, high)]
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="adbc") as pool:
            tables = list(pool.map(lambda bounds: part(*bounds), ranges))
        if any(t.schema != tables[0].schema for t in tables):
            return None
        table = pa.concat_tables(tables)
        table = table.rename_columns(_ROW_NAMES)
        columns = []
        for name in _ROW_NAMES:
            column = table.column(name)
            if name == "source_line":
                column = column.cast(pa.int64())
            elif name in ("started", "completed"):
                if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                        or pa.types.is_null(column.type)):
                    return None
                column = column.cast(pa.float64())
            elif not pa.types.is_string(column.type):
                return None
            columns.append(column)
        table = pa.Table.from_arrays(columns, names=_ROW_NAMES)
        table.validate(full=True)                           # UTF-8 of every text
        lines = table.column("source_line")
        if len(lines) > 1 and not pc.all(pc.less(lines.slice(0, len(lines) - 1), lines.slice(1))).as_py():
            table = table.sort_by("source_line")
    except Exception:                                       # noqa: BLE001 -- any refusal: the sqlite3 path
        return None
    return [with_metadata(table, where, skip_invalid, {"rows": None, "metadata": {}, "skipped": [], "error": None})]


def _rows_table(where: str, rows: list[tuple]) -> "pa.Table":
    """Return fetched deployment ROWS (text as UTF-8 bytes) as an Arrow table named _ROW_NAMES.

    Arrow converts the tuples itself when every value has its column's usual type; a column
    holding odd values (text in a time column, a number in a text column) goes the slow way.
    """
    import pyarrow as pa

    try:
        raw = pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array(rows, type=_row_struct(pa.binary())))])
        return raw.cast(pa.schema(list(_row_struct(pa.string()))))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    columns = list(zip(*rows))
    arrays = [pa.array(columns[0], pa.int64())]
    for index in range(1, 12):
        values = columns[index]
        if any(type(value) is bytes for value in values):
            try:
                values = [value.decode("utf-8") if type(value) is bytes else value for value in values]
            except UnicodeDecodeError:
                row = next(row for row in rows if type(row[index]) is bytes and not _is_utf8(row[index]))
                raise IngestError(where, f"deployments rowid {row[0]}: {_ROW_NAMES[index]} is not UTF-8 text",
                                  line=row[0], field=_ROW_NAMES[index], expected="UTF-8 text",
                                  found=row[index][:80]) from None
        if _ROW_NAMES[index] in ("started", "completed"):
            arrays.append(_number_array(values))
        else:
            arrays.append(_text_array(values))
    return pa.Table.from_arrays(arrays, names=_ROW_NAMES)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_parallel(db: sqlite3.Connection, where: str, skip_invalid: bool, head: tuple[int, int],
                   tail: tuple[int, int]) -> list[dict]:
    """Read the TAIL rowid range in a helper process (its own read-only connection) while this
    process reads the HEAD range. The helper is a plain ``python -c`` process; it hands back an
    Arrow IPC file and a JSON summary."""
    with tempfile.TemporaryDirectory(prefix="predictor-sqlite-") as out:
        helper = subprocess.Popen(
            [sys.executable, "-c", "import sys; from predictor.store.formats.ledger_sqlite import helper_main; "
                                   "helper_main(sys.argv[1:])",
             where, str(tail[0]), str(tail[1]), "1" if skip_invalid else "0", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            first = read_rows(db, where, skip_invalid, *head)
            _, errors = helper.communicate()
        except BaseException:
            helper.kill()
            helper.wait()
            raise
        if helper.returncode != 0:
            last = errors.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise IngestError(where, "the helper process reading the second half failed: "
                              + (last[0] if last else f"exit status {helper.returncode}"))
        second = json.loads((Path(out) / "result.json").read_text())
        arrow = Path(out) / "rows.arrow"
        if arrow.exists():
            import pyarrow as pa

            second["rows"] = pa.ipc.open_file(pa.memory_map(str(arrow))).read_all()
        else:
            second["rows"] = None
    return [first, second]


def helper_main(argv: list[str]) -> None:
    """Entry point of the helper process: read one rowid range of PATH, write results into OUT."""
    import pyarrow as pa

    where, low, high, skip_invalid, out = argv
    db = connect_read_only(Path(where))
    try:
        result = read_rows(db, where, skip_invalid == "1", int(low), int(high))
    finally:
        db.close()
    arrow = result.pop("rows")
    if arrow is not None:
        with pa.OSFile(str(Path(out) / "rows.arrow"), "wb") as sink:
            with pa.ipc.new_file(sink, arrow.schema) as writer:
                writer.write_table(arrow)
    (Path(out) / "result.json").write_text(json.dumps(result, default=str))


def _fields_of(error: IngestError) -> dict:
    return {"path": error.path, "message": error.detail, "line": error.line, "field": error.field,
            "expected": error.expected, "found": error.found, "record_id": error.record_id}


def _error(fields: dict) -> IngestError:
    return IngestError(fields["path"], fields["message"], line=fields["line"], field=fields["field"],
                       expected=fields["expected"], found=fields["found"], record_id=fields["record_id"])


def _text_array(values: tuple) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _number_array(values: tuple) -> pa.Array:
    """Epoch seconds as float64 (SQLite may hand back int, float, or text typed into the column)."""
    import pyarrow as pa

    try:
        return pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _carried(value: Any, as_json: bool) -> str | None:
    if value is None:
        return None
    if as_json:
        return to_json_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- rollbacks --------------------------------------------------------------------------------
def _rollbacks(con, db: sqlite3.Connection, where: str, batch: Batch, kind: str) -> None:
    available = _columns(db, "rollbacks")
    if not available:
        return
    wanted = {"id": "id", "service_name": "service", "from_version": "from_version", "to_version": "to_version",
              "reason": "reason", "initiated": "started", "timestamp": "started", "completed": "completed",
              "status": "status", "initiator": "initiator", "impact": "impact", "deployment_id": "deployment_id"}
    present = [c for c in wanted if c in available]
    # every column is read, as for service_metadata, and the wanted ones picked by name: no
    # column name goes into the SQL text
    rows = db.execute("SELECT rowid, * FROM rollbacks ORDER BY rowid").fetchall()
    batch.seen["rollbacks"] = len(rows)
    if not rows:
        return
    position = {name: index for index, name in enumerate(available, start=1)}
    records = []
    for row in rows:
        record = {wanted[c]: row[position[c]] for c in present}
        if record.get("completed") in (0, "0"):
            record["completed"] = None
        if isinstance(record.get("impact"), str) and not record["impact"].strip():
            record["impact"] = None
        records.append(record)
    stage_rows(con, "rollbacks", ROLLBACK_COLUMNS, records, [row[0] for row in rows])
    batch.rollbacks = True


# -- services ---------------------------------------------------------------------------------
def _services(db: sqlite3.Connection, where: str, batch: Batch, kind: str, skip_invalid: bool) -> None:
    available = _columns(db, "service_metadata")
    if available:
        rows = db.execute("SELECT rowid, * FROM service_metadata ORDER BY rowid").fetchall()
        names = ["rowid"] + available
        for row in rows:
            raw = dict(zip(names, row))
            try:
                batch.services.append((raw["rowid"], _service(raw, where)))
            except IngestError as error:
                if not skip_invalid:
                    raise
                batch.skipped.append(error)
    if _columns(db, "service_dependencies"):
        for rowid, service, depends_on, dependency_type in db.execute(
                "SELECT rowid, service_name, depends_on, dependency_type FROM service_dependencies ORDER BY rowid"):
            batch.dependencies.append((rowid, {"service": service, "depends_on": depends_on,
                                               "kind": dependency_type or "hard"}))
        # the table is authoritative for kinds; service_metadata.dependencies only names them
        listed = {(dep["service"], dep["depends_on"]) for _, dep in batch.dependencies}
        for _, service in batch.services:
            if service.get("dependencies"):
                service["dependencies"] = [d for d in service["dependencies"]
                                           if (service["name"], d["depends_on"]) not in listed]
    batch.seen["services"] = len(batch.services)


_SERVICE_RENAMES = {"service_name": "name", "repository_url": "repository", "health_check_url": "health_check"}


def _service(raw: dict, where: str) -> dict:
    line = raw.pop("rowid")
    service: dict[str, Any] = {}
    for column, value in raw.items():
        service[_SERVICE_RENAMES.get(column, column)] = value
    for column in ("dependencies", "tags", "owners"):
        text = service.get(column)
        if isinstance(text, str):
            try:
                service[column] = _sexp_list(text)
            except (ValueError, sexp.SexpError) as error:
                raise IngestError(where, f"service {service.get('name')!r}: {column} is not an S-expression list "
                                  f"({error})", line=line, field=column, expected="a list such as (\"db\" \"cache\")",
                                  found=text[:80], record_id=service.get("name")) from None
    if service.get("dependencies") is not None:
        service["dependencies"] = [_dependency(entry) for entry in service["dependencies"]]
    return service


def _sexp_list(text: str) -> list | None:
    """Parse the ledger's stored list text ("" means empty); strings and symbols become str."""
    if not text.strip():
        return []
    datum = sexp.read(text)
    if datum is False:
        return []
    if type(datum) is str:                      # a plain comma-separated string
        return [part.strip() for part in datum.split(",") if part.strip()]
    if not isinstance(datum, list):
        raise ValueError(f"expected a list, found {sexp.to_text(datum)}")
    return datum


def _dependency(entry: Any) -> dict:
    """A dependency: "name", (name . kind) or (name kind) -> {"depends_on", "kind"}."""
    if isinstance(entry, str):
        return {"depends_on": str(entry), "kind": "hard"}
    if type(entry) is sexp.Dotted and len(entry.head) == 1:
        return {"depends_on": str(entry.head[0]), "kind": str(entry.tail)}
    if isinstance(entry, list) and len(entry) == 2:
        return {"depends_on": str(entry[0]), "kind": str(entry[1])}
    return {"depends_on": sexp.to_text(entry), "kind": "hard"}
