"""Structured logs: one JSON object per line, to standard error or a file.

Usage: ``log = open_journal(level="info", path=None)`` then
``log.info("request", extra={"fields": {"method": "predict", "ms": 0.08}})``. Per-request lines
are written at level ``debug`` only; at ``info`` the daemon writes lifecycle events, every error
reply and a periodic summary, so the hot path does no log I/O.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

LEVELS = ("debug", "info", "warning", "error")


class JsonLineFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, event, then the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": round(record.created, 6), "level": record.levelname.lower(), "event": record.getMessage()}
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def open_journal(level: str = "info", path: str | Path | None = None) -> logging.Logger:
    """Return the daemon's logger writing JSON lines at LEVEL to PATH (default: standard error)."""
    if level not in LEVELS:
        raise ValueError(f"log level: expected one of {', '.join(LEVELS)}, found {level!r}")
    logger = logging.getLogger("predictor.daemon")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if path is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper()))
    logger.propagate = False
    return logger


def event(log: logging.Logger, level: int, name: str, **fields: object) -> None:
    """Log the event NAME with FIELDS at LEVEL (a ``logging`` constant)."""
    if log.isEnabledFor(level):
        log.log(level, name, extra={"fields": fields})

