"""Adaptations: planted staging -> production configuration changes are found with their values."""

from __future__ import annotations

import pytest

from patterns_planted import deployment, promotion_history, T0
from predictor.patterns.adaptations import AdaptationQuery, find_adaptations, promotion_pairs
from predictor.patterns.executions import History


def test_planted_staging_to_production_differences_are_found_with_their_values():
    result = find_adaptations(History.from_records(promotion_history()), AdaptationQuery())
    assert result["pairs"] == 20
    by_key = {a["key"]: a for a in result["adaptations"]}
    assert set(by_key) == {"ssl_verify", "timeout_seconds"}  # replicas never changed
    ssl = by_key["ssl_verify"]
    assert (ssl["source_value"], ssl["target_value"], ssl["change"]) == (False, True, "switched on")
    assert (ssl["pairs_changed"], ssl["consistency"]) == (20, 1.0)
    timeout = by_key["timeout_seconds"]
    assert (timeout["source_value"], timeout["target_value"]) == (30, 60)
    assert timeout["change"] == "raised ×2"
    assert (timeout["pairs_changed"], timeout["consistency"]) == (16, pytest.approx(0.8))
    assert result["adaptations"][0]["key"] == "ssl_verify"  # most consistent first
    assert ssl["rule"].startswith(
        "When promoting from staging to production, set ssl_verify to true (was false in staging): "
        "20 of 20 promotions (100%) did.")


def test_success_rate_with_and_without_the_adapted_value_in_the_target():
    deployments = promotion_history()
    ssl = next(a for a in find_adaptations(History.from_records(deployments), AdaptationQuery())["adaptations"]
               if a["key"] == "ssl_verify")
    production = [d for d in deployments if d["environment"] == "production"]
    with_it = [d for d in production if d["configuration"]["ssl_verify"]]
    without = [d for d in production if not d["configuration"]["ssl_verify"]]
    assert ssl["target_runs_with"] == len(with_it) == 70 and ssl["target_runs_without"] == len(without) == 50
    assert ssl["target_success_rate_with"] == pytest.approx(sum(d["status"] == "success" for d in with_it) / 70)
    assert ssl["target_success_rate_without"] == pytest.approx(sum(d["status"] == "success" for d in without) / 50)
    assert ssl["target_success_rate_with"] > ssl["target_success_rate_without"]


def test_pairs_need_a_success_in_source_then_target_of_the_same_version():
    deployments = [
        deployment("a", "staging", T0, "success", version="1", configuration={"x": 1}),
        deployment("a", "production", T0.replace(hour=5), "success", version="1", configuration={"x": 2}),
        # target before source: no pair
        deployment("b", "production", T0, "success", version="1", configuration={"x": 2}),
        deployment("b", "staging", T0.replace(hour=5), "success", version="1", configuration={"x": 1}),
        # failed staging: no pair
        deployment("c", "staging", T0, "failure", version="1", configuration={"x": 1}),
        deployment("c", "production", T0.replace(hour=5), "success", version="1", configuration={"x": 2}),
    ]
    history = History.from_records(deployments)
    pairs = promotion_pairs(history, AdaptationQuery())
    assert [(s.service, t.service) for s, t in pairs] == [("a", "a")]
    result = find_adaptations(history, AdaptationQuery(min_pairs=1))
    assert [(a["key"], a["source_value"], a["target_value"]) for a in result["adaptations"]] == [("x", 1, 2)]
    only_b = find_adaptations(history, AdaptationQuery(service="b"))
    assert only_b["adaptations"] == [] and "no service version was deployed successfully" in only_b["note"]


def test_added_key_is_reported_as_added():
    deployments = []
    for i in range(3):
        deployments.append(deployment("a", "staging", T0.replace(day=1 + i), "success", version=str(i),
                                      configuration={}))
        deployments.append(deployment("a", "production", T0.replace(day=1 + i, hour=6), "success", version=str(i),
                                      configuration={"audit_logging": True}))
    item = find_adaptations(History.from_records(deployments), AdaptationQuery())["adaptations"][0]
    assert (item["key"], item["source_value"], item["target_value"], item["change"]) == (
        "audit_logging", None, True, "added")
    assert "add audit_logging = true (absent in staging)" in item["rule"]
