"""Model files: save with skops, load only audited types, and the plots written per version.

A model version's directory (``predictor.config.models_dir() / <version>``) holds
``model.skops``, ``evaluation-metrics.json``, ``feature-importance.png``, ``calibration.png``,
``risk-heatmap.png`` and, on request, ``training-data.csv``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio

from predictor.errors import ModelFileError
from predictor.features import FeatureConfig
from predictor.models.encoding import FeatureEncoder
from predictor.models.failure_model import FailureModel, NeighbourPool
from predictor.models.packed import ARRAY_NAMES, PackedEnsemble

MODEL_FILE = "model.skops"
FORMAT = "predictor-failure-model/1"

#: the only types outside skops' defaults a model file may hold; audited: a TreePredictor is
#: a plain holder of a numpy structured array of nodes and the binning thresholds.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def save_model(model: FailureModel, directory: Path) -> Path:
    """Write MODEL to DIRECTORY/model.skops and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = {
        "format": FORMAT,
        "classifier": model.classifier,
        "calibrator": model.calibrator,
        "encoder_vocabulary": model.encoder.vocabulary,
        "packed": {name: model.packed.arrays[name] for name in ARRAY_NAMES},
        "feature_config": model.feature_config.to_dict(),
        "base_rate": float(model.base_rate),
        "neighbours": model.neighbours.to_dict(),
        "meta": json.loads(json.dumps(model.meta, default=str)),
    }
    path = directory / MODEL_FILE
    sio.dump(bundle, path)
    return path


def load_model(path: Path) -> FailureModel:
    """Load a model file, refusing anything that is not a skops file of trusted types."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            head = handle.read(2)
        kind = "a pickle file" if head[:1] == b"\x80" else "not a skops (zip) file"
        raise ModelFileError(f"{path}: refusing to load: {kind}; only skops model files are accepted")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors on malformed archives
        raise ModelFileError(f"{path}: not a valid skops model file: {exc}") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelFileError(f"{path}: refusing to load: untrusted types {unexpected} "
                             f"(trusted: {TRUSTED_TYPES})")
    try:
        bundle = sio.load(path, trusted=TRUSTED_TYPES)
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load the skops model file: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a failure model (expected format {FORMAT!r})")
    encoder = FeatureEncoder(bundle["encoder_vocabulary"])
    packed = PackedEnsemble({name: np.asarray(value) for name, value in bundle["packed"].items()})
    return FailureModel(
        classifier=bundle["classifier"], calibrator=bundle["calibrator"], encoder=encoder, packed=packed,
        feature_config=FeatureConfig.from_dict(bundle["feature_config"]), base_rate=float(bundle["base_rate"]),
        neighbours=NeighbourPool.from_dict(bundle["neighbours"]), meta=dict(bundle["meta"]),
    )


def write_plots(model: FailureModel, directory: Path, frame, evaluation=None) -> list[Path]:
    """Write feature-importance.png, calibration.png and risk-heatmap.png; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    sample = frame.take(np.flatnonzero(~np.isnan(frame.label))[-5000:])
    matrix = model.encoder.matrix(sample)
    contributions = np.zeros(len(model.encoder.groups))
    for row in matrix:
        contributions += np.abs(model.packed.explain_one(row)[2])
    contributions /= max(len(matrix), 1)
    order = np.argsort(contributions)
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.barh([model.encoder.groups[i] for i in order], contributions[order])
    ax.set_xlabel("mean |contribution| to log-odds (path attribution)")
    ax.set_title("What drives the failure model")
    fig.tight_layout()
    written.append(_save(fig, directory / "feature-importance.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    if evaluation is not None and evaluation.test_label is not None:
        label, probability = evaluation.test_label, evaluation.test_scores["model"]
        title = "Calibration on rolling-origin test slices"
    else:
        label, probability = sample.label, model.probability_many(matrix)
        title = "Calibration on the newest training rows"
    bins = np.linspace(0, 1, 11)
    index = np.minimum(np.digitize(probability, bins) - 1, 9)
    xs = [probability[index == b].mean() for b in range(10) if (index == b).any()]
    ys = [label[index == b].mean() for b in range(10) if (index == b).any()]
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.plot(xs, ys, "o-")
    ax.set_xlabel("predicted failure probability")
    ax.set_ylabel("observed failure rate")
    ax.set_title(title)
    fig.tight_layout()
    written.append(_save(fig, directory / "calibration.png"))

    probability = model.probability_many(matrix)
    grid = np.full((7, 24), np.nan)
    hours, days = sample.columns["hour"].astype(int), sample.columns["day_of_week"].astype(int)
    for d in range(7):
        for h in range(24):
            mask = (days == d) & (hours == h)
            if mask.any():
                grid[d, h] = probability[mask].mean()
    fig, ax = plt.subplots(figsize=(10, 3.5))
    image = ax.imshow(grid, aspect="auto", cmap="Reds")
    ax.set_yticks(range(7), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel(f"hour of day ({model.feature_config.timezone})")
    ax.set_title("Mean predicted failure risk by hour of week (newest deployments)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    written.append(_save(fig, directory / "risk-heatmap.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_training_data(frame, path: Path) -> Path:
    """Write the point-in-time feature rows and labels as CSV."""
    import csv

    from predictor.features import ALL_FEATURES

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "service", "started_us", "failed", *ALL_FEATURES])
        for i in range(len(frame)):
            label = frame.label[i]
            writer.writerow([frame.ids[i], frame.services[i], int(frame.started_us[i]),
                             "" if np.isnan(label) else int(label),
                             *(frame.columns[name][i] for name in ALL_FEATURES)])
    return path
