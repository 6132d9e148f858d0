"""The answerer the daemon serves: over a real DuckDB store, empty or not, folding in new facts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from patterns_planted import T0, deployment, promotion_history, rollback_history
from predictor import protocol
from predictor.errors import ValidationError
from predictor.patterns.executions import History, to_epoch
from predictor.patterns.runtime import answer, load_answerer
from predictor.store import open_store
from predictor.store.ingest import ingest_records

METHODS = ("recommendations", "adaptations", "rollback_scenarios", "analytics")


def test_empty_store_answers_every_method_with_a_note(tmp_path):
    with open_store(tmp_path / "empty.duckdb") as store:
        answerer = load_answerer(store)
    assert sorted(answerer.methods) == sorted(METHODS)
    for method in METHODS:
        result = answerer.methods[method]({})
        assert result["note"] == "no deployment history yet: ingest or record executions first", method
        protocol.encode(result)  # wire-shaped: the protocol module accepts it


def test_store_round_trip_gives_the_same_answers_as_memory(tmp_path):
    deployments = promotion_history()
    more, rollbacks = rollback_history(per_kind=5)
    with open_store(tmp_path / "history.duckdb") as store:
        ingest_records(store, deployments=deployments + more, rollbacks=rollbacks, mode="upsert")
        answerer = load_answerer(store)
    memory = History.from_records(deployments + more, rollbacks)
    for method, params in (("recommendations", {"environment": "production", "limit": 20}),
                           ("adaptations", {}), ("rollback_scenarios", {}), ("analytics", {"days": 365})):
        served = answerer.methods[method](params)
        assert served == answer(memory, method, params), method
        protocol.decode(protocol.encode(served))
    adaptation_keys = {a["key"] for a in answerer.methods["adaptations"]({})["adaptations"]}
    assert adaptation_keys == {"ssl_verify", "timeout_seconds"}


def test_observe_folds_new_executions_outcomes_and_rollbacks_in(tmp_path):
    with open_store(tmp_path / "history.duckdb") as store:
        answerer = load_answerer(store)
    started = T0 + dt.timedelta(days=1)
    answerer.observe("deployment", deployment("pay", "production", started, "in-progress", id="d1",
                                              strategy="canary", resources=["project"]))
    assert answerer.methods["recommendations"]({})["recommendations"] == []  # no outcome yet
    answerer.observe("deployment", {"id": "d1", "status": "success", "completed": to_epoch(started)})
    first = answerer.methods["recommendations"]({})["recommendations"][0]
    assert (first["successes"], first["failures"]) == (1, 0)
    answerer.observe("deployment", deployment("pay", "production", started + dt.timedelta(hours=2), "failure",
                                              id="d2", strategy="canary", resources=["project"],
                                              failure_reasons=["Health check timed out after 30s"]))
    answerer.observe("rollback", {"id": "r1", "service": "pay", "deployment_id": "d2",
                                  "started": to_epoch(started + dt.timedelta(hours=2, minutes=15)),
                                  "recovery_seconds": 600, "status": "success"})
    answerer.observe("service", {"name": "pay"})
    pattern = answerer.methods["recommendations"]({})["recommendations"][0]
    assert (pattern["successes"], pattern["failures"], pattern["rolled_back"]) == (1, 1, 1)
    scenario = answerer.methods["rollback_scenarios"]({})["scenarios"][0]
    assert scenario["failure_pattern"] == "health check timed out after"
    assert scenario["recovery_seconds_median"] == 600


@pytest.mark.parametrize("method, params, field", [
    ("recommendations", {"min_support": 0}, "params.min_support"),
    ("adaptations", {"source_environment": ""}, "params.source_environment"),
    ("rollback_scenarios", {"limit": "ten"}, "params.limit"),
    ("analytics", {"days": -1}, "params.days"),
    ("analytics", {"from": 1772323200, "to": 1769904000}, "params.from"),
])
def test_bad_params_raise_validation_errors_naming_the_field(tmp_path, method, params, field):
    with open_store(tmp_path / "history.duckdb") as store:
        answerer = load_answerer(store)
    with pytest.raises(ValidationError) as caught:
        answerer.methods[method](params)
    assert caught.value.field == field


def _vectors() -> dict[str, dict]:
    path = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "envelopes.json"
    cases = json.loads(path.read_text())["cases"]
    return {c["name"]: protocol.decode(bytes.fromhex(c["hex"])) for c in cases if "hex" in c}


@pytest.mark.parametrize("method, item_list", [
    ("recommendations", "recommendations"), ("adaptations", "adaptations"),
    ("rollback_scenarios", "scenarios"), ("analytics", None),
])
def test_answers_carry_the_keys_of_the_spec_vectors(tmp_path, method, item_list):
    vectors = _vectors()
    request, reply = vectors[f"{method}-request"], vectors[f"{method}-reply"]
    deployments = [dict(d, service="checkout") for d in promotion_history()]
    more, rollbacks = rollback_history(per_kind=3)
    more = [dict(d, service="checkout") for d in more]
    rollbacks = [dict(r, service="checkout") for r in rollbacks]
    history = History.from_records(deployments + more, rollbacks)
    params = dict(request["params"])
    if method == "analytics":  # the vector's window predates the planted history
        params.pop("from"), params.pop("to")
    result = answer(history, method, params)
    expected = reply["result"]
    if item_list is None:
        assert set(expected) <= set(result)
        assert isinstance(result["deployments"], int) and result["deployments"] > 0
        assert 0 < result["change_failure_rate"] < 1 and result["deployment_frequency_per_day"] > 0
        assert result["lead_time_seconds"] is None  # no commit times planted: nil, as the spec allows
        assert result["mean_time_to_recovery_seconds"] > 0
        return
    assert result[item_list], method
    for item in result[item_list]:
        assert set(expected[item_list][0]) <= set(item)
