"""The compiled accept path of the deployment checks (predictor/_shapes.c) only ever skips work:
whatever it accepts, both Python checks accept; whatever it is unsure of, they decide."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.daemon.shapes import check_deployment
from predictor.errors import ValidationError
from predictor.models.answers import validate_deployment

try:
    from predictor._shapes import plain_deployment
except ImportError:  # pragma: no cover - setup.py builds it; its absence is a failed install
    plain_deployment = None


@pytest.fixture(autouse=True)
def compiled():
    assert plain_deployment is not None, "predictor/_shapes.c was not built (see setup.py)"


def python_accepts(value) -> bool:
    try:
        check_deployment(value, "params.deployment")
        validate_deployment(value, "params.deployment")
    except ValidationError:
        return False
    return True


GOOD = {"id": "d-1", "service": "api", "environment": "production", "version": "1.2.3",
        "deployment_type": "canary", "started": 1_780_000_000, "change_size": 12}

values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["", " ", "\u2003\t", "canary", "a-b-test", "success", "pending", "x y", "\u00e9"]),
    st.just(4_102_444_800), st.just(4_102_444_801), st.just(4_102_444_800.5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.lists(st.text(max_size=2), max_size=2),
    st.lists(st.one_of(st.text(max_size=2), st.integers(), st.none(), st.booleans()), max_size=3),
    st.binary(max_size=3),
)
keys = st.sampled_from(["id", "service", "version", "environment", "deployment_type", "started", "completed",
                        "status", "initiator", "metadata", "parent_id", "duration_seconds", "change_size",
                        "configuration", "commit_time", "name", "rollback_triggered", "automated", "log_excerpt",
                        "resources", "failure_reasons", "lessons_learned", "performance", "unknown_key"])


@settings(max_examples=3000, deadline=None)
@given(changes=st.dictionaries(keys, values, max_size=4), drop=st.sets(st.sampled_from(sorted(GOOD)), max_size=2))
def test_what_it_accepts_both_checks_accept(changes, drop):
    deployment = {k: v for k, v in GOOD.items() if k not in drop}
    deployment.update(changes)
    if plain_deployment(deployment):
        assert python_accepts(deployment), deployment


def test_it_accepts_the_usual_maps_and_hands_over_the_rest():
    assert plain_deployment(GOOD)
    assert plain_deployment({"service": "api", "environment": "staging"})
    assert plain_deployment({**GOOD, "completed": GOOD["started"] + 60.5, "status": "success", "metadata": {"a": 1},
                             "configuration": {}, "automated": True, "initiator": None, "something_new": [1],
                             "resources": ["cpu", "memory"], "failure_reasons": []})
    # each of these is refused by a Python check, so the compiled path must not accept it
    for change in ({"service": " \t"}, {"environment": ""}, {"service": None}, {"started": None},
                   {"started": -1}, {"started": 4_102_444_801}, {"started": math.nan}, {"started": True},
                   {"change_size": -1}, {"change_size": math.inf}, {"change_size": False},
                   {"deployment_type": "yolo"}, {"status": "done"}, {"version": 3}, {"metadata": []},
                   {"completed": GOOD["started"] - 1}, {"service": "x" * 100_001}, {"automated": 1},
                   {"resources": ["db", 1]}, {"resources": "db"}, {"failure_reasons": [None]}):
        deployment = {**GOOD, **change}
        assert not plain_deployment(deployment), change
        assert not python_accepts(deployment), change
    # accepted by Python but left to it here: lessons, performance maps, huge ints
    for change in ({"lessons_learned": ["db"]}, {"performance": {}}, {"change_size": 2 ** 64}):
        deployment = {**GOOD, **change}
        assert not plain_deployment(deployment), change
        assert python_accepts(deployment), change
    assert not plain_deployment({"environment": "production"})  # service missing
    assert not plain_deployment([("service", "api")])


def test_a_change_size_no_float_holds_is_a_validation_error():
    with pytest.raises(ValidationError, match="change_size"):
        validate_deployment({**GOOD, "change_size": 10 ** 400}, "params.deployment")
