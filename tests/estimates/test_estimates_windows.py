"""Suggested windows: lower true risk than the median slot, and every constraint respected."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from predictor.errors import ValidationError
from predictor.estimates.activity import ServiceActivity
from predictor.estimates.graph import DependencyGraph
from predictor.estimates.history import from_epoch, load_history, to_epoch
from predictor.estimates.windows import RiskSurface, local_clock, parse_window_request, suggest_windows

from histories import true_risk

NOW = to_epoch(dt.datetime(2026, 3, 30, 22, 0))   # a Monday evening, just after the history ends
WEEK = 7 * 86400


@pytest.fixture(scope="module")
def surface(estimates_home):
    from predictor.store import open_store

    with open_store(estimates_home / "history.duckdb") as store:
        history = load_history(store)
        graph = DependencyGraph.from_store(store)
    activity = ServiceActivity.from_history(history)
    return RiskSurface().fit(history, graph, activity), activity


def _suggest(surface, **params):
    scorer, activity = surface
    base = {"environment": "production", "deployment_type": "rolling", "now": NOW, "from": NOW, "to": NOW + WEEK,
            "top_n": 3, "window_minutes": 30}
    base.update(params)
    return suggest_windows(scorer, activity, parse_window_request(base, default_now=NOW))


@pytest.mark.parametrize("service", ["svc-001", "svc-003", "svc-006", "svc-010"])
def test_suggested_windows_have_lower_true_risk_than_the_median_slot(surface, service):
    index = int(service[-3:])
    answer = _suggest(surface, service=service)
    slots = NOW + 900 * np.arange(WEEK // 900 + 1)
    median = np.median([true_risk(index, "rolling", from_epoch(t)) for t in slots])
    chosen = [true_risk(index, "rolling", from_epoch(w["start"])) for w in answer["windows"]]
    assert len(chosen) == 3
    assert max(chosen) < median, (chosen, median)
    assert answer["candidates"] == 673
    assert all(w["failure_probability"] < answer["now"]["failure_probability"] for w in answer["windows"])
    starts = sorted(w["start"] for w in answer["windows"])
    assert all(b - a >= 30 * 60 for a, b in zip(starts, starts[1:]))      # non-overlapping


def test_windows_respect_business_hours_freeze_windows_and_weekdays(surface):
    zone = "America/New_York"
    freeze = {"start": NOW + 86400, "end": NOW + 3 * 86400, "reason": "release freeze"}
    answer = _suggest(surface, service="svc-003", top_n=6, constraints={
        "business_hours": {"start": "10:00", "end": "15:30", "timezone": zone},
        "freeze_windows": [freeze], "excluded_weekdays": ["wed"]})
    assert len(answer["windows"]) == 6
    for window in answer["windows"]:
        start = dt.datetime.fromtimestamp(window["start"], ZoneInfo(zone))
        end = dt.datetime.fromtimestamp(window["end"], ZoneInfo(zone))
        assert start.weekday() < 5 and start.weekday() != 2
        assert (10, 0) <= (start.hour, start.minute) and (end.hour, end.minute) <= (15, 30) and end.date() == start.date()
        assert window["end"] <= freeze["start"] or window["start"] >= freeze["end"]
    assert answer["excluded_by"]["freeze_window"] > 0 and answer["excluded_by"]["business_hours"] > 0
    assert answer["now"]["allowed"] is False and "business_hours" in answer["now"]["violations"]
    assert any("business hours" in reason for reason in answer["windows"][0]["reasons"])


def test_minimum_gap_after_the_previous_deployment(surface):
    scorer, activity = surface
    activity.observe_deployment({"id": "gap-test", "service": "svc-011", "environment": "production",
                                 "started": NOW + 3600, "status": "in-progress"})
    answer = _suggest(surface, service="svc-011", to=NOW + 86400, top_n=5,
                      constraints={"min_gap_minutes": 8 * 60})
    assert answer["excluded_by"]["min_gap"] > 0
    for window in answer["windows"]:
        assert window["start"] < NOW + 3600 or window["start"] >= NOW + 3600 + 8 * 3600


def test_no_allowed_slot_gives_no_windows(surface):
    answer = _suggest(surface, service="svc-003", to=NOW + 86400,
                      constraints={"freeze_windows": [{"start": NOW - 1, "end": NOW + 2 * 86400}]})
    assert answer["windows"] == [] and answer["candidates_allowed"] == 0


def test_local_clock_handles_daylight_saving():
    # 2026-03-29 01:00 UTC: Berlin switches from +1 to +2
    before, after = to_epoch(dt.datetime(2026, 3, 29, 0, 30)), to_epoch(dt.datetime(2026, 3, 29, 1, 30))
    weekday, minute = local_clock(np.array([before, after]), "Europe/Berlin")
    assert list(minute) == [90, 210] and list(weekday) == [6, 6]


@pytest.mark.parametrize("params, field, message", [
    ({}, "params.service", "expected a service name"),
    ({"service": "a", "from": 10, "to": 5}, "params.to", "expected a time after from"),
    ({"service": "a", "step_minutes": 0}, "params.step_minutes", "expected an integer 1-1440"),
    ({"service": "a", "top_n": "3"}, "params.top_n", "expected an integer 1-100"),
    ({"service": "a", "from": 0, "to": 10 ** 9}, "params.to", "more than 20000 candidates"),
    ({"service": "a", "constraints": {"business_hours": {"start": "9am"}}},
     "params.constraints.business_hours.start", "expected a time of day"),
    ({"service": "a", "constraints": {"business_hours": {"timezone": "Mars/Olympus"}}},
     "params.constraints.business_hours.timezone", "unknown time zone"),
    ({"service": "a", "constraints": {"freeze_windows": [{"start": 5, "end": 1}]}},
     "params.constraints.freeze_windows[0].end", "expected a time after start"),
    ({"service": "a", "constraints": {"excluded_weekdays": ["someday"]}},
     "params.constraints.excluded_weekdays[0]", "weekday name"),
    ({"service": "a", "constraints": {"min_gap_minutes": -5}}, "params.constraints.min_gap_minutes", ">= 0"),
])
def test_bad_window_requests_name_the_field(params, field, message):
    with pytest.raises(ValidationError) as caught:
        parse_window_request(params, default_now=NOW)
    assert caught.value.field == field and message in str(caught.value)


def test_a_new_service_gets_windows_with_an_insufficient_history_note(surface):
    answer = _suggest(surface, service="brand-new-service")
    assert answer["known_service"] is False and len(answer["windows"]) == 3
    assert "0 finished deployment(s)" in answer["insufficient_history"]
    assert _suggest(surface, service="svc-003")["insufficient_history"] is None


class _FlatScorer:
    """A scorer that rates every start alike (what the failure model does far past the history)."""

    name, version = "flat", "flat-1"

    def __init__(self, tie_break=None) -> None:
        self.tie_break = tie_break

    def score(self, request, starts):
        from predictor.estimates.windows import ScoredSlots
        return ScoredSlots(np.full(len(starts), 0.08), {"time_of_week": np.zeros(len(starts))})


def test_time_of_week_rates_follow_the_history_failures(estimates_home):
    from predictor.estimates.windows import TimeOfWeekRates, hour_of_week
    from predictor.store import open_store

    with open_store(estimates_home / "history.duckdb") as store:
        history = load_history(store)
    rates = TimeOfWeekRates(history)
    mask = history.has_outcome
    how = hour_of_week(history.started[mask])
    counts = np.bincount(how, minlength=168)
    raw = np.bincount(how, weights=history.failed[mask], minlength=168) / np.maximum(counts, 1)
    busy = counts >= 30
    # the smoothed rate orders the well-observed hours like their raw failure rate does
    assert np.corrcoef(rates.rate[busy], raw[busy])[0, 1] > 0.8
    assert rates(np.array([0.0]))[0] == rates.rate[hour_of_week(np.array([0.0]))[0]]
    assert ((rates.rate > 0) & (rates.rate < 1)).all()


def test_equal_probabilities_are_ordered_by_the_hour_of_week_failure_rate(surface, estimates_home):
    from predictor.estimates.windows import TimeOfWeekRates
    from predictor.store import open_store

    with open_store(estimates_home / "history.duckdb") as store:
        rates = TimeOfWeekRates(load_history(store))
    _, activity = surface
    params = {"service": "svc-001", "environment": "production", "deployment_type": "rolling", "now": NOW,
              "from": NOW + 10 * WEEK, "to": NOW + 11 * WEEK, "top_n": 5, "window_minutes": 30}
    request = parse_window_request(params, default_now=NOW)
    plain = suggest_windows(_FlatScorer(), activity, request)["windows"]
    assert [w["start"] for w in plain] == sorted(w["start"] for w in plain)  # no tie-break: the earliest
    broken = suggest_windows(_FlatScorer(rates), activity, request)["windows"]
    starts = np.array([w["start"] for w in broken])
    slots = request.range_from + 900 * np.arange(WEEK // 900 + 1)
    assert rates(starts).max() <= np.quantile(rates(slots), 0.05)  # among the safest hours of the week
    assert list(rates(starts)) == sorted(rates(starts))
