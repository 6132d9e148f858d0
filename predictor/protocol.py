"""The predictor wire protocol: msgpack profile and envelope, pure functions, no sockets.

``protocol/SPEC.md`` is the authority; this module implements its sections 3 to 5. Logical
messages are plain dicts built by :func:`request`, :func:`ok_reply` and :func:`error_reply`;
only :func:`encode` and :func:`decode` touch bytes. :func:`parse_request` and
:func:`parse_reply` check an envelope and raise :class:`ProtocolError` naming the code and the
field, so the daemon can answer a typed error instead of dying.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, NamedTuple

import msgpack
import ormsgpack

#: protocol version spoken by this implementation (SPEC.md, first lines); independent of the package version
PROTOCOL_VERSION = 1
#: largest payload frame accepted (ZMQ_MAXMSGSIZE on the daemon's socket)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: deepest container nesting accepted; the top-level map is level 1
MAX_DEPTH = 32
MAX_ID_CHARS = 128
MAX_DEADLINE_MS = 86_400_000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

METHODS = (
    "ping", "predict", "predict_batch", "suggest_time", "analyze_risk", "estimate", "forecast",
    "record", "feedback", "model_info", "reload", "status", "recommendations", "adaptations",
    "rollback_scenarios", "analytics",
)
ERROR_CODES = (
    "malformed", "invalid_envelope", "unsupported_protocol", "unknown_method", "invalid_params",
    "not_found", "model_unavailable", "deadline_exceeded", "overloaded", "internal",
)
#: methods a client may retry on a fresh socket after a timeout without asking the caller
IDEMPOTENT_METHODS = frozenset(METHODS) - {"record", "feedback", "reload"}


class ProtocolError(Exception):
    """A payload or envelope breaks the protocol; carries the reply's code, field and request id."""

    def __init__(self, code: str, message: str, field: str | None = None, request_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id
        super().__init__(message)


class Request(NamedTuple):
    """A checked request envelope."""

    id: str
    method: str
    params: dict
    deadline_ms: int | None


class Reply(NamedTuple):
    """A checked reply envelope; ``error`` is the error map when ``ok`` is false."""

    id: str | None
    ok: bool
    result: dict | None
    error: dict | None


# -- bytes ------------------------------------------------------------------------------------

def _wire_default(value: Any) -> Any:
    """Turn the few non-msgpack values handlers may return into wire values."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None and getattr(value, "shape", None) == ():
        return item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode a {type(value).__name__} on the wire")


_packer_options = dict(use_bin_type=True, use_single_float=False, autoreset=True, default=_wire_default)


#: ormsgpack hands what msgpack has no type for to _wire_default too (its own datetime, dataclass,
#: UUID and big-int encodings are turned off), so both libraries give the same bytes (tested)
_ORMSGPACK_OPTIONS = (ormsgpack.OPT_PASSTHROUGH_DATETIME | ormsgpack.OPT_PASSTHROUGH_DATACLASS
                      | ormsgpack.OPT_PASSTHROUGH_UUID | ormsgpack.OPT_PASSTHROUGH_BIG_INT)


def encode(value: Any) -> bytes:
    """Return the canonical msgpack encoding of VALUE (maps in insertion order, float64, str not bin).

    ormsgpack packs (3x faster than msgpack on a ``predict`` reply, same bytes); what it refuses
    (a map key that is not str, say) goes to msgpack, whose error the caller sees."""
    try:
        return ormsgpack.packb(value, default=_wire_default, option=_ORMSGPACK_OPTIONS)
    except (ormsgpack.MsgpackEncodeError, TypeError, ValueError):
        return msgpack.packb(value, **_packer_options)


def _unique_pairs(pairs: list) -> dict:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ProtocolError("malformed", f"payload is not valid msgpack: duplicate map key {key!r}")
            seen.add(key)
    return mapping


def _check_profile(value: Any, depth: int) -> None:
    """Refuse what msgpack accepts but the profile does not: non-str keys, ext, big uints, deep nesting."""
    kind = type(value)
    if kind is dict:
        if depth > MAX_DEPTH:
            raise ProtocolError("malformed", f"payload is not valid msgpack: containers nested deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            if type(key) is not str:
                raise ProtocolError("malformed", f"payload is not valid msgpack: map key {key!r} is a {type(key).__name__}, expected str")
            if type(item) in (dict, list) or type(item) not in _SCALARS:
                _check_profile(item, depth + 1)
    elif kind is list:
        if depth > MAX_DEPTH:
            raise ProtocolError("malformed", f"payload is not valid msgpack: containers nested deeper than {MAX_DEPTH} levels")
        for item in value:
            if type(item) in (dict, list) or type(item) not in _SCALARS:
                _check_profile(item, depth + 1)
    elif kind is int:
        if value > INT64_MAX:
            raise ProtocolError("malformed", f"payload is not valid msgpack: integer {value} is above the int64 range")
    elif kind not in _SCALARS:
        raise ProtocolError("malformed", f"payload is not valid msgpack: {kind.__name__} values (ext types) are not allowed")


_SCALARS = frozenset({str, float, bool, type(None), bytes})  # int is checked for range

try:  # the compiled profile scan (setup.py builds it); without it every payload takes the Python checks
    from predictor._wirecheck import profile_ok as _profile_ok
except ImportError:
    _profile_ok = None


def decode(data: bytes) -> Any:
    """Decode one msgpack value from DATA under the profile of SPEC.md section 3.

    Raises :class:`ProtocolError` with code ``malformed`` and a message saying what is wrong.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError("malformed", f"payload is {len(data)} bytes, above the limit of {MAX_MESSAGE_BYTES}")
    if _profile_ok is not None and _profile_ok(data, MAX_DEPTH):
        # the compiled scan vouches for the profile: decode without the per-map hook and walk
        try:
            return ormsgpack.unpackb(data)  # 2x faster than msgpack; same values (tested)
        except Exception:  # e.g. a str that is not UTF-8: the full path below words the error
            pass
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True, object_pairs_hook=_unique_pairs,
                                use_list=True)
    except ProtocolError:
        raise
    except msgpack.ExtraData as exc:
        raise ProtocolError("malformed", f"payload is not valid msgpack: {len(exc.extra)} trailing bytes after the value") from None
    except msgpack.FormatError:
        raise ProtocolError("malformed", "payload is not valid msgpack: reserved type byte 0xc1") from None
    except msgpack.StackError:
        raise ProtocolError("malformed", f"payload is not valid msgpack: containers nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise ProtocolError("malformed", f"payload is not valid msgpack: a str is not valid UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        text = str(exc)
        if "incomplete" in text or "Unpack failed" in text:
            text = "input ends before the value does (truncated, or a length runs past the end)"
        raise ProtocolError("malformed", f"payload is not valid msgpack: {text}") from None
    except Exception as exc:  # msgpack raises a few plain types on odd input
        raise ProtocolError("malformed", f"payload is not valid msgpack: {exc}") from None
    if type(value) is int or type(value) not in _SCALARS:
        _check_profile(value, 1)
    return value


# -- logical messages ---------------------------------------------------------------------------

def request(method: str, params: dict | None = None, *, id: str, deadline_ms: int | None = None) -> dict:
    """Return a request envelope (keys in canonical order)."""
    message = {"protocol": PROTOCOL_VERSION, "id": id, "method": method, "params": params if params is not None else {}}
    if deadline_ms is not None:
        message["deadline_ms"] = deadline_ms
    return message


def ok_reply(request_id: str | None, result: dict) -> dict:
    """Return a successful reply envelope carrying RESULT."""
    return {"protocol": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}


def error_reply(request_id: str | None, code: str, message: str, field: str | None = None) -> dict:
    """Return an error reply envelope."""
    return {"protocol": PROTOCOL_VERSION, "id": request_id, "ok": False,
            "error": {"code": code, "message": message, "field": field}}


def _type_name(value: Any) -> str:
    return {type(None): "nil", bool: "bool", int: "int", float: "float", str: "str", bytes: "bin",
            list: "array", dict: "map"}.get(type(value), type(value).__name__)


def parse_request(value: Any) -> Request:
    """Check a decoded request envelope (SPEC.md section 4) and return it as a :class:`Request`."""
    if type(value) is not dict:
        raise ProtocolError("malformed", f"payload is a msgpack {_type_name(value)}, expected a map (the request envelope)")
    request_id = value.get("id")
    if type(request_id) is not str or not 1 <= len(request_id) <= MAX_ID_CHARS:
        if "id" not in value:
            raise ProtocolError("invalid_envelope", "id: missing (a str of 1 to 128 chars)", "id")
        if type(request_id) is str:
            raise ProtocolError("invalid_envelope", f"id: expected 1 to 128 chars, found {len(request_id)}", "id")
        raise ProtocolError("invalid_envelope", f"id: expected str, found {_type_name(request_id)}", "id")
    version = value.get("protocol")
    if type(version) is not int:
        if version is None and "protocol" not in value:
            raise ProtocolError("invalid_envelope", "protocol: missing (expected 1)", "protocol", request_id)
        raise ProtocolError("invalid_envelope", f"protocol: expected int, found {_type_name(version)}", "protocol", request_id)
    if version != PROTOCOL_VERSION:
        raise ProtocolError("unsupported_protocol", f"protocol: version {version} is not supported (this daemon speaks {PROTOCOL_VERSION})",
                            "protocol", request_id)
    method = value.get("method")
    if type(method) is not str:
        if "method" not in value:
            raise ProtocolError("invalid_envelope", "method: missing", "method", request_id)
        raise ProtocolError("invalid_envelope", f"method: expected str, found {_type_name(method)}", "method", request_id)
    params = value.get("params")
    if type(params) is not dict:
        if "params" not in value:
            raise ProtocolError("invalid_envelope", "params: missing (send an empty map when there are none)", "params", request_id)
        raise ProtocolError("invalid_envelope", f"params: expected map, found {_type_name(params)}", "params", request_id)
    deadline_ms = value.get("deadline_ms")
    if deadline_ms is not None and (type(deadline_ms) is not int or not 0 <= deadline_ms <= MAX_DEADLINE_MS):
        found = deadline_ms if type(deadline_ms) is int else _type_name(deadline_ms)
        raise ProtocolError("invalid_envelope", f"deadline_ms: expected int between 0 and {MAX_DEADLINE_MS}, found {found}",
                            "deadline_ms", request_id)
    if method not in METHODS:
        raise ProtocolError("unknown_method", f"method: unknown method {method!r}", "method", request_id)
    return Request(request_id, method, params, deadline_ms)


def parse_reply(value: Any) -> Reply:
    """Check a decoded reply envelope (SPEC.md section 4) and return it as a :class:`Reply`."""
    if type(value) is not dict:
        raise ProtocolError("malformed", f"reply is a msgpack {_type_name(value)}, expected a map")
    if value.get("protocol") != PROTOCOL_VERSION or type(value.get("protocol")) is not int:
        raise ProtocolError("unsupported_protocol", f"protocol: reply speaks {value.get('protocol')!r}, expected {PROTOCOL_VERSION}", "protocol")
    request_id = value.get("id")
    if request_id is not None and type(request_id) is not str:
        raise ProtocolError("invalid_envelope", f"id: expected str or nil, found {_type_name(request_id)}", "id")
    ok = value.get("ok")
    if type(ok) is not bool:
        raise ProtocolError("invalid_envelope", f"ok: expected bool, found {_type_name(ok)}", "ok", request_id)
    if ok:
        result = value.get("result")
        if type(result) is not dict:
            raise ProtocolError("invalid_envelope", f"result: expected map, found {_type_name(result)}", "result", request_id)
        return Reply(request_id, True, result, None)
    error = value.get("error")
    if type(error) is not dict:
        raise ProtocolError("invalid_envelope", f"error: expected map, found {_type_name(error)}", "error", request_id)
    for key in ("code", "message"):
        if type(error.get(key)) is not str:
            raise ProtocolError("invalid_envelope", f"error.{key}: expected str, found {_type_name(error.get(key))}",
                                f"error.{key}", request_id)
    if error.get("field") is not None and type(error["field"]) is not str:
        raise ProtocolError("invalid_envelope", f"error.field: expected str or nil, found {_type_name(error['field'])}",
                            "error.field", request_id)
    return Reply(request_id, False, None, error)


def decode_request(data: bytes) -> Request:
    """Decode and check one request payload; raises :class:`ProtocolError`."""
    return parse_request(decode(data))


def decode_reply(data: bytes) -> Reply:
    """Decode and check one reply payload; raises :class:`ProtocolError`."""
    return parse_reply(decode(data))


def is_finite_number(value: Any) -> bool:
    """Return True when VALUE is an int or a finite float (bools excluded)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))
