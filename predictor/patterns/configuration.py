"""Configuration templates: configuration values normalised so similar runs share a pattern.

Nested keys are flattened with dots (``db.pool.size``). Booleans become ``true``/``false``;
text is trimmed and lower-cased, with ids (UUIDs, long hex digests) replaced by ``<id>``;
integers up to 10 stay exact (replicas = 3); larger or fractional numbers fall in 1-2-5 buckets
(``200-500`` holds 200 <= x < 500), so a 300 s and a 310 s timeout are the same template.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_ID = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,})$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_STEPS = (1.0, 2.0, 5.0)


def flatten(configuration: dict, prefix: str = "") -> dict[str, Any]:
    """Return CONFIGURATION with nested objects flattened into dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in configuration.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def bucket(number: float) -> str:
    """Return the 1-2-5 bucket label of NUMBER; small integers (|n| <= 10) are their own label."""
    if number == 0 or (float(number).is_integer() and abs(number) <= 10):
        return _plain(number)
    if number < 0:
        return "-(" + bucket(-number) + ")"
    exponent = math.floor(math.log10(number))
    scale = 10.0 ** exponent
    mantissa = number / scale
    lower = max(step for step in _STEPS if step <= mantissa + 1e-12)
    upper = {1.0: 2.0, 2.0: 5.0, 5.0: 10.0}[lower]
    return f"{_plain(lower * scale)}-{_plain(upper * scale)}"


def normalise_value(value: Any) -> str:
    """Return the template form of one configuration VALUE (see the module docstring)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return bucket(float(value))
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return text
        if _NUMBER.match(text):
            return bucket(float(text))
        if _ID.match(text):
            return "<id>"
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(sorted(normalise_value(item) for item in value)) + "]"
    if isinstance(value, dict):
        return "{}" if not value else json.dumps(value, sort_keys=True)
    return str(value)


def template(configuration: dict) -> tuple[tuple[str, str], ...]:
    """Return the configuration template: sorted (key, normalised value) pairs."""
    return tuple(sorted((key, normalise_value(value)) for key, value in flatten(configuration).items()))


def canonical(value: Any) -> str:
    """Return a canonical text of a raw configuration value, to compare values exactly."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)  # fast path: True, 1 and '1' stay distinct
    return json.dumps(value, sort_keys=True, default=str)


def describe(value: Any) -> str:
    """Return a configuration value as a reader sees it ('absent' for a missing key)."""
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)
