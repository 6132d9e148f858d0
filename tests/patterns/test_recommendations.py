"""Recommendations: ranking by an honest, recency-weighted lower bound; every outcome counts."""

from __future__ import annotations

import datetime as dt

import pytest

from patterns_planted import T0, best_configuration_history, deployment
from predictor.errors import ValidationError
from predictor.patterns.confidence import recency_weight, wilson_lower_bound
from predictor.patterns.configuration import bucket, template
from predictor.patterns.executions import History
from predictor.patterns.recommendations import RecommendationQuery, recommend


def _pattern_runs(strategy: str, successes: int, failures: int, start: dt.datetime, config: dict,
                  service: str = "svc") -> list[dict]:
    runs = []
    for i in range(successes + failures):
        status = "success" if i < successes else "failure"
        runs.append(deployment(service, "production", start + dt.timedelta(hours=i), status,
                               strategy=strategy, configuration=dict(config), resources=["project"]))
    return runs


def test_planted_best_configuration_ranks_first():
    deployments, best = best_configuration_history()
    result = recommend(History.from_records(deployments),
                       RecommendationQuery(environment="production", resources=["project", "database"], limit=10))
    top = result["recommendations"][0]
    assert top["configuration"] == dict(template(best))
    assert (top["successes"], top["failures"]) == (58, 2)
    ranked = [p["configuration"]["replicas"] + "/" + p["configuration"]["timeout_seconds"]
              for p in result["recommendations"]]
    # the perfect-looking patterns with 2 and 1 runs rank below every well-supported one
    assert ranked.index("7/50-100") > 3 and ranked.index("8/50-100") > 3
    assert result["considered_executions"] == 243


def test_one_success_ranks_below_fifty_successes_and_two_failures():
    runs = (_pattern_runs("canary", 1, 0, T0 + dt.timedelta(days=10), {"replicas": 1}, service="new")
            + _pattern_runs("rolling", 50, 2, T0, {"replicas": 3}))
    result = recommend(History.from_records(runs), RecommendationQuery(half_life_days=None))
    order = [(p["successes"], p["failures"]) for p in result["recommendations"]]
    assert order == [(50, 2), (1, 0)]
    lone, strong = result["recommendations"][1], result["recommendations"][0]
    assert lone["success_rate"] == 1.0 and lone["confidence"] == pytest.approx(0.2065, abs=1e-3)
    assert strong["confidence"] == pytest.approx(wilson_lower_bound(50, 52))
    assert strong["confidence"] > 0.86


def test_failure_without_rollback_lowers_its_patterns_confidence():
    runs = _pattern_runs("canary", 12, 0, T0, {"replicas": 2})
    history = History.from_records(runs)
    before = recommend(history, RecommendationQuery())["recommendations"][0]
    history.observe("deployment", deployment("svc", "production", T0 + dt.timedelta(days=1), "failure",
                                             strategy="canary", configuration={"replicas": 2},
                                             resources=["project"], rollback_triggered=False))
    after = recommend(history, RecommendationQuery())["recommendations"][0]
    assert after["pattern_id"] == before["pattern_id"]
    assert (after["successes"], after["failures"], after["rolled_back"]) == (12, 1, 0)
    assert after["confidence"] < before["confidence"]


@pytest.mark.parametrize("status, rollback, rolled_back", [
    ("failure", False, 0), ("rolled-back", True, 1), ("partial", None, 0), ("success", True, 1),
])
def test_every_outcome_updates_the_counts(status, rollback, rolled_back):
    runs = _pattern_runs("canary", 5, 0, T0, {})
    runs.append(deployment("svc", "production", T0 + dt.timedelta(days=1), status, strategy="canary",
                           configuration={}, resources=["project"], rollback_triggered=rollback))
    pattern = recommend(History.from_records(runs), RecommendationQuery())["recommendations"][0]
    assert (pattern["successes"], pattern["failures"], pattern["rolled_back"]) == (5, 1, rolled_back)


def test_outcome_update_of_a_known_deployment_moves_it_from_success_to_failure():
    runs = _pattern_runs("canary", 5, 0, T0, {})
    history = History.from_records(runs)
    history.observe("deployment", {"id": runs[0]["id"], "status": "rolled-back", "rollback_triggered": True})
    pattern = recommend(history, RecommendationQuery())["recommendations"][0]
    assert (pattern["successes"], pattern["failures"], pattern["rolled_back"]) == (4, 1, 1)


def test_recent_failures_weigh_more_than_old_ones():
    old_failures = _pattern_runs("canary", 0, 5, T0, {"a": 1}) + _pattern_runs(
        "canary", 20, 0, T0 + dt.timedelta(days=200), {"a": 1})
    recent_failures = _pattern_runs("rolling", 20, 0, T0, {"a": 2}) + _pattern_runs(
        "rolling", 0, 5, T0 + dt.timedelta(days=200), {"a": 2})
    result = recommend(History.from_records(old_failures + recent_failures), RecommendationQuery(half_life_days=30))
    by_strategy = {p["strategy"]: p for p in result["recommendations"]}
    assert by_strategy["canary"]["confidence"] > by_strategy["rolling"]["confidence"]
    assert by_strategy["rolling"]["weighted_failures"] == pytest.approx(5, rel=0.03)
    assert by_strategy["canary"]["weighted_failures"] < 0.1
    flat = recommend(History.from_records(old_failures + recent_failures), RecommendationQuery(half_life_days=0))
    assert [p["confidence"] for p in flat["recommendations"]] == pytest.approx([wilson_lower_bound(20, 25)] * 2)


def test_filters_on_support_confidence_strategy_and_resources():
    deployments, _ = best_configuration_history()
    history = History.from_records(deployments + [deployment(
        "other", "production", T0, "success", strategy="canary", resources=["cache"])])
    supported = recommend(history, RecommendationQuery(min_support=10, limit=100))["recommendations"]
    assert len(supported) == 4 and min(p["usage_count"] for p in supported) >= 10
    confident = recommend(history, RecommendationQuery(min_confidence=0.8, limit=100))["recommendations"]
    assert confident and all(p["confidence"] >= 0.8 for p in confident)
    canary = recommend(history, RecommendationQuery(strategy="canary"))["recommendations"]
    assert [p["resources"] for p in canary] == [["cache"]]
    database = recommend(history, RecommendationQuery(resources=["database"], limit=100))["recommendations"]
    assert len(database) == 6 and all("database" in p["resources"] for p in database)
    assert any("also project" in r for r in database[0]["reasons"])
    none = recommend(history, RecommendationQuery(environment="staging"))
    assert none["recommendations"] == [] and none["note"] == "no finished execution matches these filters"


def test_reasons_are_plain_words():
    deployments, _ = best_configuration_history()
    top = recommend(History.from_records(deployments),
                    RecommendationQuery(environment="production", resources=["project", "database"],
                                        strategy="blue-green"))["recommendations"][0]
    assert top["reasons"][0] == "used 60 times in production: 58 succeeded, 2 failed"
    assert "uses the blue-green strategy you asked for" in top["reasons"]
    assert "deploys exactly project and database, as asked" in top["reasons"]
    assert top["recommendation"].startswith("use blue-green to deploy database and project with replicas = 3")


def test_configuration_template_buckets_numbers_and_strips_ids():
    assert bucket(300) == "200-500" and bucket(310) == "200-500" and bucket(3) == "3" and bucket(0.25) == "0.2-0.5"
    assert template({"db": {"pool": 25}, "image": "3f2a9c1b7e4d5a6b", "Mode": " Fast ", "tls": True}) == (
        ("Mode", "fast"), ("db.pool", "20-50"), ("image", "<id>"), ("tls", "true"))


def test_recency_weight_halves_every_half_life():
    assert recency_weight(T0, T0 + dt.timedelta(days=90), 90) == pytest.approx(0.5)
    assert recency_weight(T0, T0 + dt.timedelta(days=180), 90) == pytest.approx(0.25)
    assert recency_weight(T0, T0, None) == 1.0


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "params.limit"),
    ({"min_confidence": 1.5}, "params.min_confidence"),
    ({"resources": [1, 2]}, "params.resources"),
    ({"environment": 3}, "params.environment"),
    ({"as_of": "yesterday"}, "params.as_of"),
])
def test_bad_params_name_the_field(params, field):
    with pytest.raises(ValidationError) as caught:
        RecommendationQuery.from_params(params)
    assert caught.value.field == field
