"""Validation of wire parameters of the pattern learner's methods (``params.<name>`` errors)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from predictor.errors import ValidationError
from predictor.patterns.executions import to_datetime


def _where(name: str) -> str:
    return f"params.{name}"


def optional_str(params: dict, name: str, default: str | None = None) -> str | None:
    """Return params[NAME] as a non-empty str, DEFAULT when absent or None."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(_where(name), f"expected a non-empty str, got {type(value).__name__} {value!r}")
    return value.strip()


def str_list(params: dict, name: str) -> list[str]:
    """Return params[NAME] as a list of str (a comma-separated str is accepted); [] when absent."""
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_where(name), f"expected a list of str, got {value!r}")
    return [item.strip() for item in value if item.strip()]


def number(params: dict, name: str, default: float | None, *, low: float | None = None,
           high: float | None = None, integer: bool = False) -> float | None:
    """Return params[NAME] as a number within [LOW, HIGH], DEFAULT when absent or None."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(_where(name), f"expected a number, got {type(value).__name__} {value!r}")
    if integer and not float(value).is_integer():
        raise ValidationError(_where(name), f"expected an integer, got {value!r}")
    if low is not None and value < low:
        raise ValidationError(_where(name), f"expected at least {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ValidationError(_where(name), f"expected at most {high:g}, got {value!r}")
    return int(value) if integer else float(value)


def time(params: dict, name: str) -> dt.datetime | None:
    """Return params[NAME] (epoch seconds or ISO-8601) as a naive UTC datetime, None when absent."""
    return to_datetime(params.get(name), _where(name))


def as_map(params: Any) -> dict:
    """Return PARAMS checked to be a map (None is {}); unknown keys are ignored (compatibility rule)."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValidationError("params", f"expected a map, got {type(params).__name__}")
    return params
