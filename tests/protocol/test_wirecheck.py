"""The compiled profile scan only ever says yes to what the Python checks accept.

``predictor.protocol.decode`` skips its Python checks when ``_wirecheck.profile_ok`` vouches
for a payload, so a false yes would let a payload through that the protocol refuses. Every
vector, every reject, and many generated and mutated payloads go through both.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor import protocol
from predictor.protocol import MAX_DEPTH, ProtocolError
from predictor.protocol_vectors import load_cases

try:
    from predictor._wirecheck import profile_ok
except ImportError:  # scripts/setup builds it: its absence is a failed install
    profile_ok = None


def python_decode(data: bytes):
    """decode() with the compiled scan switched off: the reference."""
    saved, protocol._profile_ok = protocol._profile_ok, None
    try:
        return protocol.decode(data)
    finally:
        protocol._profile_ok = saved


def outcome(decoder, data: bytes):
    """What DECODER makes of DATA: the value (re-encoded, so NaN compares equal) or the error."""
    try:
        return "value", protocol.encode(decoder(data))
    except ProtocolError as exc:
        return "error", exc.code, exc.message


def agrees(data: bytes) -> bool:
    """Assert decode() gives the same value, or the same error, with and without the scan; a
    yes of the scan needs a value or a UTF-8 error (the one check it leaves to msgpack)."""
    verdict = profile_ok(data, MAX_DEPTH)
    reference = outcome(python_decode, data)
    assert outcome(protocol.decode, data) == reference, data.hex()
    if verdict and reference[0] == "error":
        assert "UTF-8" in reference[2], (data.hex(), reference)
    return verdict and reference[0] == "value"


def test_the_scan_is_built():
    assert profile_ok is not None, "predictor/_wirecheck.c was not built (see setup.py)"


def test_every_vector_agrees_and_valid_ones_take_the_fast_path():
    cases = load_cases("msgpack")
    fast = 0
    for case in cases:
        for text in [case.get("hex"), *(case.get("accept") or [])]:
            if text:
                fast += agrees(bytes.fromhex(text))
    assert fast >= len([c for c in cases if "value" in c])  # every canonical value is vouched for


def test_profile_rules_each_send_the_payload_to_python():
    pack = lambda value: msgpack.packb(value, use_bin_type=True)  # noqa: E731
    assert profile_ok(pack({"a": [1, 2.5, None, True, "x", b"y"]}), MAX_DEPTH)
    refused = [
        b"\x82\xa1a\x01\xa1a\x02",                        # duplicate key
        b"\x81\xc4\x01a\x01",                             # bin key
        b"\x81\x01\x01",                                  # int key
        b"\xcf\x80\x00\x00\x00\x00\x00\x00\x00",          # uint64 above int64
        b"\xc1",                                          # reserved byte
        b"\xd4\x01\x00",                                  # fixext
        b"\xc7\x01\x05\x00",                              # ext 8
        b"\x92\x01",                                      # truncated array
        b"\x01\x02",                                      # trailing bytes
        b"",                                              # nothing
        b"\x91" * (MAX_DEPTH + 1) + b"\xc0",              # nested too deep
    ]
    for data in refused:
        assert not profile_ok(data, MAX_DEPTH), data.hex()
        with pytest.raises(ProtocolError):
            python_decode(data)
    assert profile_ok(b"\x91" * MAX_DEPTH + b"\xc0", MAX_DEPTH)   # exactly as deep as allowed
    python_decode(b"\x91" * MAX_DEPTH + b"\xc0")
    bad_utf8 = b"\xa2\xff\xfe"                                     # the scan leaves UTF-8 to msgpack
    with pytest.raises(ProtocolError):
        protocol.decode(bad_utf8)


wire_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=4) | st.binary(max_size=2) | st.integers(0, 3), children, max_size=5),
    max_leaves=30)


@settings(max_examples=600, deadline=None)
@given(wire_values, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3), st.integers(0, 64))
def test_generated_and_mutated_payloads_agree(value, flips, cut):
    data = msgpack.packb(value, use_bin_type=True, strict_types=False)
    agrees(data)
    mutated = bytearray(data)
    for position, byte in flips:
        if mutated:
            mutated[position % len(mutated)] = byte
    agrees(bytes(mutated))
    agrees(bytes(data[: max(0, len(data) - cut)]))
    agrees(data + bytes(flips[0][1:]) if flips else data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_agree(data):
    agrees(data)
