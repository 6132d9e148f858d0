"""Score deployment windows with the trained failure model (Models I), as one batch.

The feature row of a hypothetical deployment of SERVICE at time T is the service's state
as of the request (:class:`predictor.features.serving.FeatureState`), with the features that
move with T recomputed for every candidate at once: local hour and weekday, days since the
previous deployment, 7/28-day velocity, and concurrency. Concurrency counts the starts
already known in the preceding hours; beyond the last known start it adds the *typical*
number of starts of the service and its neighbours at that hour of week. The rows are
encoded once and walked through the packed ensemble in one call.
"""

from __future__ import annotations

import numpy as np

from predictor.estimates.windows import (
    HOUR, ConcurrencyProfile, ScoredSlots, WindowRequest, local_clock,
)
from predictor.features import NUMERIC_FEATURES

#: feature groups that move with the start time, gathered into the reasons' terms
TIME_TERMS = {
    "time_of_week": ("hour", "day_of_week"),
    "service_activity": ("days_since_previous", "deployments_7d", "deployments_28d", "velocity_trend"),
    "concurrency": ("concurrent_service", "concurrent_neighbours"),
}
DAY = 86400.0


class FailureModelScorer:
    """A :class:`predictor.estimates.windows.SlotScorer` over the packed failure model."""

    name = "failure-model"

    def __init__(self, packed, encoder, state, version: str, profile: ConcurrencyProfile,
                 tie_break=None) -> None:
        self.packed = packed
        #: callable(starts) -> secondary key among equal probabilities (see windows.TimeOfWeekRates)
        self.tie_break = tie_break
        self.encoder = encoder
        self.state = state
        self.version = version
        self.profile = profile
        self.column = {name: i for i, name in enumerate(NUMERIC_FEATURES)}

    def _starts(self, service: str) -> np.ndarray:
        history = self.state.histories.get(service)
        if history is None or not history.start_times:
            return np.empty(0)
        return np.asarray(history.start_times, dtype=np.float64) / 1e6

    def matrix(self, request: WindowRequest, starts: np.ndarray) -> np.ndarray:
        """The encoded feature rows of REQUEST's deployment starting at each of STARTS."""
        record = {"id": "window-candidate", "service": request.service, "environment": request.environment,
                  "deployment_type": request.deployment_type, "started": float(request.now),
                  "change_size": request.change_size, "version": request.version}
        base = self.state.features(record)
        X = np.tile(self.encoder.vector(base), (len(starts), 1))
        column = self.column
        weekday, minute = local_clock(starts, self.state.config.timezone)
        X[:, column["hour"]] = minute // 60
        X[:, column["day_of_week"]] = weekday
        own = self._starts(request.service)
        before = np.searchsorted(own, starts, "left")
        d7 = before - np.searchsorted(own, starts - 7 * DAY, "left")
        d28 = before - np.searchsorted(own, starts - 28 * DAY, "left")
        previous = np.where(before > 0, own[np.maximum(before - 1, 0)] if len(own) else 0.0, np.nan)
        X[:, column["days_since_previous"]] = np.where(before > 0, (starts - previous) / DAY, -1.0)
        X[:, column["deployments_7d"]] = d7
        X[:, column["deployments_28d"]] = d28
        X[:, column["velocity_trend"]] = (d7 + 1) / (d28 / 4 + 1)
        window = self.state.concurrency_us / 1e6
        X[:, column["concurrent_service"]] = before - np.searchsorted(own, starts - window, "left")
        neighbours = sorted(self.state.graph(request.service)[4])
        latest = own[-1] if len(own) else -np.inf
        concurrent = np.zeros(len(starts))
        for name in neighbours:
            other = self._starts(name)
            if len(other):
                concurrent += np.searchsorted(other, starts, "left") - np.searchsorted(other, starts - window, "left")
                latest = max(latest, other[-1])
        typical = self.profile.expected(neighbours, starts) * (window / (2 * HOUR))
        concurrent += np.where(starts > latest, typical, 0.0)
        X[:, column["concurrent_neighbours"]] = concurrent
        return X

    def score(self, request: WindowRequest, starts: np.ndarray) -> ScoredSlots:
        """Failure probabilities of REQUEST's deployment at every start in STARTS (one batch)."""
        X = self.matrix(request, starts)
        probability = self.packed.probability_many(X)
        groups = self.encoder.groups

        def explain(indices: list[int]) -> dict[str, np.ndarray]:
            out = {name: np.zeros(len(indices)) for name in TIME_TERMS}
            for position, index in enumerate(indices):
                _, _, contributions = self.packed.explain_one(X[index])
                for term, names in TIME_TERMS.items():
                    out[term][position] = sum(contributions[groups.index(n)] for n in names)
            return out

        concurrent = X[:, self.column["concurrent_neighbours"]] + X[:, self.column["concurrent_service"]]
        return ScoredSlots(probability, facts={"expected_concurrent": concurrent}, explain=explain)
