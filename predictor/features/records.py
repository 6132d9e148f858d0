"""Reading the fields features need from one canonical deployment record (serving side).

Each helper mirrors an expression of the training query in :mod:`predictor.features.training`;
keep the two in step (tests compare them on generated histories).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from typing import Any

from predictor.errors import ValidationError

EPOCH = dt.datetime(1970, 1, 1)
VERSION_PATTERN = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def to_utc_naive(value: Any, field: str) -> dt.datetime:
    """Return VALUE (datetime, epoch seconds or ISO-8601 text) as a naive UTC datetime."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, bool):
        raise ValidationError(field, f"expected a time (epoch seconds or ISO-8601), got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValidationError(field, f"expected a finite epoch time, got {value!r}")
        return EPOCH + dt.timedelta(microseconds=round(value * 1_000_000))
    if isinstance(value, str):
        text = value.strip()
        try:
            return to_utc_naive(float(text), field)
        except (ValueError, ValidationError):
            pass
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(field, f"expected a time (epoch seconds or ISO-8601), got {value!r}") from exc
        return to_utc_naive(parsed, field)
    raise ValidationError(field, f"expected a time (epoch seconds or ISO-8601), got {type(value).__name__}")


def epoch_us(moment: dt.datetime) -> int:
    """Return naive UTC MOMENT as integer microseconds since the epoch (DuckDB's epoch_us)."""
    since = moment - EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def as_object(value: Any) -> dict:
    """Return a JSON object field (dict or JSON text) as a dict; anything else as {}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _number(value: Any) -> float | None:
    """Mirror of DuckDB ``TRY_CAST(json_extract_string(..) AS DOUBLE)`` for one JSON value."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def change_size(record: dict) -> float:
    """Change size from the column, else metadata change_size / lines_changed (or the ledger's
    kebab-case change-size / lines-changed); -1 when unknown."""
    if record.get("change_size") is not None:
        number = _number(record["change_size"])
        if number is not None:
            return number
    metadata = as_object(record.get("metadata"))
    for key in ("change_size", "change-size", "lines_changed", "lines-changed"):
        number = _number(metadata.get(key))
        if number is not None:
            return number
    return -1.0


def config_replicas(record: dict) -> float:
    """Replica count from the configuration, else metadata; -1 when unknown."""
    for source in (as_object(record.get("configuration")), as_object(record.get("metadata"))):
        number = _number(source.get("replicas"))
        if number is not None:
            return number
    return -1.0


def config_keys(record: dict) -> float:
    """Number of keys in the configuration object (0 when absent)."""
    return float(len(as_object(record.get("configuration"))))


def record_numbers(record: dict) -> tuple[float, float, float]:
    """(:func:`change_size`, :func:`config_replicas`, :func:`config_keys`) of RECORD, reading
    its metadata and configuration once (the serving path; same values as the three)."""
    configuration = record.get("configuration")
    metadata = record.get("metadata")
    if configuration is None and metadata is None:  # the usual request: no maps to look into
        change = record.get("change_size")
        if change is not None:
            number = _number(change)
            if number is not None:
                return number, -1.0, 0.0
        return -1.0, -1.0, 0.0
    configuration, metadata = as_object(configuration), as_object(metadata)
    change = _number(record["change_size"]) if record.get("change_size") is not None else None
    if change is None:
        change = -1.0
        for key in ("change_size", "change-size", "lines_changed", "lines-changed"):
            number = _number(metadata.get(key))
            if number is not None:
                change = number
                break
    replicas = _number(configuration.get("replicas"))
    if replicas is None:
        replicas = _number(metadata.get("replicas"))
    return change, -1.0 if replicas is None else replicas, float(len(configuration))


def parse_version(version: Any) -> tuple[int, int, int] | None:
    """Return (major, minor, patch) of a semantic-ish version string, or None."""
    if not isinstance(version, str):
        return None
    return _parse_version_text(version)


@functools.lru_cache(maxsize=8192)
def _parse_version_text(version: str) -> tuple[int, int, int] | None:
    """parse_version for text, remembered (a service's versions recur in every request)."""
    match = VERSION_PATTERN.match(version)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def version_bump(version: Any, previous: Any, has_previous: bool) -> str:
    """Classify the change from PREVIOUS to VERSION: first/same/patch/minor/major/downgrade/unknown."""
    if not has_previous:
        return "first"
    if version is None or previous is None:
        return "unknown"
    if version == previous:
        return "same"
    current, before = parse_version(version), parse_version(previous)
    if current is None or before is None:
        return "unknown"
    for now, then, name in zip(current, before, ("major", "minor", "patch")):
        if now > then:
            return name
        if now < then:
            return "downgrade"
    return "same"
