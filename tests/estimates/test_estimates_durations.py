"""Duration intervals are honest on held-out data; resources come from metadata; skops only."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from predictor.errors import ModelFileError
from predictor.estimates.durations import (
    DurationModel, evaluate_durations, pinball_loss, point_in_time_rows, resource_estimate, resource_profiles,
    train_durations,
)
from predictor.estimates.history import load_history, parse_resource


def test_p90_covers_about_ninety_percent_and_p50_beats_the_service_median(store):
    report = evaluate_durations(store)
    assert report["n_test"] > 500
    assert 0.85 <= report["coverage_p90"] <= 0.95, report
    assert report["pinball_p50"] < report["baseline_service_median"]["pinball_p50"], report
    assert report["pinball_p90"] < report["baseline_service_median"]["pinball_p90"], report
    assert 0.4 <= report["coverage_p50"] <= 0.6


def test_history_features_are_point_in_time(planted, store):
    history = load_history(store)
    rows, index, _ = point_in_time_rows(history)
    first = {}
    for row, i in zip(rows, index):
        first.setdefault(history.service[i], row)
    # a service's first deployment knows no past duration of it
    assert all(np.isnan(row[4]) and row[8] == 0 for row in first.values())
    # the median a row sees only uses deployments completed before it started
    i = int(index[len(index) // 2])
    service, started = history.service[i], history.started[i]
    known = (history.service == service) & (history.completed <= started) & (history.duration > 0)
    row = rows[len(index) // 2]
    values = np.sort(np.log(history.duration[known]))
    assert row[8] == known.sum()
    assert row[4] == pytest.approx(values[int(0.5 * len(values))])


def test_model_round_trips_through_skops_and_refuses_a_pickle(store, tmp_path):
    model, info = train_durations(store, save=True)
    loaded = DurationModel.load(Path(info["artifact_dir"]))
    history = load_history(store)
    rows, _, _ = point_in_time_rows(history)
    a50, a90 = model.predict(rows[-50:])
    b50, b90 = loaded.predict(rows[-50:])
    assert np.array_equal(a50, b50) and np.array_equal(a90, b90)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.skops").write_bytes(pickle.dumps({"p50": 1}))
    (bad / "model.json").write_text("{}")
    with pytest.raises(ModelFileError, match="not a valid skops duration model"):
        DurationModel.load(bad)


def test_resource_fields_come_from_metadata_per_service_and_environment(store):
    history = load_history(store)
    profiles = resource_profiles(history)
    # svc-002 (index 2): cpu 750m, memory 1536Mi, replicas 2 + 2 + 2 (production)
    production = resource_estimate(profiles, "svc-002", "production")
    assert production["cpu"]["p50"] == pytest.approx(0.75)
    assert production["memory"]["p50"] == pytest.approx(1536 * 1.048576)
    assert production["replicas"]["p50"] == 6 and production["replicas"]["unit"] == "replicas"
    assert resource_estimate(profiles, "svc-002", "staging")["replicas"]["p50"] == 4
    assert resource_estimate(profiles, "svc-002", "qa")["replicas"]["basis"] == "service"
    assert resource_estimate(profiles, "svc-001", "production") == {}   # odd services record none


@pytest.mark.parametrize("kind, value, expected", [
    ("cpu", "500m", 0.5), ("cpu", 2, 2.0), ("cpu", "1.5", 1.5), ("memory", "2Gi", 2 * 1073.741824),
    ("memory", "512", 512.0), ("memory", "1GB", 1024.0), ("replicas", "3", 3.0), ("replicas", "three", None),
    ("cpu", True, None), ("memory", "12 parsecs", None),
])
def test_resource_values_are_parsed_with_units(kind, value, expected):
    parsed = parse_resource(kind, value)
    assert (np.isnan(parsed) if expected is None else parsed == pytest.approx(expected))


def test_pinball_loss_definition():
    assert pinball_loss(np.array([10.0]), np.array([8.0]), 0.9) == pytest.approx(1.8)
    assert pinball_loss(np.array([10.0]), np.array([12.0]), 0.9) == pytest.approx(0.2)


def test_packed_duration_model_equals_scikit_learn(store):
    history = load_history(store)
    rows, index, _ = point_in_time_rows(history)
    model = DurationModel(max_iter=60).fit(rows, history.duration[index])
    packed50, packed90 = model.predict(rows)
    sk50, sk90 = model.predict_sklearn(rows)
    assert np.max(np.abs(np.log(packed50) - np.log(sk50))) <= 1e-9
    assert np.max(np.abs(np.log(packed90) - np.log(sk90))) <= 1e-9


def test_a_saved_model_serves_only_the_store_it_was_trained_on(store, tmp_path):
    from predictor.estimates.durations import load_current_durations
    from predictor.store import open_store

    train_durations(store, save=True)
    assert load_current_durations(store) is not None
    with open_store(tmp_path / "other.duckdb") as other:
        assert load_current_durations(other) is None
