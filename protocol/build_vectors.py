"""Write protocol/vectors/msgpack.json and envelopes.json.

The msgpack cases are listed below by hand: each value, the alternative encodings that must
decode to it, and the inputs that must be refused (with their hex written out). The envelope
cases are every example of SPEC.md plus an error reply per method. Canonical hex is computed by
``predictor.protocol.encode`` and checked here against the hand-written hex where one is given,
so a change of encoder shows up as a failed build, not as new vectors.

Run: ``.venv/bin/python protocol/build_vectors.py`` (tests/protocol checks the files are in sync).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.protocol import METHODS, encode, error_reply  # noqa: E402
from predictor.protocol_vectors import VECTORS_DIR, spec_examples, to_tagged  # noqa: E402


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


# (name, value, canonical hex or None to compute, [accepted alternative hex])
VALUES = [
    ("nil", None, "c0", []),
    ("false", False, "c2", []),
    ("true", True, "c3", []),
    ("int zero", 0, "00", ["cc00", "cd0000", "ce00000000", "cf0000000000000000", "d000", "d3" + "00" * 8]),
    ("int positive fixint max", 127, "7f", ["cc7f", "d07f"]),
    ("int uint8 min", 128, "cc80", ["cd0080", "d10080"]),
    ("int uint8 max", 255, "ccff", []),
    ("int uint16 min", 256, "cd0100", ["ce00000100"]),
    ("int uint16 max", 65535, "cdffff", []),
    ("int uint32 min", 65536, "ce00010000", []),
    ("int uint32 max", 4294967295, "ceffffffff", ["cf00000000ffffffff"]),
    ("int uint64 min", 4294967296, "cf0000000100000000", ["d30000000100000000"]),
    ("int int64 max", 2**63 - 1, "cf7fffffffffffffff", ["d37fffffffffffffff"]),
    ("int negative fixint -1", -1, "ff", ["d0ff", "d1ffff", "d2ffffffff", "d3ffffffffffffffff"]),
    ("int negative fixint min", -32, "e0", ["d0e0"]),
    ("int int8 max negative", -33, "d0df", []),
    ("int int8 min", -128, "d080", ["d1ff80"]),
    ("int int16", -129, "d1ff7f", []),
    ("int int16 min", -32768, "d18000", []),
    ("int int32", -32769, "d2ffff7fff", []),
    ("int int32 min", -(2**31), "d280000000", []),
    ("int int64", -(2**31) - 1, "d3ffffffff7fffffff", []),
    ("int int64 min", -(2**63), "d38000000000000000", []),
    ("epoch seconds", 1771934400, "ce699d92c0", []),
    ("float 1.5", 1.5, "cb3ff8000000000000", ["ca3fc00000"]),
    ("float zero", 0.0, "cb0000000000000000", ["ca00000000"]),
    ("float negative zero", -0.0, "cb8000000000000000", []),
    ("float whole number stays float", 2.0, "cb4000000000000000", []),
    ("float 0.1", 0.1, "cb3fb999999999999a", []),
    ("float large", 1e300, "cb7e37e43c8800759c", []),
    ("float NaN", float("nan"), "cb7ff8000000000000", []),
    ("float Infinity", float("inf"), "cb7ff0000000000000", ["ca7f800000"]),
    ("float -Infinity", float("-inf"), "cbfff0000000000000", []),
    ("str empty", "", "a0", ["d900", "da0000", "db00000000"]),
    ("str a", "a", "a161", ["d90161", "da000161"]),
    ("str fixstr max", "x" * 31, "bf" + "78" * 31, []),
    ("str str8 min", "x" * 32, "d920" + "78" * 32, []),
    ("str str8 max", "x" * 255, "d9ff" + "78" * 255, []),
    ("str str16 min", "x" * 256, "da0100" + "78" * 256, []),
    ("str utf-8 two-byte", "héllo", "a668c3a96c6c6f", []),
    ("str utf-8 three-byte", "日本", "a6e697a5e69cac", []),
    ("bin empty", b"", "c400", ["c50000"]),
    ("bin two bytes", b"\x00\xff", "c40200ff", ["c5000200ff", "c60000000200ff"]),
    ("array empty", [], "90", ["dc0000", "dd00000000"]),
    ("array mixed", [1, "a", None], "9301a161c0", ["dc000301a161c0"]),
    ("array fixarray max", list(range(15)), None, []),
    ("array array16 min", list(range(16)), None, []),
    ("map empty", {}, "80", ["de0000", "df00000000"]),
    ("map one entry", {"a": 1}, "81a16101", ["de0001a16101"]),
    ("map keeps entry order", {"b": 1, "a": 2}, "82a16201a16102", []),
    ("map fixmap max", {f"k{i:02d}": i for i in range(15)}, None, []),
    ("map map16 min", {f"k{i:02d}": i for i in range(16)}, None, []),
    ("map nested", {"a": {"b": [1, 2.5]}}, "81a16181a16292 01cb4004000000000000".replace(" ", ""), []),
    ("nesting at the limit (32 levels)", _nested(32), "91" * 31 + "90", []),
]

REJECTS = [
    ("empty input", "", "no value at all"),
    ("reserved byte 0xc1", "c1", "0xc1 is never used"),
    ("truncated array", "9201", "array of 2 holds 1 item"),
    ("truncated str (length beyond input)", "a56162", "str of 5 bytes holds 2"),
    ("truncated str8 length", "d9", "str8 without its length byte"),
    ("truncated uint16", "cd01", "uint16 with 1 byte"),
    ("truncated float64", "cb3ff0", "float64 with 2 bytes"),
    ("truncated map (value missing)", "81a161", "map entry without its value"),
    ("length beyond input (bin32)", "c6ffffffff00", "bin32 claims 4 GiB"),
    ("length beyond input (array32)", "ddffffffff", "array32 claims 4 billion items"),
    ("trailing bytes", "0102", "two values in one payload"),
    ("trailing nil", "80c0", "a map then a nil"),
    ("non-str map key (int)", "810102", "map keys must be str"),
    ("non-str map key (nil)", "81c001", "map keys must be str"),
    ("non-str map key (bin)", "81c4016101", "map keys must be str, not bin"),
    ("non-str map key (array)", "81900102", "map keys must be str"),
    ("duplicate map key", "82a16101a16102", "a key may appear once"),
    ("ext type", "d40500", "ext types are not in the profile"),
    ("timestamp ext", "d6ff00000001", "times are epoch numbers, not the timestamp ext"),
    ("uint64 above int64 range", "cf8000000000000000", "ints are int64"),
    ("invalid utf-8 in str", "a2fffe", "str must be UTF-8"),
    ("nesting deeper than the limit (33 levels)", "91" * 32 + "90", "at most 32 levels"),
]


def msgpack_cases() -> list[dict]:
    """Return the value and reject cases of msgpack.json."""
    cases = []
    for name, value, expected_hex, accept in VALUES:
        canonical = encode(value).hex()
        if expected_hex is not None and canonical != expected_hex:
            raise SystemExit(f"{name}: encoder gives {canonical}, hand-written vector says {expected_hex}")
        cases.append({"name": name, "value": to_tagged(value), "hex": canonical, "accept": accept})
    for name, hex_text, why in REJECTS:
        cases.append({"name": name, "hex": hex_text, "reject": why})
    return cases


def _method_of(name: str, value: dict) -> str:
    if "method" in value:
        return value["method"]
    stem = name.split("-")[0]  # method names use "_", vector names "-"
    return {"malformed": "predict", "unknown": "predikt"}.get(stem, stem)


ERRORS_PER_METHOD = {
    "ping": ("deadline_exceeded", "deadline_ms: the deadline of 0 ms had passed before the work could start", None),
    "predict": ("model_unavailable", "no trained failure model: run `predictor train`", None),
    "predict_batch": ("invalid_params", "params.deployments[1].service: expected str, found int", "params.deployments[1].service"),
    "suggest_time": ("invalid_params", "params.count: expected int between 1 and 50, found 0", "params.count"),
    "analyze_risk": ("invalid_params", "params.dependencies[0].kind: expected one of hard, soft, optional, found 'strong'",
                     "params.dependencies[0].kind"),
    "estimate": ("model_unavailable", "no duration estimates yet: run `predictor train`", None),
    "forecast": ("not_found", "service 'nope' has no history", "params.service"),
    "record": ("invalid_params", "params.deployments[0].duration_seconds: expected a number >= 0, found -5",
               "params.deployments[0].duration_seconds"),
    "feedback": ("invalid_params", "params.useful: expected bool or nil, found str", "params.useful"),
    "model_info": ("internal", "internal error while answering model_info (see the daemon log)", None),
    "reload": ("model_unavailable", "no trained failure model: run `predictor train`", None),
    "status": ("overloaded", "the daemon's queue is full; retry later", None),
    "recommendations": ("model_unavailable", "the pattern learner has no history yet: run `predictor ingest`", None),
    "adaptations": ("invalid_params", "params.target_environment: expected str, found nil", "params.target_environment"),
    "rollback_scenarios": ("invalid_params", "params.limit: expected int between 1 and 100, found 1000", "params.limit"),
    "analytics": ("invalid_params", "params.from: expected epoch seconds between 1970 and 2100, found NaN", "params.from"),
}

EXTRA_REQUESTS = [
    ("ping-request-with-deadline", {"protocol": 1, "id": "c2-0001", "method": "ping", "params": {}, "deadline_ms": 250}),
    ("ping-request-long-id", {"protocol": 1, "id": "x" * 128, "method": "ping", "params": {}}),
    ("predict-request-float-times", {"protocol": 1, "id": "c2-0002", "method": "predict",
                                     "params": {"deployment": {"service": "search", "environment": "staging",
                                                               "started": 1771934400.125}}}),
]

def envelope_cases() -> list[dict]:
    """Return every SPEC.md example plus an error reply for each method."""
    cases = []
    seen = set()
    for name, value in spec_examples():
        if name in seen:
            raise SystemExit(f"SPEC.md: vector name {name!r} used twice")
        seen.add(name)
        direction = "request" if "method" in value else "reply"
        cases.append({"name": name, "method": _method_of(name, value), "direction": direction,
                      "value": to_tagged(value), "hex": encode(value).hex()})
    for name, value in EXTRA_REQUESTS:
        cases.append({"name": name, "method": value["method"], "direction": "request",
                      "value": to_tagged(value), "hex": encode(value).hex()})
    for index, method in enumerate(METHODS):
        code, message, field = ERRORS_PER_METHOD[method]
        value = error_reply(f"e-{index:04d}", code, message, field)
        cases.append({"name": f"{method}-reply-error-{code}", "method": method, "direction": "reply",
                      "value": to_tagged(value), "hex": encode(value).hex()})
    return cases


def main() -> None:
    """Write both vector files."""
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    for name, cases in (("msgpack", msgpack_cases()), ("envelopes", envelope_cases())):
        path = VECTORS_DIR / f"{name}.json"
        lines = ",\n".join("  " + json.dumps(case, ensure_ascii=False) for case in cases)
        path.write_text('{"cases": [\n' + lines + "\n]}\n", encoding="utf-8")
        print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
