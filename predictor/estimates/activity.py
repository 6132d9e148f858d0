"""What each service has been doing: its deployments, outcomes and failure rate, kept in memory.

Built once from the history and updated by ``observe`` so that served answers (blast radius,
windows) see a deployment recorded a moment ago without a DuckDB query per request.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from predictor.estimates.history import DeploymentHistory, OUTCOME_STATUSES, to_epoch
from predictor.store import FAILED_STATUSES

#: pseudo-count of the smoothed failure rate (prior weight of the fleet-wide base rate)
PRIOR_WEIGHT = 10.0
WEEK = 7 * 86400.0


@dataclass
class ServiceRecord:
    """The deployments of one service: start times (sorted), environments and outcomes."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)          # nan while running / unknown
    environments: list[str] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    outcomes: int = 0
    failures: int = 0


class ServiceActivity:
    """Per-service deployment activity and smoothed failure history, updated incrementally."""

    def __init__(self) -> None:
        self.records: dict[str, ServiceRecord] = {}
        self.total_outcomes = 0
        self.total_failures = 0
        self.latest = float("nan")   # the latest start seen, epoch seconds
        self._by_id: dict[str, str] = {}   # id of an observed deployment -> "open", "ok" or "failed"

    @classmethod
    def from_history(cls, history: DeploymentHistory) -> "ServiceActivity":
        """Build the activity of every service in HISTORY (ordered by start)."""
        activity = cls()
        failed = history.failed
        has_outcome = history.has_outcome
        for i in range(len(history)):
            record = activity.records.setdefault(history.service[i], ServiceRecord())
            record.starts.append(float(history.started[i]))
            record.ends.append(float(history.completed[i]))
            record.environments.append(history.environment[i])
            record.ids.append(history.ids[i])
            activity._by_id[history.ids[i]] = "open"
            if has_outcome[i]:
                activity._by_id[history.ids[i]] = "failed" if failed[i] else "ok"
                record.outcomes += 1
                activity.total_outcomes += 1
                if failed[i]:
                    record.failures += 1
                    activity.total_failures += 1
        if len(history):
            activity.latest = float(history.started[-1])
        return activity

    # -- updates ------------------------------------------------------------------------------
    def observe_deployment(self, deployment: dict) -> None:
        """Add one canonical deployment record, or apply an outcome update to one seen before."""
        service = deployment.get("service")
        started = _epoch(deployment.get("started"))
        if not isinstance(service, str) or started is None:
            return
        ident = deployment.get("id")
        completed = _epoch(deployment.get("completed"))
        record = self.records.setdefault(service, ServiceRecord())
        previous = self._by_id.get(ident) if ident is not None else None
        if previous is None:
            index = bisect.bisect_right(record.starts, started)
            record.starts.insert(index, started)
            record.ends.insert(index, float("nan") if completed is None else completed)
            record.environments.insert(index, str(deployment.get("environment") or ""))
            record.ids.insert(index, ident)
        elif completed is not None and ident in record.ids:
            record.ends[record.ids.index(ident)] = completed
        status = deployment.get("status")
        state = "open"
        if status in OUTCOME_STATUSES:
            state = "failed" if status in FAILED_STATUSES else "ok"
        if previous in ("ok", "failed"):       # undo the outcome counted before
            record.outcomes -= 1
            self.total_outcomes -= 1
            if previous == "failed":
                record.failures -= 1
                self.total_failures -= 1
        if state != "open":
            record.outcomes += 1
            self.total_outcomes += 1
            if state == "failed":
                record.failures += 1
                self.total_failures += 1
        if ident is not None:
            self._by_id[ident] = state
        if not (self.latest >= started):
            self.latest = started

    # -- questions ----------------------------------------------------------------------------
    @property
    def base_failure_rate(self) -> float:
        """The fleet-wide failure rate (0.1 when nothing is known)."""
        return (self.total_failures + 1.0) / (self.total_outcomes + 10.0) if self.total_outcomes else 0.1

    def failure_rate(self, service: str) -> float:
        """The smoothed failure rate of SERVICE (shrunk towards the fleet-wide rate)."""
        record = self.records.get(service)
        base = self.base_failure_rate
        if record is None:
            return base
        return (record.failures + PRIOR_WEIGHT * base) / (record.outcomes + PRIOR_WEIGHT)

    def outcomes(self, service: str) -> int:
        """The number of deployments of SERVICE with a known outcome."""
        record = self.records.get(service)
        return record.outcomes if record else 0

    def deploys_per_week(self, service: str, at: float | None = None, weeks: float = 4.0) -> float:
        """Deployments of SERVICE per week over the WEEKS before AT (default: the latest start)."""
        record = self.records.get(service)
        if record is None or not record.starts:
            return 0.0
        end = self.latest if at is None else at
        lo = bisect.bisect_left(record.starts, end - weeks * WEEK)
        hi = bisect.bisect_right(record.starts, end)
        return (hi - lo) / weeks

    def previous_start(self, service: str, before: float, environment: str | None = None) -> float | None:
        """The start of SERVICE's latest deployment at or before BEFORE (in ENVIRONMENT if given)."""
        record = self.records.get(service)
        if record is None:
            return None
        index = bisect.bisect_right(record.starts, before) - 1
        while index >= 0:
            if environment is None or record.environments[index] == environment:
                return record.starts[index]
            index -= 1
        return None

    def deployments_between(self, service: str, start: float, end: float,
                            environment: str | None = None) -> list[tuple[float, float, str]]:
        """Deployments of SERVICE started in [START, END]: (started, completed or nan, environment)."""
        record = self.records.get(service)
        if record is None:
            return []
        lo = bisect.bisect_left(record.starts, start)
        hi = bisect.bisect_right(record.starts, end)
        return [(record.starts[i], record.ends[i], record.environments[i]) for i in range(lo, hi)
                if environment is None or record.environments[i] == environment]

    def starts_array(self, service: str, environment: str | None = None) -> np.ndarray:
        """All start times of SERVICE (in ENVIRONMENT if given) as a sorted float array."""
        record = self.records.get(service)
        if record is None:
            return np.empty(0)
        if environment is None:
            return np.asarray(record.starts, dtype=float)
        return np.asarray([s for s, e in zip(record.starts, record.environments) if e == environment], dtype=float)


def _epoch(value: object) -> float | None:
    """Return VALUE (epoch number, datetime or ISO string) as epoch seconds, None if absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dt.datetime):
        return to_epoch(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return to_epoch(parsed)
    return None
