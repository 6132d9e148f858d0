"""The team's demo history (planted structure, `true_risk`) through the real ingest path."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from predictor.demo_data import generate_history, true_risk
from predictor.estimates.runtime import EstimatesAnswerer, evaluate_estimates
from predictor.store import open_store
from predictor.store.ingest import ingest_records


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-estimates")
    history = generate_history(seed=3, services=12, days=84, deployments_per_day=50)
    with open_store(home / "history.duckdb") as store:
        ingest_records(store, services=history.services, deployments=history.deployments,
                       rollbacks=history.rollbacks, source="test-demo")
    return home, history


def test_windows_on_the_demo_history_beat_the_median_slot_by_true_risk(demo, monkeypatch):
    home, history = demo
    monkeypatch.setenv("PREDICTOR_HOME", str(home))
    end = max(d["started"] for d in history.deployments)
    now = (dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1) - dt.datetime(1970, 1, 1)).total_seconds()
    slots = now + 900 * np.arange(0, 7 * 96 + 1, 2)
    with open_store(home / "history.duckdb", read_only=True) as store:
        answerer = EstimatesAnswerer(store, eager=False)
        services = [s["name"] for s in history.services][:5]
        for service in services:
            answer = answerer.methods["suggest_time"]({
                "service": service, "environment": "production", "deployment_type": "rolling",
                "now": now, "from": now, "to": now + 7 * 86400, "window_minutes": 30})

            def risk(t):
                return true_risk(history, service, "production", "rolling",
                                 dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(t)))

            median = np.median([risk(t) for t in slots])
            assert max(risk(w["start"]) for w in answer["windows"]) < median, service


def test_duration_and_forecast_evaluation_on_the_demo_history(demo, monkeypatch):
    home, _ = demo
    monkeypatch.setenv("PREDICTOR_HOME", str(home))
    with open_store(home / "history.duckdb", read_only=True) as store:
        report = evaluate_estimates(store)
    durations, forecast = report["durations"], report["forecast"]
    assert 0.85 <= durations["coverage_p90"] <= 0.95, durations
    assert durations["pinball_p50"] < durations["baseline_service_median"]["pinball_p50"]
    assert forecast["mae_daily"] < forecast["baseline_seasonal_naive"]["mae_daily"], forecast
