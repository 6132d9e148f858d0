"""The simple rules every evaluation prints next to the model, fitted on the same split.

* ``previous_outcome``: the service's latest known outcome (failed -> 1, succeeded -> 0;
  no history -> the training failure rate);
* ``service_failure_rate``: the smoothed per-service historical failure rate (a feature);
* ``environment_strategy_rule``: pattern learners' confidence rule: 1 - success rate of the
  (environment, deployment type) pair in training, shrunk toward the base rate by n/(n + 10);
* ``experiment_001_forest``: experiment 001's random forest on its per-service aggregate
  features (total deployments, hourly and weekly distribution, failures), computed point in time.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from predictor.features.training import FeatureFrame
from predictor.models.failure_model import training_threads

BASELINES = ("previous_outcome", "service_failure_rate", "environment_strategy_rule", "experiment_001_forest")


def previous_outcome(train: FeatureFrame, test: FeatureFrame) -> np.ndarray:
    """Echo the service's previous outcome."""
    base = float(np.nanmean(train.label))
    previous = test.columns["previous_outcome"]
    return np.where(previous < 0, base, previous)


def service_failure_rate(train: FeatureFrame, test: FeatureFrame) -> np.ndarray:
    """The smoothed per-service failure rate known at start."""
    return test.columns["failure_rate_smoothed"].copy()


def environment_strategy_rule(train: FeatureFrame, test: FeatureFrame, shrink: float = 10.0) -> np.ndarray:
    """1 - confidence of the (environment, deployment type) pattern learned on TRAIN."""
    base = float(np.nanmean(train.label))
    stats: dict[tuple, list[float]] = {}
    for env, kind, label in zip(train.columns["environment"], train.columns["deployment_type"], train.label):
        entry = stats.setdefault((env, kind), [0.0, 0.0])
        entry[0] += label
        entry[1] += 1
    out = np.empty(len(test))
    for i, key in enumerate(zip(test.columns["environment"], test.columns["deployment_type"])):
        failures, n = stats.get(key, (0.0, 0.0))
        weight = n / (n + shrink)
        out[i] = weight * (failures / n if n else base) + (1 - weight) * base
    return out


def _profile_matrix(frame: FeatureFrame, profiles: np.ndarray) -> np.ndarray:
    """Experiment 001's inputs: the service profile plus the deployment's hour, weekday and type."""
    kinds = ("blue-green", "canary", "rolling", "big-bang", "feature-flag", "a-b-test")
    type_columns = np.stack([frame.columns["deployment_type"] == kind for kind in kinds], axis=1).astype(float)
    return np.column_stack([profiles, frame.columns["hour"], frame.columns["day_of_week"], type_columns])


def experiment_001_forest(train: FeatureFrame, test: FeatureFrame, train_profiles: np.ndarray,
                          test_profiles: np.ndarray, *, max_rows: int = 40_000, seed: int = 0) -> np.ndarray:
    """Random forest (100 trees) on point-in-time per-service aggregates, as experiment 001 planned."""
    X, y = _profile_matrix(train, train_profiles), train.label
    if len(X) > max_rows:
        keep = np.random.default_rng(seed).choice(len(X), max_rows, replace=False)
        X, y = X[keep], y[keep]
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=10, max_depth=14, n_jobs=training_threads(), random_state=seed)
    forest.fit(X, y)
    return forest.predict_proba(_profile_matrix(test, test_profiles))[:, 1]


PROFILE_SQL = """
WITH base AS (
    SELECT id, service, epoch_us(started) AS t, hour(started) AS h, isodow(started) - 1 AS wd FROM deployments
)
SELECT id,
       count(*) OVER past AS total,
       {hours},
       {days}
FROM base
WINDOW past AS (PARTITION BY service ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
ORDER BY t, id
"""


def service_profiles(store) -> tuple[np.ndarray, np.ndarray]:
    """Return (ids, matrix) of point-in-time service profiles: total starts before, and the
    share of them in each hour of day (24) and day of week (7), in start order."""
    hours = ",\n       ".join(f"count(*) FILTER (WHERE h = {h}) OVER past AS h{h}" for h in range(24))
    days = ",\n       ".join(f"count(*) FILTER (WHERE wd = {d}) OVER past AS d{d}" for d in range(7))
    # the query text only varies by constant column lists, never by a value
    data = store.con.execute(PROFILE_SQL.format(hours=hours, days=days)).fetchnumpy()
    total = np.asarray(data["total"], float)
    shares = [np.asarray(data[f"h{h}"], float) for h in range(24)] + [np.asarray(data[f"d{d}"], float) for d in range(7)]
    denominator = np.maximum(total, 1)
    matrix = np.column_stack([total] + [share / denominator for share in shares])
    return np.asarray(data["id"], dtype=object), matrix


__all__ = ["BASELINES", "environment_strategy_rule", "experiment_001_forest", "previous_outcome",
           "service_failure_rate", "service_profiles"]
