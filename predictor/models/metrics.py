"""Scores of a failure-risk ranking: discrimination, calibration, and failures caught."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

CATCH_SHARES = (0.05, 0.10, 0.20, 0.50)


def expected_calibration_error(label: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Return the ECE: row-weighted |mean predicted - observed failure rate| over equal-width bins."""
    label, probability = np.asarray(label, float), np.asarray(probability, float)
    index = np.minimum((probability * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(probability[mask].mean() - label[mask].mean())
    return float(total / max(len(label), 1))


def failures_caught(label: np.ndarray, score: np.ndarray, share: float) -> float:
    """Return the share of failures among the riskiest SHARE of deployments by SCORE."""
    label = np.asarray(label, float)
    failures = label.sum()
    if failures == 0:
        return float("nan")
    flagged = max(1, int(round(share * len(label))))
    order = np.argsort(-np.asarray(score, float), kind="stable")[:flagged]
    return float(label[order].sum() / failures)


def score_ranking(label: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Return every metric for scores SCORE (probabilities in [0, 1]) against 0/1 LABEL."""
    label = np.asarray(label, float)
    probability = np.clip(np.asarray(score, float), 1e-6, 1 - 1e-6)
    both = 0 < label.sum() < len(label)
    out = {
        "roc_auc": float(roc_auc_score(label, probability)) if both else float("nan"),
        "pr_auc": float(average_precision_score(label, probability)) if both else float("nan"),
        "log_loss": float(log_loss(label, probability, labels=[0, 1])),
        "brier": float(brier_score_loss(label, probability)),
        "ece": expected_calibration_error(label, probability),
    }
    for share in CATCH_SHARES:
        out[f"caught_at_{int(share * 100)}"] = failures_caught(label, probability, share)
    out["rows"] = int(len(label))
    out["failure_rate"] = float(label.mean()) if len(label) else float("nan")
    return out
