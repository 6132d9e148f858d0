"""The ledger's JSON export (``export-deployments-json``): an array of deployment objects.

Each object has ``id, service, version, environment, deployment_type, started, completed,
status, initiator, parent_id`` (``completed`` and ``parent_id`` may be null; times ISO-8601 Z).
Objects may also carry any other canonical deployment column (``metadata`` as an object, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

from predictor.errors import IngestError
from predictor.store.formats import Batch
from predictor.store.formats.common import DEPLOYMENT_COLUMNS, deployment_row, object_metadata, stage_rows

FORMAT = "ledger-json"
#: alternative key names the export or other tools use
ALIASES = {"service_name": "service", "type": "deployment_type", "parent-id": "parent_id"}


def read(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Read the JSON array at PATH and stage its deployments."""
    where = str(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise IngestError(where, f"malformed JSON: {error.msg}", line=error.lineno, expected="a JSON array",
                          found=f"column {error.colno}") from None
    if not isinstance(data, list):
        raise IngestError(where, "not a ledger JSON export", line=1, expected="a JSON array of deployment objects",
                          found=type(data).__name__)
    lines = _object_lines(text, len(data))
    batch = Batch(FORMAT)
    rows, row_lines = [], []
    for index, item in enumerate(data):
        line = lines[index]
        if not isinstance(item, dict):
            error = IngestError(where, f"element {index} is not an object", line=line, field="entry",
                                expected="a JSON object", found=type(item).__name__)
            if not skip_invalid:
                raise error
            batch.skipped.append(error)
            continue
        record = {ALIASES.get(key, key): value for key, value in item.items()}
        try:
            metadata = object_metadata(where, line, record, record.get("metadata"))
        except IngestError as error:
            if not skip_invalid:
                raise
            batch.skipped.append(error)
            continue
        unknown = sorted(set(record) - set(DEPLOYMENT_COLUMNS))
        if unknown:
            metadata = {**(metadata or {}), **{key: record[key] for key in unknown}}
        rows.append(deployment_row(record, metadata))
        row_lines.append(line)
    batch.seen = {"deployments": len(rows)}
    if rows:
        stage_rows(con, "deployments", DEPLOYMENT_COLUMNS, rows, row_lines)
        batch.deployments = True
    return batch


def _object_lines(text: str, count: int) -> list[int]:
    """Return the line where each top-level element of the array starts (a scan over the text).

    Strings are skipped properly, so brackets inside values do not confuse it.
    """
    lines: list[int] = []
    depth = 0
    line = 1
    in_string = escaped = False
    expect = False                      # at depth 1, the next non-blank starts an element
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in " \t\r\n":
            continue
        if depth == 1 and expect and char not in "],":
            lines.append(line)
            expect = False
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == 1:
                expect = True
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 1:
            expect = True
    if len(lines) < count:
        lines += [lines[-1] if lines else 1] * (count - len(lines))
    return lines
