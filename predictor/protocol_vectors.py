"""Read the language-neutral test vectors of ``protocol/vectors/`` and the examples of SPEC.md.

A vector's value is *tagged* JSON (``{"int": 5}``, ``{"map": [[K, V], ...]}``, ...) so that
int vs float, str vs bin and map entry order survive JSON; see protocol/SPEC.md and
protocol/vectors/README.md. Used by the tests and by ``protocol/build_vectors.py``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocol"
VECTORS_DIR = PROTOCOL_DIR / "vectors"
SPEC_PATH = PROTOCOL_DIR / "SPEC.md"

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def from_tagged(tagged: dict) -> Any:
    """Return the Python value of a tagged vector value (maps become dicts in entry order)."""
    if not isinstance(tagged, dict) or len(tagged) != 1:
        raise ValueError(f"not a tagged value: {tagged!r}")
    (tag, body), = tagged.items()
    if tag == "nil":
        return None
    if tag == "bool":
        return bool(body)
    if tag == "int":
        return int(body)
    if tag == "float":
        return _SPECIAL_FLOATS[body] if isinstance(body, str) else float(body)
    if tag == "str":
        return str(body)
    if tag == "bin":
        return bytes.fromhex(body)
    if tag == "array":
        return [from_tagged(item) for item in body]
    if tag == "map":
        result = {}
        for key, value in body:
            result[from_tagged(key)] = from_tagged(value)
        return result
    raise ValueError(f"unknown tag {tag!r}")


def to_tagged(value: Any) -> dict:
    """Return the tagged form of a plain value (the inverse of :func:`from_tagged`)."""
    if value is None:
        return {"nil": None}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        if math.isnan(value):
            return {"float": "NaN"}
        if math.isinf(value):
            return {"float": "Infinity" if value > 0 else "-Infinity"}
        return {"float": value}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, (bytes, bytearray)):
        return {"bin": bytes(value).hex()}
    if isinstance(value, list):
        return {"array": [to_tagged(item) for item in value]}
    if isinstance(value, dict):
        return {"map": [[to_tagged(key), to_tagged(item)] for key, item in value.items()]}
    raise TypeError(f"no tagged form for {type(value).__name__}")


def same_value(left: Any, right: Any) -> bool:
    """Return True when two decoded values are equal in type, value and map entry order (NaN equals NaN)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return (math.isnan(left) and math.isnan(right)) or (left == right and math.copysign(1, left) == math.copysign(1, right))
    if isinstance(left, list):
        return len(left) == len(right) and all(same_value(a, b) for a, b in zip(left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same_value(left[k], right[k]) for k in left)
    return left == right


def load_cases(name: str) -> list[dict]:
    """Return the cases of ``protocol/vectors/NAME.json``."""
    return json.loads((VECTORS_DIR / f"{name}.json").read_text(encoding="utf-8"))["cases"]


_EXAMPLE = re.compile(r"<!-- vector: ([\w-]+) -->\s*```json\n(.*?)\n```", re.S)
_JSON_BLOCK = re.compile(r"```json\n", re.S)


def spec_examples(text: str | None = None) -> list[tuple[str, Any]]:
    """Return (vector name, plain value) for every example in SPEC.md, in document order.

    Raises ValueError when a ```json block is not preceded by its ``<!-- vector: NAME -->`` line.
    """
    text = SPEC_PATH.read_text(encoding="utf-8") if text is None else text
    examples = [(name, json.loads(body)) for name, body in _EXAMPLE.findall(text)]
    blocks = len(_JSON_BLOCK.findall(text))
    if blocks != len(examples):
        raise ValueError(f"SPEC.md has {blocks} json examples but only {len(examples)} carry a vector name")
    return examples


def spec_protocol_version(text: str | None = None) -> int:
    """Return the protocol version stated in SPEC.md's header line."""
    text = SPEC_PATH.read_text(encoding="utf-8") if text is None else text
    match = re.search(r"^# The predictor protocol, version (\d+)$", text, re.M)
    if not match:
        raise ValueError("SPEC.md: no '# The predictor protocol, version N' header")
    return int(match.group(1))
