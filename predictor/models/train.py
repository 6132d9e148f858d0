"""Training entry points: evaluate, fit, save artifacts, register, maybe promote.

``train_and_register`` is what ``predictor train`` and the daemon's background retraining call;
with ``estimates=True`` (``predictor train``, ``predictor demo``) it also fits and saves the
duration model of the estimates area and adds the held-out duration and forecast figures to
the version's evaluation-metrics.json. ``evaluate_everything`` is ``predictor evaluate``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import time
from pathlib import Path

import numpy as np

from predictor.config import models_dir
from predictor.errors import ModelFileError, ModelNotReadyError, ValidationError
from predictor.features import FeatureConfig
from predictor.features.training import FeatureFrame, training_features
from predictor.models import artifacts, registry
from predictor.models.baselines import service_profiles
from predictor.models.evaluation import EvaluationReport, evaluate_frame
from predictor.models.failure_model import fit_failure_model
from predictor.models.metrics import score_ranking
from predictor.models.registry import ModelRecord
from predictor.store import utcnow

PROMOTE_CHOICES = ("if-better", "always", "never")
DEFAULT_MIN_HISTORY = 5
#: a challenger may trail the champion by this much ROC AUC on the newest slice and still be promoted
PROMOTION_TOLERANCE = 0.005


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on."""
    import duckdb
    import numpy
    import sklearn
    import skops

    return {"python": platform.python_version(), "numpy": numpy.__version__, "scikit-learn": sklearn.__version__,
            "skops": skops.__version__, "duckdb": duckdb.__version__}


@contextlib.contextmanager
def _progress(enabled: bool):
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as progress:
        yield progress


def _step(progress, description: str):
    """Add a one-unit task; return a callable that completes it."""
    if progress is None:
        return lambda: None
    task = progress.add_task(description, total=1)
    return lambda: progress.advance(task)


def load_frames(store, config: FeatureConfig, *, with_profiles: bool, progress=None):
    """Compute the point-in-time features (and experiment 001's profiles) of the whole store."""
    done = _step(progress, "computing point-in-time features")
    frame = training_features(store, config)
    profiles = None
    if with_profiles:
        ids, profiles = service_profiles(store)
        if len(ids) != len(frame) or not (ids == frame.ids).all():
            raise RuntimeError("service profiles and features are not aligned")
    done()
    labelled = int((~np.isnan(frame.label)).sum())
    if labelled < 100:
        raise ModelNotReadyError(f"only {labelled} finished deployments in the store; need at least 100 to train "
                                 "(run `predictor ingest` first)")
    return frame, profiles


def evaluate(store, *, config: FeatureConfig | None = None, folds: int = 3, test_share: float = 0.3,
             include_forest: bool = True, progress: bool = False) -> EvaluationReport:
    """Run the rolling-origin evaluation of the model and every baseline on STORE's history."""
    config = (config or FeatureConfig()).validate()
    if folds < 1 or not 0 < test_share < 1:
        raise ValidationError("folds", "expected folds >= 1 and 0 < test_share < 1")
    with _progress(progress) as bar:
        frame, profiles = load_frames(store, config, with_profiles=include_forest, progress=bar)
        return evaluate_frame(frame, config, profiles=profiles, folds=folds, test_share=test_share,
                              progress=bar, include_forest=include_forest)


def estimates_evaluation(store) -> dict:
    """Held-out figures of the estimates area next to their baselines (see ``evaluate_estimates``).

    ``durations``: pinball loss p50/p90 and p50/p90 coverage of the duration model and of the
    per-service median; ``forecast``: daily and weekly MAE of the volume forecast and of the
    seasonal-naive baseline. A part with too little history carries ``insufficient_history``.
    """
    from predictor.estimates.runtime import evaluate_estimates

    return evaluate_estimates(store)


def evaluate_everything(store, *, config: FeatureConfig | None = None, folds: int = 3, test_share: float = 0.3,
                        include_forest: bool = True, progress: bool = False, estimates: bool = True) -> dict:
    """``predictor evaluate``: the failure model's rolling-origin report as a dict, plus (with
    ESTIMATES) the estimates area's held-out figures under the key ``estimates``."""
    report = evaluate(store, config=config, folds=folds, test_share=test_share, include_forest=include_forest,
                      progress=progress).to_dict()
    if estimates:
        with _progress(progress) as bar:
            done = _step(bar, "evaluating duration estimates and the volume forecast")
            report["estimates"] = estimates_evaluation(store)
            done()
    return report


def train_duration_model(store) -> dict:
    """Fit and save the duration model (``train_durations``); return its info, or ``{"error": why}``."""
    from predictor.estimates.durations import train_durations

    try:
        _, info = train_durations(store)
    except ModelNotReadyError as exc:
        return {"error": str(exc)}
    return info


def _new_version(store) -> str:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    version, n = f"failure-{stamp}", 1
    while store.con.execute("SELECT count(*) FROM models WHERE version = ?", [version]).fetchone()[0]:
        n += 1
        version = f"failure-{stamp}-{n}"
    return version


def _champion_auc_on(store, frame: FeatureFrame) -> float | None:
    """ROC AUC of the current champion on FRAME's labelled rows, or None when unusable."""
    current = registry.champion(store, "failure")
    if current is None:
        return None
    try:
        model = artifacts.load_model(current.artifact_dir / artifacts.MODEL_FILE)
    except ModelFileError:
        return None
    return score_ranking(frame.label, model.probability_frame(frame))["roc_auc"]


def train_and_register(store, *, promote: str = "if-better", progress: bool = False,
                       config: FeatureConfig | None = None, folds: int = 3, test_share: float = 0.3,
                       include_forest: bool = True, evaluate_first: bool = True, plots: bool = True,
                       training_data: bool = False, min_history: int = DEFAULT_MIN_HISTORY,
                       artifacts_root: Path | None = None, estimates: bool = False) -> ModelRecord:
    """Train a failure model on all of STORE's history, write its artifacts, register it.

    PROMOTE: "always"; "never"; or "if-better" (default): become champion when there is none,
    or when its ROC AUC on the newest slice (the latest ``CALIBRATION_SHARE`` of rows) is not
    worse than the champion's by more than PROMOTION_TOLERANCE. EVALUATE_FIRST runs the
    rolling-origin evaluation (with baselines) and stores it in evaluation-metrics.json.
    ESTIMATES also fits and saves the duration model (under models_dir()/durations, whatever
    ARTIFACTS_ROOT says, since the estimates area loads it from there; its info goes to the
    metrics as ``duration_model``) and, with EVALUATE_FIRST, adds the held-out duration and
    forecast figures with their baselines as ``estimates``.
    """
    if promote not in PROMOTE_CHOICES:
        raise ValidationError("promote", f"expected one of {', '.join(PROMOTE_CHOICES)}, got {promote!r}")
    config = (config or FeatureConfig()).validate()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    with _progress(progress) as bar:
        frame, profiles = load_frames(store, config, with_profiles=evaluate_first and include_forest, progress=bar)
        lap("features_s")
        report = None
        if evaluate_first:
            report = evaluate_frame(frame, config, profiles=profiles, folds=folds, test_share=test_share,
                                    progress=bar, include_forest=include_forest)
            lap("evaluation_s")
        done = _step(bar, "fitting trees and calibration")
        model = fit_failure_model(frame, config)
        done()
        lap("fit_s")
        version = _new_version(store)
        directory = (artifacts_root or models_dir()) / version
        model.meta.update({"version": version, "min_history": int(min_history),
                           "library_versions": library_versions()})
        done = _step(bar, "writing artifacts")
        artifacts.save_model(model, directory)
        lap("save_s")
        duration_model = estimates_figures = None
        if estimates:
            done_durations = _step(bar, "fitting the duration model")
            duration_model = train_duration_model(store)
            done_durations()
            lap("durations_s")
            if evaluate_first:
                done_durations = _step(bar, "evaluating duration estimates and the volume forecast")
                estimates_figures = estimates_evaluation(store)
                done_durations()
                lap("estimates_evaluation_s")
        labelled = frame.take(~np.isnan(frame.label))
        newest = labelled.take(np.arange(int(len(labelled) * 0.8), len(labelled)))
        newest_auc = score_ranking(newest.label, model.probability_frame(newest))["roc_auc"]
        metrics = {"evaluation": report.to_dict() if report else None,
                   "newest_slice": {"rows": len(newest), "roc_auc": newest_auc},
                   "base_rate": model.base_rate, "feature_config": config.to_dict(),
                   "n_train": model.meta["n_train"], "n_calibration": model.meta["n_calibration"],
                   "timings": timings}
        if estimates:
            metrics["duration_model"] = duration_model
            metrics["estimates"] = estimates_figures
        (directory / "evaluation-metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        if plots:
            artifacts.write_plots(model, directory, frame, report)
        if training_data:
            artifacts.write_training_data(frame, directory / "training-data.csv")
        lap("plots_and_metrics_s")
        done()
    champion_auc = _champion_auc_on(store, newest) if promote == "if-better" else None
    metrics["newest_slice"]["champion_roc_auc"] = champion_auc
    record = ModelRecord(
        version=version, kind="failure", created_at=utcnow(),
        data_from=_from_us(model.meta["data_from_us"]), data_to=_from_us(model.meta["data_to_us"]),
        n_train=int(model.meta["n_train"] + model.meta["n_calibration"]),
        metrics=json.loads(json.dumps(metrics, default=float)), library_versions=library_versions(),
        artifact_dir=directory, champion=False, promoted_at=None,
    )
    registry.register(store, record)
    if promote == "always" or (promote == "if-better" and (
            champion_auc is None or np.isnan(champion_auc) or newest_auc >= champion_auc - PROMOTION_TOLERANCE)):
        reason = "trained" if promote == "always" else f"if-better: newest-slice AUC {newest_auc:.4f} vs " \
                 f"champion {champion_auc if champion_auc is None else round(champion_auc, 4)}"
        return registry.promote(store, version, reason=reason)
    return registry.get_model(store, version)


def _from_us(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(value))
