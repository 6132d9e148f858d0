"""Rolling-origin, time-ordered evaluation of the failure model against the baselines.

The labelled rows, in start order, are cut into an initial training span and FOLDS test slices
covering the last ``test_share`` of the rows. Fold i trains on everything before slice i (the
model calibrates on the latest part of that) and is scored on slice i; every baseline is fitted
and scored on exactly the same split. Metrics are computed on the pooled test predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from predictor.features import FeatureConfig
from predictor.features.training import FeatureFrame
from predictor.models import baselines
from predictor.models.failure_model import fit_failure_model
from predictor.models.metrics import score_ranking

METHODS = ("model",) + baselines.BASELINES


@dataclass
class EvaluationReport:
    """Pooled metrics per method, per-fold ROC AUC, and what the split was."""

    metrics: dict[str, dict[str, float]]
    folds: list[dict] = field(default_factory=list)
    test_label: np.ndarray | None = None
    test_scores: dict[str, np.ndarray] | None = None

    def to_dict(self) -> dict:
        """Plain JSON-able form (for evaluation-metrics.json and --json)."""
        return {"methods": self.metrics, "folds": self.folds}


def rolling_origin_splits(n: int, folds: int, test_share: float) -> list[tuple[int, int]]:
    """Return (test_start, test_end) row positions of each fold's test slice."""
    first = int(n * (1 - test_share))
    edges = np.linspace(first, n, folds + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def evaluate_frame(frame: FeatureFrame, config: FeatureConfig, *, profiles: np.ndarray | None = None,
                   folds: int = 3, test_share: float = 0.3, progress=None, include_forest: bool = True,
                   tree_params: dict | None = None) -> EvaluationReport:
    """Evaluate on FRAME (all rows; unlabelled ones are dropped). PROFILES: the experiment-001
    aggregate matrix aligned with FRAME (needed for that baseline; skipped when None)."""
    labelled_mask = ~np.isnan(frame.label)
    labelled = frame.take(labelled_mask)
    profile_rows = profiles[labelled_mask] if profiles is not None else None
    methods = [m for m in METHODS if include_forest and profile_rows is not None or m != "experiment_001_forest"]
    scores = {m: [] for m in methods}
    labels, fold_info = [], []
    splits = rolling_origin_splits(len(labelled), folds, test_share)
    task = progress.add_task("evaluating (rolling origin)", total=len(splits)) if progress else None
    for number, (start, end) in enumerate(splits, start=1):
        train, test = labelled.take(np.arange(start)), labelled.take(np.arange(start, end))
        model = fit_failure_model(train, config, tree_params=tree_params)
        fold_scores = {"model": model.probability_frame(test),
                       "previous_outcome": baselines.previous_outcome(train, test),
                       "service_failure_rate": baselines.service_failure_rate(train, test),
                       "environment_strategy_rule": baselines.environment_strategy_rule(train, test)}
        if "experiment_001_forest" in methods:
            fold_scores["experiment_001_forest"] = baselines.experiment_001_forest(
                train, test, profile_rows[:start], profile_rows[start:end])
        for method in methods:
            scores[method].append(fold_scores[method])
        labels.append(test.label)
        fold_info.append({"fold": number, "train_rows": int(start), "test_rows": int(end - start),
                          "test_from_us": int(test.started_us[0]), "test_to_us": int(test.started_us[-1]),
                          "roc_auc": {m: score_ranking(test.label, fold_scores[m])["roc_auc"] for m in methods}})
        if progress:
            progress.advance(task)
    label = np.concatenate(labels)
    pooled = {m: np.concatenate(scores[m]) for m in methods}
    metrics = {m: score_ranking(label, pooled[m]) for m in methods}
    return EvaluationReport(metrics=metrics, folds=fold_info, test_label=label, test_scores=pooled)
