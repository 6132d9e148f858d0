"""Point-in-time features: no leakage from the future; training SQL and serving state agree."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from predictor.errors import ValidationError
from predictor.features import ALL_FEATURES, CATEGORICAL_FEATURES, FeatureConfig
from predictor.features.serving import FeatureState
from predictor.features.training import training_features

RECORD_COLUMNS = ("id", "service", "version", "environment", "deployment_type", "started", "completed", "status",
                  "metadata", "configuration", "change_size", "duration_seconds")


def records(store) -> list[dict]:
    rows = store.con.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM deployments ORDER BY started, id").fetchall()
    return [dict(zip(RECORD_COLUMNS, row)) for row in rows]


def assert_same(sql_row: dict, served: dict, where: str) -> None:
    for name in ALL_FEATURES:
        if name in CATEGORICAL_FEATURES:
            assert sql_row[name] == served[name], f"{where} {name}: sql {sql_row[name]!r} serving {served[name]!r}"
        else:
            assert math.isclose(sql_row[name], served[name], rel_tol=1e-12, abs_tol=1e-12), \
                f"{where} {name}: sql {sql_row[name]!r} serving {served[name]!r}"


def frame_by_id(frame) -> dict[str, dict]:
    return {frame.ids[i]: frame.row(i) for i in range(len(frame))}


def test_changing_the_future_leaves_past_features_unchanged(small_history):
    store, _ = small_history
    config = FeatureConfig(timezone="America/New_York")
    before_frame = training_features(store, config)
    before = frame_by_id(before_frame)
    cutoff, cutoff_us = store.con.execute(
        "SELECT quantile_disc(started, 0.5), epoch_us(quantile_disc(started, 0.5)) FROM deployments").fetchone()
    # outcomes that became known after the cutoff flip (including deployments that started
    # before it and were still running), later deployments vanish, new ones appear
    flipped = store.con.execute(
        "UPDATE deployments SET status = CASE WHEN status = 'success' THEN 'failure' ELSE 'success' END "
        "WHERE completed >= ? AND status IN ('success', 'failure', 'rolled-back', 'partial')", [cutoff]).fetchone()[0]
    assert flipped > 100
    store.con.execute("UPDATE deployments SET completed = completed + INTERVAL 3 HOUR WHERE completed >= ?", [cutoff])
    store.con.execute("DELETE FROM deployments WHERE started > ? AND id LIKE '%3'", [cutoff])
    store.con.execute(
        """INSERT INTO deployments (id, service, version, environment, deployment_type, started, completed, status,
                                    source_id, ingested_at)
           SELECT 'future-' || id, service, '99.0.0', environment, 'big-bang', started + INTERVAL 2 DAY,
                  started + INTERVAL 2 DAY + INTERVAL 5 MINUTE, 'failure', source_id, ingested_at
           FROM deployments WHERE started > ?""", [cutoff])
    after = frame_by_id(training_features(store, config))
    past = [before_frame.ids[i] for i in range(len(before_frame)) if before_frame.started_us[i] < cutoff_us]
    assert len(past) > 1000
    for deployment_id in past:
        assert after[deployment_id] == before[deployment_id], deployment_id
    # and the future did change something, so the check above could fail
    changed = [i for i in before if i in after and after[i] != before[i]]
    assert changed


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
def test_training_and_serving_features_are_identical(small_history, timezone):
    store, _ = small_history
    # ties: two deployments of one service starting at the very same instant
    store.con.execute("UPDATE deployments SET started = (SELECT started FROM deployments WHERE id = 'dep-0000100') "
                      "WHERE id = 'dep-0000101'")
    config = FeatureConfig(timezone=timezone)
    frame = training_features(store, config)
    state = FeatureState.from_store(store, config)
    by_id = {r["id"]: r for r in records(store)}
    for i in range(len(frame)):
        assert_same(frame.row(i), state.features(by_id[frame.ids[i]]), frame.ids[i])


def test_incremental_updates_in_any_order_match_the_training_query(small_history):
    store, _ = small_history
    config = FeatureConfig(timezone="Europe/Berlin", concurrency_hours=3)
    frame = training_features(store, config)
    state = FeatureState(config)
    for name, kind in store.con.execute("SELECT name, type FROM services").fetchall():
        deps = [{"depends_on": d, "kind": k} for d, k in store.con.execute(
            "SELECT depends_on, kind FROM service_dependencies WHERE service = ?", [name]).fetchall()]
        state.observe("service", {"name": name, "type": kind, "dependencies": deps})
    rows = records(store)
    random.Random(5).shuffle(rows)
    for row in rows:  # first as pending, later the outcome arrives (an upsert)
        state.observe("deployment", {**row, "status": "pending", "completed": None, "duration_seconds": None})
    for row in rows:
        state.observe("deployment", row)
    by_id = {r["id"]: r for r in rows}
    for i in range(0, len(frame), 3):
        assert_same(frame.row(i), state.features(by_id[frame.ids[i]]), frame.ids[i])


def test_a_running_deployment_reveals_no_outcome_until_it_completes(small_history):
    store, _ = small_history
    state = FeatureState.from_store(store)
    base = {"service": "brand-new", "environment": "production", "status": "failure"}
    state.observe("deployment", {**base, "id": "a", "started": 1_000_000, "completed": 1_000_600})
    probe = {"service": "brand-new", "environment": "production", "deployment_type": "canary"}
    during = state.features({**probe, "started": 1_000_300})
    after = state.features({**probe, "started": 1_000_601})
    assert during["past_outcomes"] == 0 and during["previous_outcome"] == -1
    assert during["concurrent_service"] == 1 and during["deployments_7d"] == 1
    assert after["past_outcomes"] == 1 and after["previous_outcome"] == 1 and after["failure_streak"] == 1
    assert after["service_type"] == "unknown" and after["version_bump"] == "unknown"  # previous had no version
    assert state.features({**probe, "started": 900_000})["version_bump"] == "first"


def test_bad_records_name_the_field():
    state = FeatureState()
    with pytest.raises(ValidationError, match="deployment.started"):
        state.features({"service": "s", "environment": "production", "started": "yesterday-ish"})
    with pytest.raises(ValidationError, match="deployment.environment"):
        state.features({"service": "s", "started": 0})
    with pytest.raises(ValidationError, match="timezone"):
        FeatureConfig(timezone="Mars/Olympus").validate()


def test_unseen_categories_fall_into_the_other_bucket():
    from predictor.features import NUMERIC_FEATURES
    from predictor.models.encoding import FeatureEncoder

    encoder = FeatureEncoder({"environment": ["production", "staging"], "deployment_type": ["canary"],
                              "service_type": [], "version_bump": ["patch"]})
    features = {name: 1.0 for name in NUMERIC_FEATURES}
    features.update({"environment": "moon-base", "deployment_type": "canary", "service_type": "quantum",
                     "version_bump": "patch"})
    row = encoder.vector(features)
    hot = {encoder.columns[i] for i in np.flatnonzero(row[len(NUMERIC_FEATURES):]) + len(NUMERIC_FEATURES)}
    assert hot == {"environment=other", "deployment_type=canary", "service_type=other", "version_bump=patch"}
    assert encoder.column_group[encoder.columns.index("environment=other")] == encoder.groups.index("environment")


def test_vector_equals_the_matrix_row_with_nan_and_infinite_values():
    """vector (one dict, the serving path) and matrix (a frame, training) agree column for
    column: NaN becomes -1 and an infinity the largest finite float in both."""
    from predictor.features import NUMERIC_FEATURES
    from predictor.models.encoding import FeatureEncoder

    encoder = FeatureEncoder({"environment": ["production", "staging"], "deployment_type": ["canary"],
                              "service_type": ["api"], "version_bump": ["patch"]})
    rows = []
    for i, odd in enumerate([None, float("nan"), float("inf"), -float("inf"), 1e300]):
        features = {name: float(j + i) for j, name in enumerate(NUMERIC_FEATURES)}
        if odd is not None:
            features[NUMERIC_FEATURES[i]] = odd
        features.update({"environment": ["production", "staging", "moon"][i % 3], "deployment_type": "canary",
                         "service_type": "api" if i % 2 else "batch", "version_bump": "patch"})
        rows.append(features)
    columns = {name: np.asarray([row[name] for row in rows], dtype=float if name in NUMERIC_FEATURES else object)
               for name in rows[0]}
    frame = type("Frame", (), {"columns": columns, "__len__": lambda self: len(rows)})()
    matrix = encoder.matrix(frame)
    for i, features in enumerate(rows):
        row = encoder.vector(features)
        assert row.dtype == np.float64 and row.shape == (encoder.n_columns,)
        np.testing.assert_array_equal(row, matrix[i])
    assert encoder.vector(rows[1])[1] == -1.0 and encoder.vector(rows[2])[2] == np.finfo(np.float64).max


def test_shared_demo_history_through_ingest_gives_identical_features_and_a_working_model(tmp_path):
    from predictor.demo_data import generate_history
    from predictor.models.runtime import load_answerer
    from predictor.models.train import train_and_register
    from predictor.store import open_store
    from predictor.store.ingest import ingest_records

    history = generate_history(seed=4, services=8, days=45, deployments_per_day=40)
    with open_store(tmp_path / "demo.duckdb") as store:
        ingest_records(store, deployments=history.deployments, services=history.services, source="demo")
        config = FeatureConfig(timezone="Europe/Berlin")
        frame = training_features(store, config)
        assert len(frame) == len(history.deployments)
        state = FeatureState(config)
        for service in history.services:
            state.observe("service", service)
        for record in history.deployments:
            state.observe("deployment", record)
        by_id = {d["id"]: d for d in history.deployments}
        for i in range(len(frame)):
            assert_same(frame.row(i), state.features(by_id[frame.ids[i]]), frame.ids[i])
        assert (frame.columns["change_size"] >= 0).mean() > 0.9
        assert (frame.columns["dependencies"] > 0).any() and (frame.columns["concurrent_neighbours"] > 0).any()
        record = train_and_register(store, evaluate_first=False, plots=False, artifacts_root=tmp_path / "models")
        answer = load_answerer(store).methods["predict"]({"deployment": dict(
            service=history.services[0]["name"], environment="production", started=1_770_000_000)})
        assert answer["model_version"] == record.version and answer["abstained"] is False


def test_record_numbers_equal_the_three_feature_helpers():
    """The serving path reads change size, replicas and configuration keys in one pass; each
    value equals its own helper's (the mirror of the training query) on odd records too."""
    from predictor.features.records import change_size, config_keys, config_replicas, record_numbers

    maps = [None, {}, {"replicas": 3}, {"replicas": "4"}, {"replicas": "x", "a": 1}, '{"replicas": 2, "b": 1}',
            "not json", {"change-size": "17"}, {"lines_changed": 9, "replicas": 5}, {"change_size": float("nan")},
            {"lines-changed": True}, [1, 2]]
    changes = [None, 0, 12.5, "30", "x", float("inf"), True]
    count = 0
    for change in changes:
        for metadata in maps:
            for configuration in maps:
                record = {"change_size": change, "metadata": metadata, "configuration": configuration}
                record = {key: value for key, value in record.items() if value is not None or count % 2}
                count += 1
                expected = (change_size(record), config_replicas(record), config_keys(record))
                assert record_numbers(record) == expected, record
    assert count == len(changes) * len(maps) ** 2
