"""Duration estimates with honest intervals (p50, p90) and resource fields (cpu, memory, replicas).

The model is conformalized quantile regression: two gradient-boosted quantile regressors
(0.5 and 0.9) of log duration, fitted on the earlier part of the history, then shifted on a
later calibration slice so that the p90 covers 90% of what came after the fit (split
conformal, Romano et al. 2019). Features are point-in-time: the service's past durations
only count once those deployments had completed before this one started.

Resources are not learned: they are the p50/p90 of the values recorded in deployments'
metadata or configuration, per service and environment (per service when the environment
has none).
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from predictor.config import models_dir
from predictor.errors import ModelFileError, ModelNotReadyError
from predictor.estimates.history import RESOURCE_KEYS, DeploymentHistory, load_history
from predictor.store import DEPLOYMENT_TYPES, SERVICE_TYPES, utcnow

#: the fewest deployments with a known duration needed to train
MIN_TRAINING_ROWS = 200
FEATURES = ("service_type", "deployment_type", "environment", "change_size",
            "service_median", "service_p90", "service_env_median", "service_type_median", "service_count",
            "service_env_recent_median")
#: how many of the latest durations make the recent median (follows drift the full median lags)
RECENT = 10
CATEGORICAL = ("service_type", "deployment_type", "environment")
FORMAT = "predictor-duration-model/3"
#: the value unknown numeric features take (trees split it off like any other value)
MISSING = -1e6
RESOURCE_UNITS = {"cpu": "cores", "memory": "MB", "replicas": "replicas"}
#: the only types beyond skops' defaults a duration artifact may hold; anything else is refused.
#: Audited: a TreePredictor holds the nodes of one tree as a numpy structured array.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


class _NoCalibration:
    """The identity map in the shape PackedEnsemble expects of a calibrator (unused for regression)."""

    X_thresholds_ = np.array([0.0, 1.0])
    y_thresholds_ = np.array([0.0, 1.0])


def pinball_loss(actual: np.ndarray, predicted: np.ndarray, quantile: float) -> float:
    """Mean pinball (quantile) loss of PREDICTED against ACTUAL."""
    diff = np.asarray(actual, float) - np.asarray(predicted, float)
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))


class _PastDurations:
    """Log durations of one group, in the order they became known (completed)."""

    __slots__ = ("pending", "known", "recent")

    def __init__(self) -> None:
        self.pending: list[tuple[float, float]] = []   # heap of (completed, log duration)
        self.known: list[float] = []                   # sorted log durations already completed
        self.recent: list[float] = []                  # the latest RECENT of them, in completion order

    def advance(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            value = heapq.heappop(self.pending)[1]
            bisect.insort(self.known, value)
            self.recent.append(value)
            if len(self.recent) > RECENT:
                del self.recent[0]

    def recent_median(self) -> float:
        return float(np.median(self.recent)) if self.recent else math.nan

    def quantile(self, q: float) -> float:
        if not self.known:
            return math.nan
        return self.known[min(len(self.known) - 1, int(q * len(self.known)))]


@dataclass
class DurationState:
    """The past durations per service, (service, environment) and service type, kept up to date."""

    groups: dict[tuple, _PastDurations] = field(default_factory=dict)

    def _group(self, key: tuple) -> _PastDurations:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _PastDurations()
        return group

    def features(self, service: str, service_type: str, environment: str, deployment_type: str | None,
                 change_size: float, started: float) -> list:
        """The feature values of a deployment starting at STARTED (history known by then only)."""
        by_service = self._group(("s", service))
        by_env = self._group(("e", service, environment))
        by_type = self._group(("t", service_type))
        for group in (by_service, by_env, by_type):
            group.advance(started)
        return [service_type, deployment_type or "unknown", environment, change_size,
                by_service.quantile(0.5), by_service.quantile(0.9), by_env.quantile(0.5),
                by_type.quantile(0.5), float(len(by_service.known)), by_env.recent_median()]

    def add(self, service: str, service_type: str, environment: str, completed: float, duration: float) -> None:
        """Record that a deployment finished at COMPLETED after DURATION seconds."""
        if not (duration > 0) or math.isnan(completed):
            return
        value = math.log(duration)
        for key in (("s", service), ("e", service, environment), ("t", service_type)):
            heapq.heappush(self._group(key).pending, (completed, value))

    def history_count(self, service: str) -> int:
        group = self.groups.get(("s", service))
        return 0 if group is None else len(group.known) + len(group.pending)

    def service_median(self, service: str) -> float | None:
        group = self.groups.get(("s", service))
        if group is None:
            return None
        group.advance(math.inf)
        return math.exp(group.quantile(0.5)) if group.known else None


def point_in_time_rows(history: DeploymentHistory) -> tuple[list[list], np.ndarray, DurationState]:
    """Feature rows of every deployment with a known duration, their indices, and the final state."""
    state = DurationState()
    rows, index = [], []
    for i in range(len(history)):
        service = history.service[i]
        service_type = history.service_type_of(service)
        environment = history.environment[i]
        row = state.features(service, service_type, environment, history.deployment_type[i],
                             history.change_size[i], history.started[i])
        duration = history.duration[i]
        if duration > 0 and history.status[i] not in ("pending", "in-progress", "cancelled"):
            rows.append(row)
            index.append(i)
            end = history.completed[i]
            state.add(service, service_type, environment,
                      history.started[i] + duration if math.isnan(end) else end, duration)
    return rows, np.asarray(index, dtype=int), state


class DurationModel:
    """Conformalized p50/p90 duration regressors plus the encodings they need."""

    def __init__(self, max_iter: int = 150, learning_rate: float = 0.08, calibration_fraction: float = 0.25) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.calibration_fraction = calibration_fraction

    # -- encoding -----------------------------------------------------------------------------
    def _matrix(self, rows: list[list]) -> np.ndarray:
        """Numeric features (unknown -> MISSING) followed by one-hot columns of the categories."""
        numeric = [j for j, name in enumerate(FEATURES) if name not in CATEGORICAL]
        width = len(numeric) + sum(len(codes) for codes in self.categories_.values())
        X = np.zeros((len(rows), width))
        for column, j in enumerate(numeric):
            X[:, column] = [MISSING if row[j] is None or row[j] != row[j] else row[j] for row in rows]
        offset = len(numeric)
        for j, name in enumerate(FEATURES):
            if name in CATEGORICAL:
                codes = self.categories_[name]
                for i, row in enumerate(rows):
                    code = codes.get(str(row[j]))
                    if code is not None:
                        X[i, offset + code] = 1.0
                offset += len(codes)
        return X

    def _regressor(self, quantile: float) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            loss="quantile", quantile=quantile, max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=31, min_samples_leaf=30, l2_regularization=1.0, random_state=0)

    def _pack(self) -> None:
        """Pack both regressors into flat arrays (Models I's packed walk): fast single rows."""
        from predictor.models.packed import PackedEnsemble

        width = self.p50_.n_features_in_
        self.packed_ = [PackedEnsemble.from_sklearn(model, _NoCalibration(), np.arange(width), width)
                        for model in (self.p50_, self.p90_)]

    def fit(self, rows: list[list], durations: np.ndarray) -> "DurationModel":
        """Fit on the earlier rows and calibrate on the later CALIBRATION_FRACTION (rows time-ordered)."""
        if len(rows) < MIN_TRAINING_ROWS:
            raise ModelNotReadyError(
                f"duration model: {len(rows)} deployments with a known duration, need {MIN_TRAINING_ROWS}")
        self.categories_ = {}
        for j, name in enumerate(FEATURES):
            if name in CATEGORICAL:
                known = sorted({str(row[j]) for row in rows})
                base = {"service_type": SERVICE_TYPES, "deployment_type": DEPLOYMENT_TYPES}.get(name, ())
                self.categories_[name] = {value: code for code, value in enumerate(dict.fromkeys([*base, *known]))}
        X = self._matrix(rows)
        y = np.log(np.asarray(durations, float))
        cut = int(len(rows) * (1 - self.calibration_fraction))
        # one thread: OpenMP threads spin badly when the machine is shared (the daemon, other jobs)
        with threadpool_limits(1, user_api="openmp"):
            self.p50_ = self._regressor(0.5).fit(X[:cut], y[:cut])
            self.p90_ = self._regressor(0.9).fit(X[:cut], y[:cut])
            residual50 = y[cut:] - self.p50_.predict(X[cut:])
            residual90 = y[cut:] - self.p90_.predict(X[cut:])
        n = len(residual90)
        self.shift50_ = float(np.quantile(residual50, 0.5))
        self.shift90_ = float(np.quantile(residual90, min(1.0, math.ceil((n + 1) * 0.9) / n)))
        self.n_train_ = cut
        self.n_calibration_ = n
        self._pack()
        return self

    def predict(self, rows: list[list]) -> tuple[np.ndarray, np.ndarray]:
        """Return (p50, p90) durations in seconds for feature ROWS (packed walk, no scikit-learn call)."""
        X = self._matrix(rows)
        p50 = np.exp(self.packed_[0].raw_many(X) + self.shift50_)
        p90 = np.exp(self.packed_[1].raw_many(X) + self.shift90_)
        return p50, np.maximum(p90, p50)

    def predict_sklearn(self, rows: list[list]) -> tuple[np.ndarray, np.ndarray]:
        """The same as :meth:`predict` through scikit-learn (the reference the packed form must match)."""
        X = self._matrix(rows)
        with threadpool_limits(1, user_api="openmp"):
            p50 = np.exp(self.p50_.predict(X) + self.shift50_)
            p90 = np.exp(self.p90_.predict(X) + self.shift90_)
        return p50, np.maximum(p90, p50)

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path, metrics: dict | None = None) -> Path:
        """Write model.skops (regressors) and model.json (encodings, shifts, versions, metrics)."""
        import skops.io as sio

        directory.mkdir(parents=True, exist_ok=True)
        sio.dump({"p50": self.p50_, "p90": self.p90_}, directory / "model.skops")
        meta = {"format": FORMAT, "features": list(FEATURES), "categories": self.categories_, "shift50": self.shift50_,
                "shift90": self.shift90_, "n_train": self.n_train_, "n_calibration": self.n_calibration_,
                "params": {"max_iter": self.max_iter, "learning_rate": self.learning_rate,
                           "calibration_fraction": self.calibration_fraction},
                "library_versions": {"sklearn": sklearn.__version__, "numpy": np.__version__,
                                     "python": platform.python_version()},
                "metrics": metrics or {}}
        (directory / "model.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> "DurationModel":
        """Read a model written by :meth:`save`, trusting only TRUSTED_TYPES."""
        import skops.io as sio

        path = directory / "model.skops"
        try:
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
            if untrusted:
                raise ModelFileError(f"{path}: holds types outside the trusted list: {', '.join(untrusted)}")
            parts = sio.load(path, trusted=TRUSTED_TYPES)
            meta = json.loads((directory / "model.json").read_text())
            if meta.get("format") != FORMAT:
                raise ModelFileError(f"{directory / 'model.json'}: expected format {FORMAT!r}, "
                                     f"found {meta.get('format')!r} (retrain with `predictor train`)")
        except ModelFileError:
            raise
        except FileNotFoundError as exc:
            raise ModelFileError(f"{exc.filename}: duration model file missing") from exc
        except Exception as exc:  # skops raises zipfile/key/type errors for foreign files
            raise ModelFileError(f"{path}: not a valid skops duration model ({type(exc).__name__}: {exc})") from exc
        params = meta.get("params", {})
        model = cls(**params)
        model.p50_, model.p90_ = parts["p50"], parts["p90"]
        model.categories_ = meta["categories"]
        model.shift50_, model.shift90_ = meta["shift50"], meta["shift90"]
        model.n_train_, model.n_calibration_ = meta["n_train"], meta["n_calibration"]
        model.metrics_ = meta.get("metrics", {})
        model._pack()
        return model


# -- resources --------------------------------------------------------------------------------
def resource_profiles(history: DeploymentHistory) -> dict[tuple, dict[str, list[float]]]:
    """Recorded cpu/memory/replicas values per (service, environment) and per (service,)."""
    profiles: dict[tuple, dict[str, list[float]]] = {}
    for kind, values in history.resources.items():
        for i in np.flatnonzero(~np.isnan(values)):
            for key in ((history.service[i], history.environment[i]), (history.service[i],)):
                profiles.setdefault(key, {}).setdefault(kind, []).append(float(values[i]))
    return profiles


def resource_estimate(profiles: dict, service: str, environment: str | None) -> dict:
    """p50/p90 of each recorded resource field for SERVICE in ENVIRONMENT (service-wide if none there)."""
    out = {}
    for kind in RESOURCE_KEYS:
        for key, basis in (((service, environment), "service and environment"), ((service,), "service")):
            values = profiles.get(key, {}).get(kind)
            if values:
                array = np.asarray(values)
                out[kind] = {"p50": float(np.quantile(array, 0.5)), "p90": float(np.quantile(array, 0.9)),
                             "count": len(values), "unit": RESOURCE_UNITS[kind], "basis": basis}
                break
    return out


# -- training, evaluation, artifacts -----------------------------------------------------------
def durations_dir() -> Path:
    """Where duration model versions live."""
    return models_dir() / "durations"


def train_durations(store, *, save: bool = True) -> tuple[DurationModel, dict]:
    """Fit the duration model on all of STORE's history; save it as a new version. Return (model, info)."""
    history = load_history(store)
    rows, index, _ = point_in_time_rows(history)
    model = DurationModel().fit(rows, history.duration[index])
    info = {"n_rows": len(rows), "n_train": model.n_train_, "n_calibration": model.n_calibration_,
            "store": _store_name(store),
            "data_to": float(history.started[-1]) if len(history) else None}
    if save:
        version = "duration-" + utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        directory = model.save(durations_dir() / version, info)
        (durations_dir() / "CURRENT").write_text(version + "\n")
        info.update({"version": version, "artifact_dir": str(directory)})
    model.version_ = info.get("version", "unsaved")
    return model, info


def _store_name(store) -> str:
    """The resolved path of STORE's file (which history a model was trained on)."""
    return str(Path(store.path).resolve())


def load_current_durations(store=None) -> DurationModel | None:
    """Load the duration model named in durations/CURRENT; None when none was saved, or when it
    was trained on another store than STORE (models live under PREDICTOR_HOME, stores may not)."""
    pointer = durations_dir() / "CURRENT"
    if not pointer.exists():
        return None
    version = pointer.read_text().strip()
    model = DurationModel.load(durations_dir() / version)
    if store is not None and model.metrics_.get("store") not in (None, _store_name(store)):
        return None
    model.version_ = version
    return model


def evaluate_durations(store, *, holdout_fraction: float = 0.2) -> dict:
    """Time-ordered evaluation: fit on the earlier history, score the last HOLDOUT_FRACTION.

    Returns pinball losses (seconds) of p50 and p90, the p90 coverage, and the same for the
    per-service median (and p90) baseline computed on the training part.
    """
    history = load_history(store)
    rows, index, _ = point_in_time_rows(history)
    durations = history.duration[index]
    cut = int(len(rows) * (1 - holdout_fraction))
    if cut < MIN_TRAINING_ROWS or len(rows) - cut < 20:
        raise ModelNotReadyError(f"duration evaluation: {len(rows)} deployments with a known duration is too few")
    model = DurationModel().fit(rows[:cut], durations[:cut])
    p50, p90 = model.predict(rows[cut:])
    actual = durations[cut:]
    services = history.service[index]
    train_services = services[:cut]
    global50, global90 = np.median(durations[:cut]), np.quantile(durations[:cut], 0.9)
    per50, per90 = {}, {}
    for name in set(train_services):
        values = durations[:cut][train_services == name]
        per50[name], per90[name] = np.median(values), np.quantile(values, 0.9)
    base50 = np.array([per50.get(s, global50) for s in services[cut:]])
    base90 = np.array([per90.get(s, global90) for s in services[cut:]])
    return {
        "n_train": cut, "n_test": len(actual),
        "pinball_p50": pinball_loss(actual, p50, 0.5),
        "pinball_p90": pinball_loss(actual, p90, 0.9),
        "coverage_p90": float(np.mean(actual <= p90)),
        "coverage_p50": float(np.mean(actual <= p50)),
        "baseline_service_median": {
            "pinball_p50": pinball_loss(actual, base50, 0.5),
            "pinball_p90": pinball_loss(actual, base90, 0.9),
            "coverage_p90": float(np.mean(actual <= base90)),
        },
    }
