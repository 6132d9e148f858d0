"""validate_deployment: the one check every path (daemon, CLI, batch scorer) applies to a
deployment before features are computed; each bad field gets its own precise error."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from predictor.errors import ValidationError
from predictor.models.answers import validate_deployment

GOOD = {"service": "api", "environment": "production", "started": 1_760_000_000}


@pytest.mark.parametrize("field, value, expected", [
    ("change_size", math.nan, "non-negative"),
    ("change_size", math.inf, "non-negative"),
    ("change_size", -1, "non-negative"),
    ("change_size", True, "non-negative"),
    ("change_size", "12", "non-negative"),
    ("service", "  ", "non-empty string"),
    ("environment", 3, "non-empty string"),
    ("version", 1.2, "string or nil"),
    ("metadata", [1], "map or nil"),
    ("started", 1e12, "between 1970 and 2100"),
    ("started", -5, "between 1970 and 2100"),
    ("started", math.nan, "between 1970 and 2100"),
])
def test_each_bad_field_is_named(field, value, expected):
    with pytest.raises(ValidationError) as caught:
        validate_deployment({**GOOD, field: value}, "params.deployment")
    assert caught.value.field == f"params.deployment.{field}"
    assert expected in str(caught.value)


def test_a_good_deployment_gets_a_naive_utc_start():
    record = validate_deployment({**GOOD, "change_size": 0, "version": None}, "d")
    assert record["started"] == dt.datetime(2025, 10, 9, 8, 53, 20)
    assert record["change_size"] == 0 and record["service"] == "api"
