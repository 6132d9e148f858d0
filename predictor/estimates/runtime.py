"""The estimates area as the daemon sees it: ``load_answerer(store)`` and its wire methods.

Methods (params and results are wire-shaped: snake_case keys, times in UTC epoch seconds):

* ``analyze_risk``: blast radius of a failed deployment over the dependency graph;
* ``estimate``: p50/p90 duration and recorded resource fields;
* ``forecast``: deployments per day and week per service and environment;
* ``suggest_time``: the best deployment windows over a range, under constraints.

Everything is read from the store once; ``observe`` keeps it current without a query per
request. The CLI uses the same answerer built lazily (only what a command needs).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from predictor.errors import ModelFileError, ModelNotReadyError, PredictorError, ValidationError
from predictor.estimates.activity import ServiceActivity, _epoch
from predictor.estimates.graph import BlastRadiusAnalyzer, DependencyGraph, parse_dependency_overrides
from predictor.estimates.history import DeploymentHistory, load_history

if TYPE_CHECKING:
    from predictor.estimates.forecast import VolumeForecaster

# durations, forecast and windows import scikit-learn and scipy (seconds on a busy machine):
# they are imported where first needed, so `predictor risk` starts fast.
DAY = 86400.0
log = logging.getLogger(__name__)


def _text(params: dict, key: str, where: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = params.get(key, default)
    if value is None:
        if required:
            raise ValidationError(f"{where}.{key}", "required")
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
    return value


def _time(params: dict, key: str, where: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        parsed = _epoch(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValidationError(f"{where}.{key}", f"expected UTC epoch seconds, got {value!r}")
        return parsed
    if not math.isfinite(value):
        raise ValidationError(f"{where}.{key}", f"expected finite epoch seconds, got {value!r}")
    return float(value)


def _deployment(params: dict) -> tuple[dict, str]:
    """The deployment described by PARAMS (nested under "deployment" or at top level)."""
    if not isinstance(params, dict):
        raise ValidationError("params", f"expected an object, got {type(params).__name__}")
    nested = params.get("deployment")
    if nested is not None:
        if not isinstance(nested, dict):
            raise ValidationError("params.deployment", f"expected an object, got {type(nested).__name__}")
        return nested, "params.deployment"
    return params, "params"


class EstimatesAnswerer:
    """Serves analyze_risk, estimate, forecast and suggest_time from in-memory state."""

    def __init__(self, store, *, eager: bool = True) -> None:
        self._store = store
        self._history: DeploymentHistory | None = None
        self._graph: DependencyGraph | None = None
        self._activity: ServiceActivity | None = None
        self._durations: tuple | None = None
        self._blast: BlastRadiusAnalyzer | None = None
        self._forecaster: VolumeForecaster | None = None
        self._scorer = None
        self._observed_starts: list[tuple[str, str, float]] = []
        self._window_lengths: dict[tuple, float] = {}
        self.methods: dict[str, Callable[[dict], dict]] = {
            "analyze_risk": self.analyze_risk,
            "estimate": self.estimate,
            "forecast": self.forecast,
            "suggest_time": self.suggest_time,
        }
        if eager:
            if not len(self.history) and not self.graph.services:
                raise ModelNotReadyError("estimates: the store holds no deployments or services yet "
                                         "(run `predictor ingest` first)")
            self.blast
            self.durations
            self.forecaster
            self.scorer
            self._store = None   # everything needed is in memory now

    @property
    def version(self) -> str:
        """The models behind the answers: window scorer and duration model versions."""
        scorer = self._scorer.version if self._scorer else "none"
        durations = getattr(self._durations[0], "version_", None) if self._durations else None
        return f"windows:{scorer} durations:{durations or 'none'}"

    # -- components (built on first use) ------------------------------------------------------
    @property
    def history(self) -> DeploymentHistory:
        if self._history is None:
            self._history = load_history(self._store)
        return self._history

    @property
    def graph(self) -> DependencyGraph:
        if self._graph is None:
            self._graph = DependencyGraph.from_store(self._store)
            self._graph.warm()
        return self._graph

    @property
    def activity(self) -> ServiceActivity:
        if self._activity is None:
            self._activity = ServiceActivity.from_history(self.history)
        return self._activity

    @property
    def blast(self) -> BlastRadiusAnalyzer:
        if self._blast is None:
            self._blast = BlastRadiusAnalyzer(self.graph, self.activity)
        return self._blast

    @property
    def durations(self) -> tuple:
        """(model or None, why not, DurationState, resource profiles)."""
        if self._durations is None:
            from predictor.estimates.durations import (
                load_current_durations, point_in_time_rows, resource_profiles, train_durations,
            )

            _, _, state = point_in_time_rows(self.history)
            profiles = resource_profiles(self.history)
            model, missing = None, None
            try:
                try:
                    model = load_current_durations(self._store)
                except ModelFileError as exc:     # an older or damaged artifact: learn a new one
                    if self._store is None:
                        raise
                    log.warning("duration model not loaded (%s); training a new one", exc)
                    model = None
                if model is None and self._store is not None:
                    model, _ = train_durations(self._store)
            except ModelNotReadyError as exc:
                missing = str(exc)
            self._durations = (model, missing, state, profiles)
        return self._durations

    @property
    def forecaster(self):
        from predictor.estimates.forecast import VolumeForecaster

        if self._forecaster is None and len(self.history):
            self._forecaster = VolumeForecaster(self.history)
        return self._forecaster

    @property
    def scorer(self):
        """The window scorer: the failure model when trained, else the history's risk surface."""
        from predictor.estimates.windows import RiskSurface

        if self._scorer is None:
            self._scorer = load_failure_scorer(self._store, self.history) if self._store is not None else None
            if self._scorer is None:
                try:
                    self._scorer = RiskSurface().fit(self.history, self.graph, self.activity)
                except ModelNotReadyError:
                    self._scorer = False
        return self._scorer or None

    # -- updates ------------------------------------------------------------------------------
    def observe(self, kind: str, record: dict) -> None:
        """Take in a recorded deployment, rollback or service so answers see it at once."""
        if self._blast is not None and kind in ("service", "deployment"):
            self._blast.invalidate(record.get("service") if kind == "deployment" else None)
        if kind == "service":
            name = record.get("name")
            if isinstance(name, str) and record.get("dependencies") is not None and self._graph is not None:
                self._graph.set_dependencies(name, [d for d in record["dependencies"] if isinstance(d, dict)])
            if isinstance(name, str) and record.get("type") and self._history is not None:
                self._history.service_types[name] = record["type"]
            return
        if kind != "deployment":
            return
        if self._activity is not None:
            known = record.get("id") in self._activity._by_id
            self._activity.observe_deployment(record)
        else:
            known = False
        started = _epoch(record.get("started"))
        service, environment = record.get("service"), record.get("environment")
        if started is None or not isinstance(service, str):
            return
        if not known:
            self._observed_starts.append((service, str(environment or ""), started))
            self._forecaster = None
            if self._scorer:
                self._scorer.profile.observe(service, started)
        if self._scorer and hasattr(self._scorer, "state"):    # the failure model's feature state
            try:
                self._scorer.state.observe("deployment", record)
            except PredictorError as exc:   # a record the feature state cannot take must not stop the rest
                log.warning("window scorer did not take deployment %r: %s", record.get("id"), exc)
        if self._durations is not None:
            completed = _epoch(record.get("completed"))
            duration = record.get("duration_seconds")
            if duration is None and completed is not None:
                duration = completed - started
            if isinstance(duration, (int, float)) and record.get("status") in ("success", "failure", "rolled-back", "partial"):
                state = self._durations[2]
                state.add(service, self.history.service_type_of(service), str(environment or ""),
                          completed if completed is not None else started + duration, float(duration))

    # -- methods ------------------------------------------------------------------------------
    def analyze_risk(self, params: dict) -> dict:
        """Blast radius, criticality, concurrency and combined risk of a deployment failing."""
        deployment, where = _deployment(params)
        service = _text(deployment, "service", where, required=True)
        environment = _text(deployment, "environment", where)
        at = _time(deployment, "started", where)
        if at is None:
            at = _time(params, "at", "params")
        if at is None:
            at = time.time()
        probability = params.get("failure_probability")
        if probability is not None and (isinstance(probability, bool) or not isinstance(probability, (int, float))
                                        or not 0 <= probability <= 1):
            raise ValidationError("params.failure_probability", f"expected a number in [0, 1], got {probability!r}")
        max_depth = params.get("max_depth")
        if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1):
            raise ValidationError("params.max_depth", f"expected a positive integer, got {max_depth!r}")
        overrides = parse_dependency_overrides(service, params.get("dependencies"))
        return self.blast.analyze(service, environment=environment, at=at, failure_probability=probability,
                                  dependencies=overrides, max_depth=max_depth)

    def estimate(self, params: dict) -> dict:
        """p50/p90 duration and resource fields of a deployment."""
        deployment, where = _deployment(params)
        service = _text(deployment, "service", where, required=True)
        environment = _text(deployment, "environment", where, default="production")
        deployment_type = _text(deployment, "deployment_type", where)
        change = deployment.get("change_size")
        if change is not None and (isinstance(change, bool) or not isinstance(change, (int, float)) or change < 0):
            raise ValidationError(f"{where}.change_size", f"expected a number >= 0, got {change!r}")
        started = _time(deployment, "started", where) or time.time()
        from predictor.estimates.durations import resource_estimate

        model, missing, state, profiles = self.durations
        history_count = state.history_count(service)
        result = {"service": service, "environment": environment, "deployment_type": deployment_type,
                  "resources": resource_estimate(profiles, service, environment)}
        if model is None:
            result.update({"duration": None, "model_version": None,
                           "insufficient_history": missing or "no duration model trained"})
            return result
        row = state.features(service, self.history.service_type_of(service), environment, deployment_type,
                             float("nan") if change is None else float(change), started)
        p50, p90 = model.predict([row])
        median = state.service_median(service)
        result.update({
            "duration": {"p50": round(float(p50[0]), 3), "p90": round(float(p90[0]), 3), "unit": "seconds",
                         "history_count": history_count,
                         "service_median": None if median is None else round(median, 3)},
            "model_version": getattr(model, "version_", None),
            "insufficient_history": None if history_count >= 5 else
            f"only {history_count} past deployment(s) of {service}: the estimate leans on similar services",
        })
        return result

    def forecast(self, params: dict) -> dict:
        """Deployments per day and week for the next weeks."""
        if not isinstance(params, dict):
            raise ValidationError("params", f"expected an object, got {type(params).__name__}")
        service = _text(params, "service", "params")
        environment = _text(params, "environment", "params")
        weeks = params.get("weeks", 2)
        if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= 26:
            raise ValidationError("params.weeks", f"expected an integer 1-26, got {weeks!r}")
        start = _time(params, "from", "params")
        forecaster = self._current_forecaster()
        if forecaster is None:
            raise ModelNotReadyError("forecast: no deployments in the history yet")
        return forecaster.forecast(service, environment, weeks=weeks,
                                   start_day=None if start is None else int(math.floor(start / DAY)))

    def _current_forecaster(self):
        from predictor.estimates.forecast import VolumeForecaster

        if self._forecaster is None and self._observed_starts and len(self.history):
            self._forecaster = VolumeForecaster(_with_starts(self.history, self._observed_starts))
        return self.forecaster

    def suggest_time(self, params: dict) -> dict:
        """The best deployment windows over a range, with reasons."""
        if not isinstance(params, dict):
            raise ValidationError("params", f"expected an object, got {type(params).__name__}")
        from predictor.estimates.windows import parse_window_request, suggest_windows

        request = parse_window_request(params, default_now=time.time())
        scorer = self.scorer
        if scorer is None:
            raise ModelNotReadyError("suggest_time: no failure model and too little history to learn the risk "
                                     "surface (need 100 outcomes with 5 failures)")
        typical = None
        if request.window_minutes is None:
            typical = self._window_duration(request)
        return suggest_windows(scorer, self.activity, request, typical_duration=typical)

    def _window_duration(self, request) -> float | None:
        """The p90 duration estimate used as the window length (cached per kind of deployment)."""
        model, _, state, _ = self.durations
        if model is None:
            return None
        key = (request.service, request.environment, request.deployment_type, request.change_size)
        cached = self._window_lengths.get(key)
        if cached is None:
            row = state.features(request.service, self.history.service_type_of(request.service), request.environment,
                                 request.deployment_type, float("nan") if request.change_size is None
                                 else request.change_size, request.now)
            cached = float(model.predict([row])[1][0])
            if len(self._window_lengths) > 4096:
                self._window_lengths.clear()
            self._window_lengths[key] = cached
        return cached


def _with_starts(history: DeploymentHistory, observed: list[tuple[str, str, float]]) -> DeploymentHistory:
    """HISTORY's service/environment/start columns extended by OBSERVED starts (for the forecast)."""
    services = np.concatenate([history.service, np.array([o[0] for o in observed], dtype=object)])
    environments = np.concatenate([history.environment, np.array([o[1] for o in observed], dtype=object)])
    starts = np.concatenate([history.started, [o[2] for o in observed]])
    order = np.argsort(starts, kind="stable")
    empty = np.full(len(starts), np.nan)
    return DeploymentHistory(ids=np.empty(len(starts), dtype=object), service=services[order],
                             environment=environments[order], deployment_type=np.empty(len(starts), dtype=object),
                             status=np.full(len(starts), "pending", dtype=object), started=starts[order],
                             completed=empty, duration=empty, change_size=empty)


def load_failure_scorer(store, history: DeploymentHistory):
    """The champion failure model (Models I) as a window scorer, or None when none is trained."""
    rows = store.con.execute(
        "SELECT version, artifact_dir FROM models WHERE kind = 'failure' AND champion ORDER BY promoted_at DESC"
    ).fetchall()
    if not rows:
        return None
    try:
        from predictor.estimates.failure_scorer import FailureModelScorer
        from predictor.estimates.windows import ConcurrencyProfile, TimeOfWeekRates
        from predictor.features.serving import FeatureState
        from predictor.models.artifacts import MODEL_FILE, load_model
    except ImportError:
        return None
    version, directory = rows[0]
    model = load_model(Path(directory) / MODEL_FILE)   # ModelFileError for a bad file: say so, do not hide it
    state = FeatureState.from_store(store, model.feature_config)
    return FailureModelScorer(model.packed, model.encoder, state, version, ConcurrencyProfile(history),
                              tie_break=TimeOfWeekRates(history))


def load_answerer(store) -> EstimatesAnswerer:
    """Build the estimates answerer from STORE (raises ModelNotReadyError on an empty store)."""
    return EstimatesAnswerer(store, eager=True)


def answer(store, method: str, params: dict) -> dict:
    """Answer one wire METHOD on STORE directly (the CLI's path: builds only what it needs)."""
    answerer = EstimatesAnswerer(store, eager=False)
    return answerer.methods[method](params)


def evaluate_estimates(store) -> dict:
    """Held-out evaluation of the duration model and the volume forecast, with their baselines.

    ``durations``: pinball loss p50/p90 and p90 coverage on the latest 20% (time-ordered), next
    to the per-service median; ``forecast``: daily and weekly MAE on the last two full weeks,
    next to seasonal-naive (same weekday of the last observed week).
    """
    from predictor.estimates.durations import evaluate_durations
    from predictor.estimates.forecast import evaluate_forecast

    out: dict = {}
    for name, run in (("durations", lambda: evaluate_durations(store)),
                      ("forecast", lambda: evaluate_forecast(load_history(store)))):
        try:
            out[name] = run()
        except ModelNotReadyError as exc:
            out[name] = {"insufficient_history": str(exc)}
    return out
