"""Failure-risk answers for one deployment: probability, level, reasons, similar cases.

:class:`FailurePredictor` joins a loaded :class:`FailureModel` with a live
:class:`FeatureState`; the daemon's answerer, ``predictor predict`` and the batch scorer all go
through :meth:`FailurePredictor.answer`. Contributions are path attributions in log-odds
(positive raises the risk); they sum to the raw score minus the model's bias.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from predictor.errors import ValidationError
from predictor.features import CATEGORICAL_FEATURES
from predictor.features.records import epoch_us, record_numbers, to_utc_naive
from predictor.features.serving import FeatureState
from predictor.models.failure_model import FailureModel
from predictor.store import FAILED_STATUSES

try:  # the compiled accept path of the deployment checks (setup.py builds it; optional)
    from predictor._shapes import plain_deployment
except ImportError:
    plain_deployment = None

#: (upper bound, level): probability below the bound gets the level; at or above 0.5 "critical"
RISK_LEVELS = ((0.10, "low"), (0.25, "medium"), (0.50, "high"))
MAX_TIME = 4_102_444_800

DESCRIPTIONS = {
    "hour": "deploying at {value:.0f}:00",
    "day_of_week": "deploying on {weekday}",
    "days_since_previous": "{value:.1f} days since the service's previous deployment",
    "deployments_7d": "{value:.0f} deployments of the service in the last 7 days",
    "deployments_28d": "{value:.0f} deployments of the service in the last 28 days",
    "velocity_trend": "deployment pace {value:.2f}x the 4-week average",
    "dependencies": "{value:.0f} direct dependencies",
    "dependencies_transitive": "{value:.0f} transitive dependencies",
    "dependents": "{value:.0f} services depending on it directly",
    "dependents_transitive": "{value:.0f} services depending on it transitively",
    "past_outcomes": "{value:.0f} finished deployments of the service so far",
    "failure_rate_smoothed": "a historical failure rate of {percent}",
    "failure_streak": "{value:.0f} failures in a row most recently",
    "previous_outcome": "the previous deployment {previous}",
    "typical_duration": "typical duration {value:.0f} s",
    "change_size": "a change of size {value:.0f}",
    "config_replicas": "{value:.0f} replicas",
    "config_keys": "{value:.0f} configuration keys",
    "version_succeeded_elsewhere": "this version {maybe}succeeded in another environment before",
    "version_failed_elsewhere": "this version {maybe}failed in another environment before",
    "concurrent_service": "{value:.0f} other deployments of the service in the preceding hours",
    "concurrent_neighbours": "{value:.0f} deployments of its dependencies or dependents in the preceding hours",
    "environment": "target environment {value}",
    "deployment_type": "deployment type {value}",
    "service_type": "service type {value}",
    "version_bump": "version change: {value}",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def risk_level(probability: float) -> str:
    """Return low / medium / high / critical for a failure probability."""
    for bound, level in RISK_LEVELS:
        if probability < bound:
            return level
    return "critical"


#: the extra template fields a few descriptions need, computed only for them
EXTRA_FIELDS = {
    "day_of_week": lambda numeric: {"weekday": WEEKDAYS[int(numeric) % 7]},
    "failure_rate_smoothed": lambda numeric: {"percent": f"{numeric:.0%}"},
    "previous_outcome": lambda numeric: {
        "previous": {-1.0: "is unknown", 0.0: "succeeded", 1.0: "failed"}.get(numeric, "is unknown")},
    "version_succeeded_elsewhere": lambda numeric: {"maybe": "" if numeric else "never "},
    "version_failed_elsewhere": lambda numeric: {"maybe": "" if numeric else "never "},
}


def describe_factor(feature: str, value: Any, contribution: float) -> str:
    """One sentence for a person: what the factor is and which way it pushes."""
    template = DESCRIPTIONS.get(feature, feature + " = {value}")
    numeric = value if isinstance(value, (int, float)) else 0.0
    if numeric < 0 and feature not in CATEGORICAL_FEATURES and feature != "previous_outcome":
        text = f"{feature.replace('_', ' ')} unknown"
    else:
        extra = EXTRA_FIELDS.get(feature)
        text = template.format(value=value, **extra(numeric)) if extra else template.format(value=value)
    direction = "raises" if contribution > 0 else "lowers"
    return f"{text[0].upper()}{text[1:]} {direction} the risk"


#: describe_factor's sentences by (feature, value, raises); counts and categories repeat a lot
_DESCRIBED: dict[tuple, str] = {}
MAX_DESCRIBED = 8192


def described(feature: str, value: Any, contribution: float) -> str:
    """:func:`describe_factor`, remembered (the cache is cleared whenever it is full)."""
    key = (feature, value, contribution > 0)
    text = _DESCRIBED.get(key)
    if text is None:
        if len(_DESCRIBED) >= MAX_DESCRIBED:
            _DESCRIBED.clear()
        text = _DESCRIBED[key] = describe_factor(feature, value, contribution)
    return text


def validate_deployment(params: Any, field: str) -> dict:
    """Check a wire Deployment map (service, environment, started) and return it with
    ``started`` filled in (default now) as a naive UTC datetime."""
    if plain_deployment is not None and plain_deployment(params):  # surely fine: convert only
        record = dict(params)
        started = params.get("started")
        # epoch seconds the check accepted cannot fail here: no field name is formatted for it
        record["started"] = to_utc_naive(time.time() if started is None else started, field)
        return record
    if not isinstance(params, dict):
        raise ValidationError(field, f"expected a map, found {type(params).__name__}")
    for key in ("service", "environment"):
        value = params.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{field}.{key}", f"expected a non-empty string, found {value!r}")
    for key in ("deployment_type", "version", "id"):
        value = params.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{field}.{key}", f"expected a string or nil, found {type(value).__name__}")
    change = params.get("change_size")
    if change is not None and (isinstance(change, bool) or not isinstance(change, (int, float))
                               or not (0 <= change < math.inf)  # NaN fails both comparisons
                               or (isinstance(change, int) and change >= 2 ** 1024)):  # no float holds it
        raise ValidationError(f"{field}.change_size", f"expected a non-negative integer or nil, found {change!r}")
    for key in ("metadata", "configuration"):
        value = params.get(key)
        if value is not None and not isinstance(value, dict):
            raise ValidationError(f"{field}.{key}", f"expected a map or nil, found {type(value).__name__}")
    started = params.get("started")
    if started is None:
        started = time.time()
    if isinstance(started, (int, float)) and not isinstance(started, bool):
        if not (math.isfinite(started) and 0 <= started <= MAX_TIME):
            raise ValidationError(f"{field}.started",
                                  f"expected epoch seconds between 1970 and 2100, found {started!r}")
    record = dict(params)
    record["started"] = to_utc_naive(started, f"{field}.started")
    return record


class FailurePredictor:
    """A failure model serving answers from a live feature state."""

    def __init__(self, model: FailureModel, state: FeatureState, *, min_history: int | None = None,
                 top_factors: int = 5, similar: int = 3) -> None:
        self.model = model
        self.state = state
        self.version = str(model.meta.get("version", "unregistered"))
        self.min_history = int(model.meta.get("min_history", 5) if min_history is None else min_history)
        self.top_factors = top_factors
        self.similar = similar
        self._seen_in_pool = set(model.neighbours.ids)
        model.neighbours.prepare()
        self._explainer = model.packed.explainer(model.encoder)
        self._base_rate = round(model.base_rate, 6)  # as every answer shows it (round() formats: ~0.4 us)
        self._width = model.encoder.n_columns
        self._row_buffer = np.empty(self._width)
        self._groups = tuple(model.encoder.groups)

    def wire(self) -> Any:
        """The compiled whole-request path of ``predict`` and ``predict_batch``
        (``_kernel.WirePredict``: a request's payload to (id, reply payload, method) in
        one call, None for a request it leaves to the Python path), on this predictor's live
        state; None without the kernel or in a zone not UTC."""
        if self._explainer is None or plain_deployment is None or not self.state.zone_is_utc:
            return None
        from predictor.models import _kernel
        packed = self.model.packed
        calibration = (packed.calibration_kind, float(packed.slope), float(packed.intercept), float(packed.baseline),
                       packed.calibrate_one)
        return _kernel.WirePredict(
            self._explainer, self._groups, _DESCRIBED, described, self.state.service_parts, self.state.versions,
            self.state.kernel_constants, self.model.neighbours.nearest, self._row_buffer, plain_deployment,
            self._base_rate, self.version, calibration, RISK_LEVELS, self.min_history, self.top_factors, self.similar,
            record_numbers, self.state.features)

    def _row(self, features: dict) -> np.ndarray:
        """The model's input row of FEATURES (the encoder's vector, compiled when built). With
        the compiled encoder the row is one buffer reused by every call (no numpy allocation
        per request): valid until the next call, which the single request thread never
        interleaves with its use."""
        if self._explainer is None:
            return self.model.encoder.vector(features)
        row = self._row_buffer
        self._explainer.encode(features, row)
        return row

    def _explain(self, row: np.ndarray) -> tuple[float, list[tuple[int, float]]]:
        """(calibrated probability, the top factors as (group, contribution)) without the
        compiled kernel: the groups of largest |contribution|, ties to the lower group, zeros
        left out (the kernel's ``Explainer.factors`` picks the same)."""
        probability, _raw, contributions = self.model.packed.explain_one(row)
        contribution_of = contributions.tolist()
        # largest |contribution| first, ties in group order (a stable sort, as argsort's "stable")
        order = sorted(range(len(contribution_of)), key=[-abs(c) for c in contribution_of].__getitem__)
        return probability, [(i, contribution_of[i]) for i in order[: self.top_factors] if contribution_of[i] != 0]

    def answer(self, record: dict, *, explain: bool = True) -> dict:
        """Answer for a validated record (``started`` a naive UTC datetime)."""
        features = self.state.features(record)
        row = self._row(features)
        history = int(features["past_outcomes"])
        service = record["service"]
        started_us = epoch_us(record["started"])
        if history < self.min_history:
            similar = self.model.neighbours.nearest(row, service, started_us, self.similar) if explain else []
            return self._abstained(record, history, similar)
        packed = self.model.packed
        if not explain:
            raw = self._explainer.score(row) + packed.baseline if self._explainer is not None else packed.raw_one(row)
            return self._unexplained(record, packed.calibrate_one(raw))
        if self._explainer is not None:  # the factor maps built in the same compiled call as the walk
            raw, factors = self._explainer.factors(row, self.top_factors, features, self._groups, _DESCRIBED, described)
            probability = packed.calibrate_one(packed.baseline + raw)
        else:
            probability, top = self._explain(row)
            groups = self.model.encoder.groups
            factors = []
            for i, contribution in top:
                name = groups[i]
                value = features[name]
                factors.append({"feature": name, "value": value, "contribution": round(contribution, 6),
                                "description": described(name, value, contribution)})
        return {"deployment_id": record.get("id"), "base_rate": self._base_rate,
                "model_version": self.version, "failure_probability": probability,
                "risk_level": risk_level(probability), "abstained": False, "factors": factors,
                "similar_deployments": self.model.neighbours.nearest(row, service, started_us, self.similar)}

    def answer_many(self, records: list[dict]) -> list[dict]:
        """:meth:`answer` with ``explain=False`` for each of RECORDS, the trees walked once for
        all rows (the batch kernel) instead of once per row; same answers, in order."""
        state, encoder, packed = self.state, self.model.encoder, self.model.packed
        pasts = None
        if self._explainer is not None:
            matrix = np.empty((len(records), self._width))
            pasts = state.encode_many(records, self._explainer, matrix)  # no feature maps built
        if pasts is None:
            features = [state.features(record) for record in records]
            pasts = [row["past_outcomes"] for row in features]
            if self._explainer is not None:
                self._explainer.encode_many(features, matrix)
            else:
                matrix = np.array([encoder.values(row) for row in features], dtype=np.float64)
        raws = packed.raw_many(matrix).tolist()
        answers = []
        calibrate, base_rate, version, enough = packed.calibrate_one, self._base_rate, self.version, self.min_history
        for record, past, raw in zip(records, pasts, raws):
            history = int(past)
            if history < enough:
                answers.append(self._abstained(record, history, []))
                continue
            probability = calibrate(raw)  # the map of _unexplained, built inline (it is per row)
            answers.append({"deployment_id": record.get("id"), "base_rate": base_rate, "model_version": version,
                            "failure_probability": probability, "risk_level": risk_level(probability),
                            "abstained": False, "factors": [], "similar_deployments": []})
        return answers

    def _abstained(self, record: dict, history: int, similar: list) -> dict:
        """The answer when the service has too little history: the base rate, and why."""
        base_rate = self._base_rate
        return {"deployment_id": record.get("id"), "base_rate": base_rate, "model_version": self.version,
                "failure_probability": base_rate, "risk_level": risk_level(self.model.base_rate),
                "abstained": True,
                "reason": f"insufficient history: {history} past deployments of {record['service']} "
                          f"(need {self.min_history})",
                "factors": [], "similar_deployments": similar}

    def _unexplained(self, record: dict, probability: float) -> dict:
        """The answer with ``explain=False``: the probability and its level only."""
        return {"deployment_id": record.get("id"), "base_rate": self._base_rate,
                "model_version": self.version, "failure_probability": probability,
                "risk_level": risk_level(probability), "abstained": False, "factors": [], "similar_deployments": []}

    def observe(self, kind: str, record: dict) -> None:
        """Learn a recorded fact; finished deployments also join the similar-deployments pool."""
        self.state.observe(kind, record)
        if kind != "deployment" or record.get("status") not in ("success", *FAILED_STATUSES):
            return
        if record.get("id") in self._seen_in_pool or not record.get("environment"):
            return
        started = to_utc_naive(record.get("started"), "deployment.started")
        row = self._row(self.state.features({**record, "started": started}))
        failed = int(record["status"] in FAILED_STATUSES)
        self.model.neighbours.add(row, record["id"], record["service"], record["environment"],
                                  record.get("deployment_type") or "unknown", epoch_us(started), failed,
                                  record.get("version"), record["status"])
        self._seen_in_pool.add(record["id"])
