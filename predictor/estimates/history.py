"""The deployment history as numpy columns, read from the store in one query.

Every estimate in this area starts from the same columns; reading them once and keeping
them in memory is what lets the served answers skip DuckDB on each request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

import numpy as np

from predictor.store import FAILED_STATUSES, FINISHED_STATUSES

EPOCH = dt.datetime(1970, 1, 1)
#: outcome statuses usable for learning (cancelled is finished but not an outcome)
OUTCOME_STATUSES = tuple(s for s in FINISHED_STATUSES if s != "cancelled")
#: resource fields looked for in metadata and configuration, with the keys that carry them
RESOURCE_KEYS = {
    "cpu": ("cpu", "cpus", "cpu_cores", "cores", "vcpu", "vcpus"),
    "memory": ("memory", "memory_mb", "mem", "mem_mb", "ram", "ram_mb"),
    "replicas": ("replicas", "instances", "replica_count", "instance_count"),
}
_MEMORY_UNITS = {"": 1.0, "m": 1.0, "mb": 1.0, "mi": 1.048576, "g": 1024.0, "gb": 1024.0, "gi": 1073.741824,
                 "k": 1 / 1024, "kb": 1 / 1024, "ki": 1 / 1000}


def to_epoch(value: dt.datetime) -> float:
    """Return the UTC epoch seconds of a naive-UTC (or aware) datetime."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (value - EPOCH).total_seconds()


def from_epoch(seconds: float) -> dt.datetime:
    """Return the naive UTC datetime of epoch SECONDS."""
    return EPOCH + dt.timedelta(seconds=float(seconds))


@dataclass
class DeploymentHistory:
    """Deployments ordered by start time, one numpy array per column."""

    ids: np.ndarray              # object (str)
    service: np.ndarray          # object (str)
    environment: np.ndarray      # object (str)
    deployment_type: np.ndarray  # object (str or None)
    status: np.ndarray           # object (str)
    started: np.ndarray          # float64 epoch seconds
    completed: np.ndarray        # float64 epoch seconds, nan when unknown
    duration: np.ndarray         # float64 seconds, nan when unknown
    change_size: np.ndarray      # float64, nan when unknown
    resources: dict[str, np.ndarray] = field(default_factory=dict)  # cpu/memory/replicas, nan when absent
    service_types: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.started)

    @property
    def failed(self) -> np.ndarray:
        """Boolean array: the deployment's status counts as a failed change."""
        return np.isin(self.status, FAILED_STATUSES)

    @property
    def has_outcome(self) -> np.ndarray:
        """Boolean array: the deployment finished with a learnable outcome."""
        return np.isin(self.status, OUTCOME_STATUSES)

    def service_type_of(self, service: str) -> str:
        """Return the declared type of SERVICE, or "unknown"."""
        return self.service_types.get(service) or "unknown"


def parse_resource(kind: str, value: object) -> float:
    """Return a resource value as a number (cpu in cores, memory in MB, replicas), nan if unreadable."""
    if isinstance(value, bool) or value is None:
        return float("nan")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([a-z]*)", text)
    if not match:
        return float("nan")
    number, unit = float(match.group(1)), match.group(2)
    if kind == "cpu":
        return number / 1000.0 if unit == "m" else (number if unit in ("", "core", "cores") else float("nan"))
    if kind == "memory":
        factor = _MEMORY_UNITS.get(unit)
        return number * factor if factor is not None else float("nan")
    return number if unit == "" else float("nan")


def _resources_of(*documents: str | None) -> dict[str, float]:
    """Return cpu/memory/replicas found in the JSON objects DOCUMENTS (first one wins)."""
    found: dict[str, float] = {}
    for text in documents:
        if not text:
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        nested = obj.get("resources")
        candidates = [obj] + ([nested] if isinstance(nested, dict) else [])
        for candidate in candidates:
            lowered = {str(k).lower().replace("-", "_"): v for k, v in candidate.items()}
            for kind, keys in RESOURCE_KEYS.items():
                if kind in found:
                    continue
                for key in keys:
                    if key in lowered:
                        value = parse_resource(kind, lowered[key])
                        if not np.isnan(value):
                            found[kind] = value
                            break
    return found


def load_history(store) -> DeploymentHistory:
    """Read every deployment of STORE (ordered by start) and the declared service types."""
    rows = store.con.execute(
        """SELECT id, service, environment, deployment_type, status,
                  epoch(started), epoch(completed),
                  coalesce(duration_seconds, epoch(completed) - epoch(started)),
                  change_size,
                  CASE WHEN regexp_matches(coalesce(CAST(metadata AS VARCHAR), '') || coalesce(CAST(configuration AS VARCHAR), ''),
                                           '(?i)cpu|mem|ram|replica|instance|core')
                       THEN CAST(metadata AS VARCHAR) END,
                  CASE WHEN regexp_matches(coalesce(CAST(metadata AS VARCHAR), '') || coalesce(CAST(configuration AS VARCHAR), ''),
                                           '(?i)cpu|mem|ram|replica|instance|core')
                       THEN CAST(configuration AS VARCHAR) END
           FROM deployments ORDER BY started, id"""
    ).fetchall()
    n = len(rows)
    columns = list(zip(*rows)) if rows else [()] * 11

    def objects(i: int) -> np.ndarray:
        out = np.empty(n, dtype=object)
        out[:] = list(columns[i])
        return out

    def floats(i: int) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in columns[i]], dtype=float)

    resources = {kind: np.full(n, np.nan) for kind in RESOURCE_KEYS}
    for i, (meta, conf) in enumerate(zip(columns[9], columns[10])):
        if meta is None and conf is None:
            continue
        for kind, value in _resources_of(conf, meta).items():
            resources[kind][i] = value
    types = dict(store.con.execute("SELECT name, type FROM services").fetchall())
    return DeploymentHistory(
        ids=objects(0), service=objects(1), environment=objects(2), deployment_type=objects(3),
        status=objects(4), started=floats(5), completed=floats(6), duration=floats(7), change_size=floats(8),
        resources=resources, service_types={k: v for k, v in types.items() if v},
    )
