"""The answerer the daemon loads: wire-shaped answers, observe, errors, the failure-model scorer."""

from __future__ import annotations

import datetime as dt
import shutil

import msgpack
import numpy as np
import pytest

from predictor.errors import ModelNotReadyError, ValidationError
from predictor.estimates.history import from_epoch, to_epoch
from predictor.estimates.runtime import EstimatesAnswerer, load_answerer
from predictor.store import open_store

from histories import true_risk

NOW = to_epoch(dt.datetime(2026, 3, 30, 22, 0))


def assert_plain(value, where="result"):
    """Only str/int/float/bool/None/list/dict (what msgpack carries without surprises)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r}"
            assert_plain(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain(item, f"{where}[{index}]")
    else:
        assert type(value) in (str, int, float, bool, type(None)), f"{where}: {type(value).__name__}"


REQUESTS = {
    "analyze_risk": {"service": "svc-000", "environment": "production", "started": NOW},
    "estimate": {"deployment": {"service": "svc-002", "environment": "production", "deployment_type": "canary",
                                "change_size": 200, "started": NOW}},
    "forecast": {"service": "svc-001", "weeks": 2},
    "suggest_time": {"service": "svc-003", "environment": "production", "deployment_type": "rolling",
                     "now": NOW, "from": NOW, "to": NOW + 7 * 86400},
}


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_every_method_answers_wire_shaped(answerer, method):
    result = answerer.methods[method](REQUESTS[method])
    assert_plain(result)
    assert msgpack.unpackb(msgpack.packb(result, use_bin_type=True), raw=False) == result


def test_answers_carry_the_expected_facts(answerer):
    risk = answerer.methods["analyze_risk"](REQUESTS["analyze_risk"])
    assert risk["affected_count"] == 11 and risk["risk_level"] in ("low", "medium", "high", "critical")
    estimate = answerer.methods["estimate"](REQUESTS["estimate"])
    assert 0 < estimate["duration"]["p50"] < estimate["duration"]["p90"]
    assert estimate["resources"]["replicas"]["p50"] == 6
    forecast = answerer.methods["forecast"](REQUESTS["forecast"])
    assert {s["environment"] for s in forecast["series"]} == {"staging", "production"}
    windows = answerer.methods["suggest_time"](REQUESTS["suggest_time"])
    assert windows["scorer"] == "risk-surface" and len(windows["windows"]) == 3
    assert windows["window_basis"] == "p90 duration estimate"


def test_observe_updates_graph_and_concurrency_without_a_query(store):
    answerer = EstimatesAnswerer(store, eager=False)
    answerer.methods["analyze_risk"]({"service": "svc-011", "started": NOW})   # builds graph and activity
    answerer.observe("service", {"name": "svc-new", "type": "microservice",
                                 "dependencies": [{"depends_on": "svc-011", "kind": "soft"}]})
    risk = answerer.methods["analyze_risk"]({"service": "svc-011", "environment": "production", "started": NOW})
    assert [(a["service"], a["kind"], a["distance"]) for a in risk["affected"]] == [("svc-new", "soft", 1)]
    answerer.observe("deployment", {"id": "obs-1", "service": "svc-new", "environment": "production",
                                    "started": NOW - 600, "status": "in-progress"})
    risk = answerer.methods["analyze_risk"]({"service": "svc-011", "environment": "production", "started": NOW})
    assert [c["service"] for c in risk["concurrent_deployments"]] == ["svc-new"]
    before = answerer.activity.outcomes("svc-new")
    answerer.observe("deployment", {"id": "obs-1", "service": "svc-new", "environment": "production",
                                    "started": NOW - 600, "completed": NOW - 60, "status": "failure",
                                    "duration_seconds": 540.0})
    answerer.observe("deployment", {"id": "obs-1", "service": "svc-new", "environment": "production",
                                    "started": NOW - 600, "completed": NOW - 60, "status": "success",
                                    "duration_seconds": 540.0})
    assert answerer.activity.outcomes("svc-new") == before + 1
    assert answerer.activity.records["svc-new"].failures == 0
    forecast = answerer.methods["forecast"]({"service": "svc-new"})
    assert forecast["series"][0]["service"] == "svc-new"


@pytest.mark.parametrize("method, params, field", [
    ("analyze_risk", {}, "params.service"),
    ("analyze_risk", {"service": "a", "failure_probability": 2}, "params.failure_probability"),
    ("analyze_risk", {"service": "a", "max_depth": 0}, "params.max_depth"),
    ("analyze_risk", {"service": "a", "started": "yesterday"}, "params.started"),
    ("estimate", {"deployment": {"service": "a", "change_size": -1}}, "params.deployment.change_size"),
    ("estimate", {"deployment": "svc"}, "params.deployment"),
    ("forecast", {"weeks": 0}, "params.weeks"),
    ("suggest_time", {"service": 5}, "params.service"),
])
def test_bad_params_raise_validation_errors_naming_the_field(answerer, method, params, field):
    with pytest.raises(ValidationError) as caught:
        answerer.methods[method](params)
    assert caught.value.field == field


def test_an_empty_store_is_not_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("PREDICTOR_HOME", str(tmp_path))
    with open_store(tmp_path / "empty.duckdb") as store:
        with pytest.raises(ModelNotReadyError, match="no deployments or services"):
            load_answerer(store)
        lazy = EstimatesAnswerer(store, eager=False)
        with pytest.raises(ModelNotReadyError):
            lazy.methods["suggest_time"]({"service": "a"})
        assert lazy.methods["analyze_risk"]({"service": "a", "started": NOW})["affected"] == []


def test_windows_use_the_trained_failure_model_when_there_is_one(estimates_home, tmp_path, monkeypatch):
    from predictor.models.train import train_and_register

    monkeypatch.setenv("PREDICTOR_HOME", str(tmp_path))
    shutil.copy(estimates_home / "history.duckdb", tmp_path / "history.duckdb")
    with open_store(tmp_path / "history.duckdb") as store:
        train_and_register(store, promote="always", evaluate_first=False, plots=False)
        answerer = load_answerer(store)
    assert answerer.scorer.name == "failure-model"
    for service in ("svc-003", "svc-006"):
        index = int(service[-3:])
        answer = answerer.methods["suggest_time"]({**REQUESTS["suggest_time"], "service": service})
        assert answer["scorer"] == "failure-model" and answer["model_version"].startswith("failure-")
        slots = NOW + 900 * np.arange(7 * 96 + 1)
        median = np.median([true_risk(index, "rolling", from_epoch(t)) for t in slots])
        chosen = [true_risk(index, "rolling", from_epoch(w["start"])) for w in answer["windows"]]
        assert max(chosen) < median, (chosen, median)
        assert {f["name"] for f in answer["windows"][0]["factors"]} == {"time_of_week", "service_activity",
                                                                         "concurrency"}
