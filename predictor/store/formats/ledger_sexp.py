"""The ledger's S-expression export (``export-deployments-sexp``).

Layout: a first datum ``(deploy-ledger-export (version 1))``, then pretty-printed entries::

    (deployment (id "dep-1") (service "api") (version "1.2.1") (environment production)
                (type canary) (started "2026-11-21T15:30:05Z") (completed "2026-11-21T15:40:39Z")
                (status success) (initiator "bob") (metadata ((region . "eu"))) (parent-id #f))
    (rollback (id "rb-1") (service "api") (from-version "1.2.1") (to-version "1.2.0")
              (reason "errors") (timestamp "...") (initiator "bob") (impact ...) (deployment-id "dep-1"))

``#f`` means "none". Fields not listed here are kept in the deployment's metadata.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from predictor import sexp
from predictor.errors import IngestError
from predictor.store.formats import Batch
from predictor.store.formats.common import (
    DEPLOYMENT_COLUMNS, ROLLBACK_COLUMNS, concat_arrow, gc_paused, metadata_columns, metadata_from_datum,
    rows_to_arrow, stage_arrow,
)

FORMAT = "ledger-sexp"
HEADER = "deploy-ledger-export"

#: entry field -> canonical column
DEPLOYMENT_FIELDS = {
    "id": "id", "service": "service", "service-name": "service", "version": "version",
    "environment": "environment", "type": "deployment_type", "deployment-type": "deployment_type",
    "started": "started", "completed": "completed", "status": "status", "initiator": "initiator",
    "metadata": "metadata", "parent-id": "parent_id",
}
ROLLBACK_FIELDS = {
    "id": "id", "service": "service", "service-name": "service", "from-version": "from_version",
    "to-version": "to_version", "reason": "reason", "timestamp": "started", "initiated": "started",
    "started": "started", "completed": "completed", "status": "status", "initiator": "initiator",
    "impact": "impact", "deployment-id": "deployment_id",
}


def looks_like(head: str) -> bool:
    """True when HEAD (the start of a file) opens with the export's header datum."""
    text = head.lstrip()
    while text.startswith(";"):
        text = text.split("\n", 1)[1].lstrip() if "\n" in text else ""
    return text.startswith("(" + HEADER)


#: exports bigger than this are read by two processes (one per half), when 2 CPUs exist
PARALLEL_BYTES = 16_000_000


def read(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Read the export at PATH; stage its deployments and rollbacks."""
    where = str(path)
    data = path.read_bytes()
    batch = Batch(FORMAT)
    middle = data.find(b"\n(", len(data) // 2) if len(data) >= PARALLEL_BYTES and (os.cpu_count() or 1) >= 2 else -1
    if middle < 0:
        results = [read_part(where, data.decode("utf-8"), 1, skip_invalid, first=True)]
    else:
        results = _read_parallel(where, data, middle + 1, skip_invalid)
    del data
    errors = [result["error"] for result in results if result["error"] is not None]
    if errors:                                   # a syntax error anywhere wins, as in one reader
        raise _error(next((e for e in errors if e["kind"] == "syntax"), errors[0]))
    for result in results:
        batch.skipped.extend(_error(e) for e in result["skipped"])
    for table in ("deployments", "rollbacks"):
        tables = [result[table] for result in results if result[table] is not None]
        batch.seen[table] = sum(t.num_rows for t in tables)
        if tables:
            stage_arrow(con, table, tables[0] if len(tables) == 1 else concat_arrow(tables))
            setattr(batch, table, True)
    return batch


def _read_parallel(where: str, data: bytes, offset: int, skip_invalid: bool) -> list[dict]:
    """Read the tail (from byte OFFSET, a line starting with '(') in a helper process while
    this process reads the head.

    The split is right only if the head ends at top level; the head's reader checks that (an
    unclosed list or string there is a syntax error), and then the whole text is re-read in
    one piece so errors carry their true lines. The helper is a plain ``python -c`` process
    (not multiprocessing, which would re-run the CLI's ``__main__``); it reads the file itself
    and hands back Arrow IPC files and a JSON summary.
    """
    tail_line = data.count(b"\n", 0, offset) + 1
    with tempfile.TemporaryDirectory(prefix="predictor-sexp-") as out:
        helper = subprocess.Popen(
            [sys.executable, "-c", "import sys; from predictor.store.formats.ledger_sexp import helper_main; "
                                   "helper_main(sys.argv[1:])",
             where, str(offset), str(tail_line), "1" if skip_invalid else "0", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            first = read_part(where, data[:offset].decode("utf-8"), 1, skip_invalid, first=True)
            if first["error"] is not None and first["error"]["kind"] == "syntax":
                helper.kill()
                helper.wait()
                return [read_part(where, data.decode("utf-8"), 1, skip_invalid, first=True)]
            _, errors = helper.communicate()
        except BaseException:
            helper.kill()
            helper.wait()
            raise
        if helper.returncode != 0:
            last = errors.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise IngestError(where, "the helper process reading the second half failed: "
                              + (last[0] if last else f"exit status {helper.returncode}"))
        return [first, _load_part(Path(out))]


def helper_main(argv: list[str]) -> None:
    """Entry point of the helper process: read PATH from OFFSET, write the results into OUT."""
    import pyarrow as pa

    where, offset, start_line, skip_invalid, out = argv
    with open(where, "rb") as handle:
        handle.seek(int(offset))
        text = handle.read().decode("utf-8")
    result = read_part(where, text, int(start_line), skip_invalid == "1", first=False)
    for table in ("deployments", "rollbacks"):
        arrow = result.pop(table)
        if arrow is not None:
            with pa.OSFile(str(Path(out) / f"{table}.arrow"), "wb") as sink:
                with pa.ipc.new_file(sink, arrow.schema) as writer:
                    writer.write_table(arrow)
    (Path(out) / "result.json").write_text(json.dumps(result, default=str))


def _load_part(out: Path) -> dict:
    import pyarrow as pa

    result = json.loads((out / "result.json").read_text())
    for table in ("deployments", "rollbacks"):
        file = out / f"{table}.arrow"
        result[table] = pa.ipc.open_file(pa.memory_map(str(file))).read_all() if file.exists() else None
    return result


#: rows converted to Arrow at a time (bounds the memory a big export needs)
CHUNK_ROWS = 50_000


def read_part(where: str, text: str, start_line: int, skip_invalid: bool, first: bool) -> dict:
    """Parse TEXT (the whole export, or a part starting at START_LINE) into Arrow tables.

    Entries are converted as they are read, CHUNK_ROWS at a time. A syntax error anywhere wins
    over a bad entry before it (the whole text is always read), so an unbalanced parenthesis is
    reported where it shows, not as the odd entries it creates.

    Returns {"deployments", "rollbacks": Arrow table or None, "skipped": [error fields],
    "error": error fields or None}; errors travel as dicts so a helper process can return them.
    """
    result: dict[str, Any] = {"deployments": None, "rollbacks": None, "skipped": [], "error": None}
    chunks: dict[str, list] = {"deployments": [], "rollbacks": []}
    pending: dict[str, tuple[list, list]] = {"deployments": ([], []), "rollbacks": ([], [])}
    columns = {"deployments": DEPLOYMENT_COLUMNS, "rollbacks": ROLLBACK_COLUMNS}
    first_error: dict | None = None

    def flush(table: str) -> None:
        rows, lines = pending[table]
        if rows:
            chunks[table].append(rows_to_arrow(columns[table], rows, lines))
            pending[table] = ([], [])

    with gc_paused():
        data = sexp.iter_data(text, start_line=start_line)
        try:
            if first:
                header = next(data, None)
                if header is None or not _is_header(header[1]):
                    raise IngestError(where, "not a deploy-ledger sexp export", line=header[0] if header else 1,
                                      field="header", expected="(deploy-ledger-export (version 1))",
                                      found=sexp.to_text(header[1])[:80] if header else "end of file")
                _check_version(where, header)
            for line, datum in data:
                if first_error is not None:
                    continue                    # only looking for syntax errors now
                try:
                    head = datum[0] if type(datum) is list and datum else None
                    if head == "deployment":
                        table, row = "deployments", _deployment(where, line, datum)
                    elif head == "rollback":
                        table, row = "rollbacks", _rollback(where, line, datum)
                    else:
                        raise IngestError(where, "unknown entry", line=line, field="entry",
                                          expected="(deployment ...) or (rollback ...)",
                                          found=sexp.to_text(head if head is not None else datum)[:80])
                except IngestError as error:
                    if not skip_invalid:
                        first_error = _fields_of(error)
                    else:
                        result["skipped"].append(_fields_of(error))
                    continue
                rows, lines = pending[table]
                rows.append(row)
                lines.append(line)
                if len(rows) >= CHUNK_ROWS:
                    flush(table)
        except sexp.SexpError as error:
            result["error"] = _fields_of(IngestError(where, f"malformed S-expression: {error.detail}",
                                                     line=error.line, expected="a complete, balanced S-expression"),
                                         "syntax")
            return result
        except IngestError as error:
            result["error"] = _fields_of(error)
            return result
        if first_error is not None:
            result["error"] = first_error
            return result
        for table in ("deployments", "rollbacks"):
            flush(table)
            if chunks[table]:
                result[table] = chunks[table][0] if len(chunks[table]) == 1 else concat_arrow(chunks[table])
    return result


def _fields_of(error: IngestError, kind: str = "record") -> dict:
    return {"kind": kind, "path": error.path, "message": error.detail, "line": error.line, "field": error.field,
            "expected": error.expected, "found": error.found, "record_id": error.record_id}


def _error(fields: dict) -> IngestError:
    return IngestError(fields["path"], fields["message"], line=fields["line"], field=fields["field"],
                       expected=fields["expected"], found=fields["found"], record_id=fields["record_id"])


def _is_header(datum: Any) -> bool:
    return isinstance(datum, list) and bool(datum) and datum[0] == HEADER


def _check_version(where: str, first: tuple[int, Any]) -> None:
    line, datum = first
    for item in datum[1:]:
        if isinstance(item, list) and len(item) == 2 and item[0] == "version" and item[1] != 1:
            raise IngestError(where, "unsupported export version", line=line, field="version",
                              expected="1", found=item[1])


def _fields(where: str, line: int, datum: list) -> Iterator[tuple[str, Any]]:
    """Yield (name, value) of each ``(name value)`` field of an entry; IngestError if malformed."""
    for item in datum[1:]:
        kind = type(item)
        if kind is list and len(item) == 2 and type(item[0]) is sexp.Symbol:
            yield item[0], item[1]
        elif kind is sexp.Dotted and len(item.head) == 1 and type(item.head[0]) is sexp.Symbol:
            yield item.head[0], item.tail
        else:
            raise IngestError(where, f"malformed {datum[0]} field", line=line, field="entry",
                              expected="(name value)", found=sexp.to_text(item)[:80])


def _deployment(where: str, line: int, datum: list) -> dict:
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    metadata_datum: Any = None
    fields = DEPLOYMENT_FIELDS
    for index in range(1, len(datum)):
        item = datum[index]
        if type(item) is list and len(item) == 2 and type(item[0]) is sexp.Symbol:
            name, value = item
        else:
            name, value = next(_fields(where, line, [datum[0], item]))
        column = fields.get(name)
        if column == "metadata":
            metadata_datum = value
        elif column is not None:
            record[column] = None if value is False else value
        else:
            extra[name] = sexp.to_plain(value)
    if metadata_datum is None or metadata_datum == [] or metadata_datum is False:
        metadata: dict = {}
    else:
        try:
            metadata = metadata_from_datum(metadata_datum)
        except ValueError as error:
            raise IngestError(where, f"bad metadata: {error}", line=line, field="metadata",
                              expected="an association list such as ((region . \"eu\"))",
                              found=sexp.to_text(metadata_datum)[:80]) from None
    if extra:
        metadata = {**metadata, **extra}
    record["metadata"] = metadata
    if metadata:
        for column, value in metadata_columns(metadata).items():
            if column not in record:
                record[column] = value
    return record


def _rollback(where: str, line: int, datum: list) -> dict:
    record: dict[str, Any] = {}
    for name, value in _fields(where, line, datum):
        column = ROLLBACK_FIELDS.get(name)
        if column is None:
            continue
        if value is False:
            value = None
        if column == "impact" and value is not None and not isinstance(value, str):
            value = sexp.to_text(value)
        record[column] = value
    return record


#: canonical column -> the entry field that holds it (deployment and rollback entries)
_FIELD_OF = {**{column: name for name, column in DEPLOYMENT_FIELDS.items() if name not in ("service-name",
                                                                                         "deployment-type")},
             "from_version": "from-version", "to_version": "to-version", "deployment_id": "deployment-id"}


def field_line(error: IngestError) -> IngestError:
    """Return ERROR pointing at the line of its field inside the entry, when that line is found.

    Validation knows the line where an entry starts; pretty-printed entries put each field on its
    own line, so the file is read again from there (only when reporting an error).
    """
    if error.line is None or error.field is None:
        return error
    if error.field in _FIELD_OF:
        field = _FIELD_OF[error.field]
        if field == "started" and error.detail.startswith("rollback"):
            field = "timestamp"
    elif error.field in DEPLOYMENT_COLUMNS:
        field = "metadata"                           # change_size & co. come from the metadata alist
    else:
        return error
    try:
        with open(error.path, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if number < error.line:
                    continue
                if number > error.line and text.startswith("("):
                    break                              # the next entry: not found in this one
                if f"({field} " in text or f"({field})" in text or text.rstrip().endswith(f"({field}"):
                    if number == error.line:
                        return error
                    return IngestError(error.path, error.detail, line=number, field=error.field,
                                       expected=error.expected, found=error.found, record_id=error.record_id)
                if number - error.line > 200:
                    break
    except OSError:
        pass
    return error
