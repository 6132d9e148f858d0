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

from pathlib import Path
from typing import Any, Iterator

from predictor import sexp
from predictor.errors import IngestError
from predictor.store.formats import Batch
from predictor.store.formats.common import (
    DEPLOYMENT_COLUMNS, ROLLBACK_COLUMNS, gc_paused, metadata_columns, metadata_from_datum, stage_rows,
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


def read(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Read the export at PATH; stage its deployments and rollbacks."""
    text = path.read_text(encoding="utf-8")
    where = str(path)
    batch = Batch(FORMAT)
    with gc_paused():
        try:
            data = list(sexp.iter_data(text))      # syntax errors first, before any entry check
        except sexp.SexpError as error:
            raise IngestError(where, f"malformed S-expression: {error.detail}", line=error.line,
                              expected="a complete, balanced S-expression") from None
        del text
        if not data or not _is_header(data[0][1]):
            line = data[0][0] if data else 1
            raise IngestError(where, "not a deploy-ledger sexp export", line=line, field="header",
                              expected="(deploy-ledger-export (version 1))",
                              found=sexp.to_text(data[0][1])[:80] if data else "end of file")
        _check_version(where, data[0])
        deployments: list[dict] = []
        deployment_lines: list[int] = []
        rollbacks: list[dict] = []
        rollback_lines: list[int] = []
        for index in range(1, len(data)):
            line, datum = data[index]
            try:
                head = datum[0] if type(datum) is list and datum else None
                if head == "deployment":
                    deployments.append(_deployment(where, line, datum))
                    deployment_lines.append(line)
                elif head == "rollback":
                    rollbacks.append(_rollback(where, line, datum))
                    rollback_lines.append(line)
                else:
                    raise IngestError(where, "unknown entry", line=line, field="entry",
                                      expected="(deployment ...) or (rollback ...)",
                                      found=sexp.to_text(head if head is not None else datum)[:80])
            except IngestError as error:
                if not skip_invalid:
                    raise
                batch.skipped.append(error)
        del data
        batch.seen = {"deployments": len(deployments), "rollbacks": len(rollbacks)}
        if deployments:
            stage_rows(con, "deployments", DEPLOYMENT_COLUMNS, deployments, deployment_lines)
            batch.deployments = True
        if rollbacks:
            stage_rows(con, "rollbacks", ROLLBACK_COLUMNS, rollbacks, rollback_lines)
            batch.rollbacks = True
    return batch


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
    for name, value in _fields(where, line, datum):
        column = DEPLOYMENT_FIELDS.get(name)
        if column == "metadata":
            metadata_datum = value
        elif column is not None:
            record[column] = None if value is False else value
        else:
            extra[name] = sexp.to_plain(value)
    try:
        metadata = metadata_from_datum(metadata_datum)
    except ValueError as error:
        raise IngestError(where, str(error), line=line, field="metadata", expected="an association list",
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
