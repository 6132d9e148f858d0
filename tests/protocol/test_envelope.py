"""Envelope checks: each broken request gets the right code and field, never an exception of another kind."""

from __future__ import annotations

import math

import pytest

from predictor.protocol import (
    MAX_MESSAGE_BYTES, ProtocolError, decode, decode_request, encode, error_reply, ok_reply, parse_reply,
    parse_request, request,
)

GOOD = {"protocol": 1, "id": "r1", "method": "ping", "params": {}}


def _with(**changes):
    value = dict(GOOD)
    for key, item in changes.items():
        if item is _DROP:
            value.pop(key)
        else:
            value[key] = item
    return value


_DROP = object()

BROKEN = [
    # (name, value, code, field, reply id)
    ("not a map", [1, 2], "malformed", None, None),
    ("a bare int", 5, "malformed", None, None),
    ("id missing", _with(id=_DROP), "invalid_envelope", "id", None),
    ("id an int", _with(id=7), "invalid_envelope", "id", None),
    ("id empty", _with(id=""), "invalid_envelope", "id", None),
    ("id too long", _with(id="x" * 129), "invalid_envelope", "id", None),
    ("protocol missing", _with(protocol=_DROP), "invalid_envelope", "protocol", "r1"),
    ("protocol a str", _with(protocol="1"), "invalid_envelope", "protocol", "r1"),
    ("protocol a bool", _with(protocol=True), "invalid_envelope", "protocol", "r1"),
    ("protocol 2", _with(protocol=2), "unsupported_protocol", "protocol", "r1"),
    ("method missing", _with(method=_DROP), "invalid_envelope", "method", "r1"),
    ("method nil", _with(method=None), "invalid_envelope", "method", "r1"),
    ("method unknown", _with(method="predikt"), "unknown_method", "method", "r1"),
    ("params missing", _with(params=_DROP), "invalid_envelope", "params", "r1"),
    ("params an array", _with(params=[]), "invalid_envelope", "params", "r1"),
    ("deadline negative", _with(deadline_ms=-1), "invalid_envelope", "deadline_ms", "r1"),
    ("deadline a float", _with(deadline_ms=1.5), "invalid_envelope", "deadline_ms", "r1"),
    ("deadline huge", _with(deadline_ms=10**12), "invalid_envelope", "deadline_ms", "r1"),
]


@pytest.mark.parametrize("name,value,code,field,reply_id", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_envelopes_are_refused_with_code_and_field(name, value, code, field, reply_id):
    with pytest.raises(ProtocolError) as caught:
        decode_request(encode(value))
    assert (caught.value.code, caught.value.field, caught.value.request_id) == (code, field, reply_id)
    if field:
        assert caught.value.message.startswith(field + ":")


def test_extra_envelope_keys_are_ignored_and_deadline_nil_means_none():
    checked = parse_request(_with(extra={"x": 1}, deadline_ms=None))
    assert checked == ("r1", "ping", {}, None)


def test_request_builder_round_trips():
    message = request("predict", {"deployment": {"service": "a"}}, id="q", deadline_ms=100)
    assert list(message) == ["protocol", "id", "method", "params", "deadline_ms"]
    assert decode_request(encode(message)) == ("q", "predict", {"deployment": {"service": "a"}}, 100)


def test_replies_round_trip_and_bad_replies_are_refused():
    assert parse_reply(decode(encode(ok_reply("a", {"pong": True})))) == ("a", True, {"pong": True}, None)
    error = parse_reply(decode(encode(error_reply(None, "malformed", "bad", None))))
    assert error.ok is False and error.error["code"] == "malformed" and error.id is None
    for broken, field in [({"protocol": 1, "id": "a", "ok": "yes"}, "ok"),
                          ({"protocol": 1, "id": "a", "ok": True}, "result"),
                          ({"protocol": 1, "id": "a", "ok": False, "error": {"code": 1, "message": "m"}}, "error.code"),
                          ({"protocol": 1, "id": 3, "ok": True, "result": {}}, "id")]:
        with pytest.raises(ProtocolError) as caught:
            parse_reply(broken)
        assert caught.value.field == field


def test_oversized_payload_is_refused_before_decoding():
    with pytest.raises(ProtocolError, match="above the limit"):
        decode(b"\xc0" * (MAX_MESSAGE_BYTES + 1))


def test_encoder_turns_numpy_scalars_and_datetimes_into_wire_values():
    import datetime as dt

    import numpy as np
    value = decode(encode({"n": np.int64(3), "f": np.float32(0.5), "t": dt.datetime(1970, 1, 2)}))
    assert value == {"n": 3, "f": 0.5, "t": 86400.0}
    assert type(value["n"]) is int and type(value["t"]) is float
    with pytest.raises(TypeError, match="cannot encode a object"):
        encode({"x": object()})
    assert math.isnan(decode(encode(float("nan"))))
