"""Every protocol vector both ways, every reject refused, SPEC.md examples are vectors."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from predictor import protocol
from predictor.protocol import ProtocolError, decode, encode, parse_reply, parse_request
from predictor.protocol_vectors import (
    PROTOCOL_DIR, SPEC_PATH, from_tagged, load_cases, same_value, spec_examples, spec_protocol_version,
)

MSGPACK = load_cases("msgpack")
ENVELOPES = load_cases("envelopes")
VALUE_CASES = [case for case in MSGPACK if "value" in case]
REJECT_CASES = [case for case in MSGPACK if "reject" in case]


def _builder():
    spec = importlib.util.spec_from_file_location("build_vectors", PROTOCOL_DIR / "build_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", VALUE_CASES, ids=lambda c: c["name"])
def test_value_encodes_to_canonical_hex_and_back(case):
    value = from_tagged(case["value"])
    assert encode(value).hex() == case["hex"]
    assert same_value(decode(bytes.fromhex(case["hex"])), value)


@pytest.mark.parametrize("case", [c for c in VALUE_CASES if c["accept"]], ids=lambda c: c["name"])
def test_accepted_alternative_encodings_decode_to_the_same_value(case):
    value = from_tagged(case["value"])
    for alternative in case["accept"]:
        assert same_value(decode(bytes.fromhex(alternative)), value), alternative


@pytest.mark.parametrize("case", REJECT_CASES, ids=lambda c: c["name"])
def test_reject_cases_are_refused_as_malformed(case):
    with pytest.raises(ProtocolError) as caught:
        decode(bytes.fromhex(case["hex"]))
    assert caught.value.code == "malformed"
    assert caught.value.message.startswith("payload is")


def test_reject_messages_say_what_is_wrong():
    messages = {case["name"]: _message(case["hex"]) for case in REJECT_CASES}
    assert "0xc1" in messages["reserved byte 0xc1"]
    assert "trailing" in messages["trailing bytes"]
    assert "duplicate map key 'a'" in messages["duplicate map key"]
    assert "expected str" in messages["non-str map key (bin)"]
    assert "32 levels" in messages["nesting deeper than the limit (33 levels)"]
    assert "truncated" in messages["truncated str (length beyond input)"]
    assert "int64" in messages["uint64 above int64 range"]
    assert "UTF-8" in messages["invalid utf-8 in str"]


def _message(hex_text: str) -> str:
    try:
        decode(bytes.fromhex(hex_text))
    except ProtocolError as exc:
        return exc.message
    raise AssertionError(f"{hex_text} was accepted")


@pytest.mark.parametrize("case", ENVELOPES, ids=lambda c: c["name"])
def test_envelope_both_ways(case):
    value = from_tagged(case["value"])
    assert encode(value).hex() == case["hex"]
    decoded = decode(bytes.fromhex(case["hex"]))
    assert same_value(decoded, value)
    if case["direction"] == "request":
        checked = parse_request(decoded)
        assert checked.method == case["method"] and checked.id == value["id"]
    else:
        checked = parse_reply(decoded)
        assert checked.id == value["id"]
        assert checked.ok == value["ok"]
        if not checked.ok:
            assert checked.error["code"] in protocol.ERROR_CODES


def test_every_method_has_a_request_an_ok_reply_and_an_error_reply():
    for method in protocol.METHODS:
        mine = [c for c in ENVELOPES if c["method"] == method]
        kinds = {(c["direction"], from_tagged(c["value"]).get("ok")) for c in mine}
        assert ("request", None) in kinds, method
        assert ("reply", True) in kinds, method
        assert ("reply", False) in kinds, method


def test_every_spec_example_is_a_vector_with_the_same_value():
    by_name = {case["name"]: case for case in ENVELOPES}
    examples = spec_examples()
    assert len(examples) >= 2 * len(protocol.METHODS)
    for name, value in examples:
        assert name in by_name, f"SPEC.md example {name} is not in envelopes.json"
        assert same_value(from_tagged(by_name[name]["value"]), value), name


def test_every_method_has_a_spec_section():
    text = SPEC_PATH.read_text(encoding="utf-8")
    sections = set(re.findall(r"^### (\w+)$", text, re.M))
    assert set(protocol.METHODS) <= sections


def test_protocol_version_constant_matches_spec_and_vectors():
    assert spec_protocol_version() == protocol.PROTOCOL_VERSION == 1
    text = SPEC_PATH.read_text(encoding="utf-8")
    assert f"Protocol version: **{protocol.PROTOCOL_VERSION}**" in text
    for case in ENVELOPES:
        assert from_tagged(case["value"])["protocol"] == protocol.PROTOCOL_VERSION, case["name"]


def test_error_codes_listed_in_spec_are_the_constant():
    text = SPEC_PATH.read_text(encoding="utf-8")
    table = text.split("## 5. Errors", 1)[1].split("## 6.", 1)[0]
    assert tuple(re.findall(r"^\| `(\w+)` \|", table, re.M)) == protocol.ERROR_CODES


def test_vector_files_are_in_sync_with_the_builder():
    builder = _builder()
    for name, cases in (("msgpack", builder.msgpack_cases()), ("envelopes", builder.envelope_cases())):
        on_disk = json.loads((PROTOCOL_DIR / "vectors" / f"{name}.json").read_text(encoding="utf-8"))["cases"]
        assert json.loads(json.dumps(cases)) == on_disk, f"run protocol/build_vectors.py ({name}.json is stale)"


def test_spec_examples_without_a_vector_name_are_caught():
    with pytest.raises(ValueError, match="carry a vector name"):
        spec_examples('<!-- vector: a -->\n```json\n{"x": 1}\n```\n\n```json\n{"y": 2}\n```\n')
