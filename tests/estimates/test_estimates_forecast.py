"""The volume forecast beats seasonal-naive on held-out weeks and has a sane shape."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import NotFoundError
from predictor.estimates.forecast import VolumeForecaster, evaluate_forecast
from predictor.estimates.history import load_history


def test_forecast_beats_seasonal_naive_on_held_out_weeks(store):
    report = evaluate_forecast(load_history(store), holdout_weeks=2)
    assert report["series"] == 24
    assert report["mae_daily"] < report["baseline_seasonal_naive"]["mae_daily"], report
    assert report["mae_weekly"] < report["baseline_seasonal_naive"]["mae_weekly"], report


def test_forecast_shape_weekday_seasonality_and_trend(store):
    history = load_history(store)
    answer = VolumeForecaster(history).forecast("svc-005", "production", weeks=3)
    series = answer["series"][0]
    assert len(series["days"]) == 21 and answer["horizon_weeks"] == 3
    expected = np.array([d["expected"] for d in series["days"]])
    assert sum(w["expected"] for w in series["weeks"]) == pytest.approx(expected.sum(), abs=0.01)
    weekday = (np.array([d["date"] // 86400 for d in series["days"]]).astype(int) + 3) % 7
    assert series["days"][0]["day"] == str(np.datetime64(int(series["days"][0]["date"]), "s").astype("datetime64[D]"))
    # planted: weekends carry a tenth of a weekday's volume, and volume grows over time
    assert expected[weekday >= 5].mean() < 0.35 * expected[weekday < 5].mean()
    assert series["trend_per_week"] > 0
    assert all(d["low"] <= d["expected"] <= d["high"] for d in series["days"])
    assert answer["from"] > history.started[-1] - 86400


def test_forecast_filters_and_unknown_series(store):
    forecaster = VolumeForecaster(load_history(store))
    everything = forecaster.forecast(weeks=1)
    assert len(everything["series"]) == 24
    total = sum(s["weeks"][0]["expected"] for s in everything["series"])
    assert everything["weeks"][0]["expected"] == pytest.approx(total, abs=0.05)
    assert everything["service"] is None and len(everything["days"]) == 7
    assert {s["environment"] for s in forecaster.forecast(environment="staging")["series"]} == {"staging"}
    with pytest.raises(NotFoundError, match="service 'nope'"):
        forecaster.forecast("nope")
