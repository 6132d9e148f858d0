"""Point-in-time features of a deployment: only what was known when it started.

Two paths give the same values (tested):

* :func:`predictor.features.training.training_features` computes every deployment's features
  in one DuckDB query (window functions over a stream of start and outcome events);
* :class:`predictor.features.serving.FeatureState` keeps the history in memory, is updated one
  record at a time, and answers the features of a deployment as of its start time.

"Known when it started" means: other deployments of the same service that started strictly
earlier count as activity; an outcome counts only when that deployment *completed* strictly
before this one started (an earlier deployment still running reveals nothing). The dependency
graph and service types are taken as currently declared (the store keeps no history of them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: numeric features, in matrix order (see :mod:`predictor.models.encoding`)
NUMERIC_FEATURES: tuple[str, ...] = (
    "hour",                      # hour of day in the configured time zone, 0-23
    "day_of_week",               # 0 = Monday ... 6 = Sunday, configured time zone
    "days_since_previous",       # since the service's previous start (any environment); -1 when none
    "deployments_7d",            # the service's starts in the preceding 7 days
    "deployments_28d",           # ... and 28 days
    "velocity_trend",            # (7d + 1) / (28d / 4 + 1): above 1 means speeding up
    "dependencies",              # direct dependencies (service_dependencies)
    "dependencies_transitive",   # everything reachable through dependencies
    "dependents",                # services that depend on this one directly
    "dependents_transitive",     # ... and transitively
    "past_outcomes",             # finished (success or failed) deployments known at start
    "failure_rate_smoothed",     # (failures + s*m) / (outcomes + s), Beta(s*m, s*(1-m)) prior
    "failure_streak",            # consecutive failures among the latest known outcomes
    "previous_outcome",          # -1 none known, 0 success, 1 failed (latest known outcome)
    "typical_duration",          # mean duration (s) of known outcomes; -1 when none
    "change_size",               # column, else metadata change_size / lines_changed (or kebab-case); -1 unknown
    "config_replicas",           # configuration or metadata "replicas"; -1 unknown
    "config_keys",               # number of keys in the configuration object
    "version_succeeded_elsewhere",  # same service+version succeeded in another environment before
    "version_failed_elsewhere",     # ... or failed there
    "concurrent_service",        # the service's starts in the preceding `concurrency_hours`
    "concurrent_neighbours",     # starts of direct dependencies and dependents in that window
)

#: categorical features (encoded one-hot with an "other" bucket by the model)
CATEGORICAL_FEATURES: tuple[str, ...] = ("environment", "deployment_type", "service_type", "version_bump")

ALL_FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

#: statuses that give an outcome to learn from, and those of them that count as failed
OUTCOME_STATUSES = ("success", "failure", "rolled-back", "partial")


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed; stored with each model so serving computes the same thing."""

    timezone: str = "UTC"
    concurrency_hours: float = 2.0
    prior_mean: float = 0.15
    prior_strength: float = 5.0

    def to_dict(self) -> dict:
        """Return the configuration as a plain dict (for model metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureConfig":
        """Build a configuration from :meth:`to_dict` output (unknown keys ignored)."""
        known = {k: data[k] for k in ("timezone", "concurrency_hours", "prior_mean", "prior_strength") if k in data}
        return cls(**known)

    def validate(self) -> "FeatureConfig":
        """Check the time zone exists and the numbers make sense; return self."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from predictor.errors import ValidationError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError("timezone", f"unknown time zone {self.timezone!r}") from exc
        if self.concurrency_hours <= 0:
            raise ValidationError("concurrency_hours", f"expected a positive number, found {self.concurrency_hours}")
        if not 0 < self.prior_mean < 1 or self.prior_strength <= 0:
            raise ValidationError("prior", "expected 0 < prior_mean < 1 and prior_strength > 0")
        return self
