"""Executions and rollbacks as the pattern learner sees them, and the in-memory history.

An :class:`Execution` is one row of ``deployments`` with the pattern learner's details (strategy,
configuration, resources, failure reasons, rollback flags). :class:`History` holds every
execution and rollback of a store in memory, so the daemon can answer without a DuckDB query
per request and fold new facts in with :meth:`History.observe`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable

from predictor.errors import ValidationError
from predictor.store import FAILED_STATUSES

#: rollback statuses that mean the rollback restored the previous version
ROLLBACK_SUCCEEDED = ("success", "succeeded", "completed", "complete", "done")
#: rollback statuses that mean it did not
ROLLBACK_FAILED = ("failure", "failed", "partial", "error", "aborted")


def to_datetime(value: Any, field_name: str = "time") -> dt.datetime | None:
    """Return VALUE (datetime, epoch seconds or ISO-8601 text) as a naive UTC datetime, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise ValidationError(field_name, f"expected a time (epoch seconds or ISO-8601), got bool {value!r}")
    if isinstance(value, (int, float)):
        return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(value))
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(field_name, f"expected a time (epoch seconds or ISO-8601), got {value!r}") from None
        return to_datetime(parsed, field_name)
    raise ValidationError(field_name, f"expected a time (epoch seconds or ISO-8601), got {type(value).__name__}")


def to_epoch(value: dt.datetime | None) -> float | None:
    """Return the naive UTC datetime VALUE as epoch seconds (None stays None)."""
    if value is None:
        return None
    return (value - dt.datetime(1970, 1, 1)).total_seconds()


def _json_value(value: Any, default: Any) -> Any:
    """Decode a JSON column (text) or pass an already decoded value through."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value


def _str_tuple(value: Any) -> tuple[str, ...]:
    value = _json_value(value, [])
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(str(item) for item in value if item is not None and str(item) != "")


def _dict(value: Any) -> dict:
    value = _json_value(value, {})
    return value if isinstance(value, dict) else {}


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "t", "#t")
    return bool(value)


@dataclass(slots=True)
class Execution:
    """One deployment with the details a pattern learner records."""

    id: str
    service: str
    environment: str
    started: dt.datetime
    status: str
    version: str | None = None
    deployment_type: str | None = None
    strategy: str | None = None
    completed: dt.datetime | None = None
    configuration: dict = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    failure_reasons: tuple[str, ...] = ()
    rollback_triggered: bool | None = None
    rollback_successful: bool | None = None
    duration_seconds: float | None = None
    commit_time: dt.datetime | None = None
    source_environment: str | None = None
    target_host: str | None = None
    automated: bool | None = None
    name: str | None = None
    initiator: str | None = None
    change_size: int | None = None

    @property
    def failed(self) -> bool | None:
        """True for a failed change (FAILED_STATUSES, or rolled back), False for a success, None if no outcome."""
        if self.status in FAILED_STATUSES or (self.status == "success" and self.rollback_triggered):
            return True
        if self.status == "success":
            return False
        return None

    @property
    def approach(self) -> str:
        """The strategy used: the recorded strategy, else the deployment type."""
        return self.strategy or self.deployment_type or "unspecified"

    @property
    def finished_at(self) -> dt.datetime:
        """When the deployment ended: completed, else started + duration, else started."""
        if self.completed is not None:
            return self.completed
        if self.duration_seconds is not None:
            return self.started + dt.timedelta(seconds=self.duration_seconds)
        return self.started

    @property
    def duration(self) -> float | None:
        """Duration in seconds: given, or completed - started."""
        if self.duration_seconds is not None:
            return self.duration_seconds
        if self.completed is not None:
            return max(0.0, (self.completed - self.started).total_seconds())
        return None


@dataclass(slots=True)
class Rollback:
    """One rollback, linked to the deployment that failed when ``deployment_id`` is known."""

    id: str
    service: str
    started: dt.datetime
    reason: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    completed: dt.datetime | None = None
    status: str | None = None
    initiator: str | None = None
    impact: str | None = None
    deployment_id: str | None = None
    recovery_seconds: float | None = None
    steps: tuple[str, ...] = ()

    @property
    def recovery(self) -> float | None:
        """Recovery time in seconds: given, or completed - started."""
        if self.recovery_seconds is not None:
            return self.recovery_seconds
        if self.completed is not None:
            return max(0.0, (self.completed - self.started).total_seconds())
        return None

    @property
    def succeeded(self) -> bool | None:
        """True when the rollback restored service, False when it did not, None if unknown."""
        status = (self.status or "").lower()
        if status in ROLLBACK_SUCCEEDED:
            return True
        if status in ROLLBACK_FAILED:
            return False
        return None


_EXECUTION_FIELDS = {f.name for f in fields(Execution)}
_ROLLBACK_FIELDS = {f.name for f in fields(Rollback)}


def _execution_values(record: dict, where: str) -> dict:
    """Convert the canonical deployment dict RECORD (any subset of keys) to Execution field values."""
    values: dict[str, Any] = {}
    for key, raw in record.items():
        if key not in _EXECUTION_FIELDS:
            continue
        name = f"{where}.{key}"
        if key in ("started", "completed", "commit_time"):
            values[key] = to_datetime(raw, name)
        elif key == "configuration":
            values[key] = _dict(raw)
        elif key in ("resources", "failure_reasons"):
            values[key] = _str_tuple(raw)
        elif key in ("rollback_triggered", "rollback_successful", "automated"):
            values[key] = _bool(raw)
        elif key == "duration_seconds":
            values[key] = _float(raw)
        elif key == "change_size":
            number = _float(raw)
            values[key] = int(number) if number is not None else None
        else:
            values[key] = None if raw is None else str(raw)
    return values


def execution_from_record(record: dict, where: str = "deployment") -> Execution:
    """Build an :class:`Execution` from a canonical deployment dict; raise ValidationError if incomplete."""
    values = _execution_values(record, where)
    for required in ("id", "service", "environment", "started", "status"):
        if values.get(required) is None:
            raise ValidationError(f"{where}.{required}", "required, missing")
    return Execution(**values)


def rollback_from_record(record: dict, where: str = "rollback") -> Rollback:
    """Build a :class:`Rollback` from a canonical rollback dict; raise ValidationError if incomplete."""
    values: dict[str, Any] = {}
    for key, raw in record.items():
        if key not in _ROLLBACK_FIELDS:
            continue
        if key in ("started", "completed"):
            values[key] = to_datetime(raw, f"{where}.{key}")
        elif key == "recovery_seconds":
            values[key] = _float(raw)
        elif key == "steps":
            values[key] = _str_tuple(raw)
        else:
            values[key] = None if raw is None else str(raw)
    for required in ("id", "service", "started"):
        if values.get(required) is None:
            raise ValidationError(f"{where}.{required}", "required, missing")
    return Rollback(**values)


_DEPLOYMENT_COLUMNS = (
    "id", "service", "environment", "started", "status", "version", "deployment_type", "strategy", "completed",
    "configuration", "resources", "failure_reasons", "rollback_triggered", "rollback_successful",
    "duration_seconds", "commit_time", "source_environment", "target_host", "automated", "name", "initiator",
    "change_size",
)
_ROLLBACK_COLUMNS = (
    "id", "service", "started", "reason", "from_version", "to_version", "completed", "status", "initiator",
    "impact", "deployment_id", "recovery_seconds", "steps",
)


class History:
    """Every execution and rollback, in memory, indexed by id."""

    def __init__(self, executions: Iterable[Execution] = (), rollbacks: Iterable[Rollback] = ()) -> None:
        self.executions: dict[str, Execution] = {e.id: e for e in executions}
        self.rollbacks: dict[str, Rollback] = {r.id: r for r in rollbacks}
        self._finished: list[Execution] | None = None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_store(cls, store: Any) -> "History":
        """Load every deployment and rollback of STORE (an open :class:`predictor.store.Store`)."""
        con = store.con
        deployment_rows = con.execute(
            "SELECT " + ", ".join(_DEPLOYMENT_COLUMNS) + " FROM deployments ORDER BY started, id"
        ).fetchall()
        rollback_rows = con.execute(
            "SELECT " + ", ".join(_ROLLBACK_COLUMNS) + " FROM rollbacks ORDER BY started, id"
        ).fetchall()
        executions = [execution_from_record(dict(zip(_DEPLOYMENT_COLUMNS, row))) for row in deployment_rows]
        rollbacks = [rollback_from_record(dict(zip(_ROLLBACK_COLUMNS, row))) for row in rollback_rows]
        return cls(executions, rollbacks)

    @classmethod
    def from_records(cls, deployments: Iterable[dict] = (), rollbacks: Iterable[dict] = ()) -> "History":
        """Build a history from canonical deployment and rollback dicts (tests, demo)."""
        history = cls()
        for record in deployments:
            history.observe("deployment", record)
        for record in rollbacks:
            history.observe("rollback", record)
        return history

    def observe(self, kind: str, record: dict) -> None:
        """Fold one recorded fact in: a new deployment, an outcome update of a known one, or a rollback."""
        self._finished = None
        if kind == "deployment":
            known = self.executions.get(str(record.get("id")))
            if known is not None:
                self.executions[known.id] = replace(known, **_execution_values(record, "deployment"))
            else:
                execution = execution_from_record(record)
                self.executions[execution.id] = execution
        elif kind == "rollback":
            known_rollback = self.rollbacks.get(str(record.get("id")))
            merged = dict(record)
            if known_rollback is not None:
                merged = {name: getattr(known_rollback, name) for name in _ROLLBACK_FIELDS} | record
            rollback = rollback_from_record(merged)
            self.rollbacks[rollback.id] = rollback
            linked = self.executions.get(rollback.deployment_id or "")
            if linked is not None and not linked.rollback_triggered:
                linked.rollback_triggered = True
        # services teach the pattern learner nothing

    # -- views ------------------------------------------------------------------------------
    def finished(self) -> list[Execution]:
        """Executions with an outcome (success or a failed status), oldest first (do not modify the list)."""
        if self._finished is None:
            self._finished = sorted((e for e in self.executions.values() if e.failed is not None),
                                    key=lambda e: (e.started, e.id))
        return self._finished

    def latest_time(self) -> dt.datetime | None:
        """The latest start time recorded (the reference 'now' of the history), or None when empty."""
        times = [e.started for e in self.executions.values()] + [r.started for r in self.rollbacks.values()]
        return max(times) if times else None

    def rollbacks_by_deployment(self) -> dict[str, list[Rollback]]:
        """Rollbacks grouped by the id of the deployment they undid."""
        grouped: dict[str, list[Rollback]] = {}
        for rollback in sorted(self.rollbacks.values(), key=lambda r: (r.started, r.id)):
            if rollback.deployment_id:
                grouped.setdefault(rollback.deployment_id, []).append(rollback)
        return grouped

    def __len__(self) -> int:
        return len(self.executions)
