"""ormsgpack (the wire's fast path) gives exactly msgpack's bytes and values.

``protocol.encode`` packs with ormsgpack and falls back to msgpack for what ormsgpack refuses;
``protocol.decode`` unpacks with ormsgpack once the compiled profile scan vouches for a payload.
Both must be byte-for-byte and value-for-value what msgpack alone gives (msgpack is the
reference the test vectors were checked against), for every kind of value a handler returns.
"""

from __future__ import annotations

import datetime as dt
import math

import msgpack
import numpy as np
import ormsgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor import protocol


def reference(value) -> bytes:
    return msgpack.packb(value, **protocol._packer_options)


scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=40), st.binary(max_size=40),
    st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, 5e-324, 2 ** 53 + 1.0]),
)
wire_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=6), st.dictionaries(st.text(max_size=12), children, max_size=6)),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(wire_values)
def test_encode_gives_msgpacks_bytes(value):
    assert protocol.encode(value) == reference(value)


@settings(max_examples=400, deadline=None)
@given(wire_values)
def test_the_fast_decode_gives_msgpacks_values(value):
    data = reference(value)
    fast = ormsgpack.unpackb(data)
    slow = msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    # compared as re-encoded bytes (NaN != NaN as a value; the bytes are equal)
    assert reference(fast) == reference(slow)


def test_values_only_the_default_hook_knows_encode_alike():
    moment = dt.datetime(2026, 11, 21, 15, 30, 5, 250000)
    value = {"when": moment, "aware": moment.replace(tzinfo=dt.timezone.utc), "f": np.float64(0.25),
             "i": np.int64(-7), "b": np.bool_(True), "s": {"b", "a"}, "t": (1, "x"), "f32": np.float32(0.5),
             "nested": [{"n": np.int32(3)}], "sub": type("Sym", (str,), {})("canary")}
    assert protocol.encode(value) == reference(value)
    assert protocol.decode(protocol.encode(value))["when"] == moment.replace(tzinfo=dt.timezone.utc).timestamp()


def test_what_ormsgpack_refuses_still_encodes_or_fails_as_msgpack_does():
    assert protocol.encode({1: "int key"}) == reference({1: "int key"})
    assert protocol.encode(bytearray(b"ab")) == reference(bytearray(b"ab"))
    for bad in (2 ** 64, object(), np.zeros(2)):
        try:
            reference(bad)
        except Exception as exc:  # the same kind of error msgpack raises
            expected = type(exc)
        try:
            protocol.encode(bad)
        except Exception as exc:
            assert type(exc) is expected, (bad, exc)
        else:
            raise AssertionError(f"{bad!r} encoded")
    assert math.isnan(protocol.decode(protocol.encode(float("nan"))))
