"""Rollback scenarios: which failures led to rollbacks, under what conditions, and how long recovery took.

Each rollback is joined to the deployment it undid (``deployment_id``); deployments flagged
``rollback_triggered`` without a rollback record count too (recovery time unknown). Scenarios
group by failure pattern: the first recorded failure reason of the deployment, else the rollback's
reason, normalised (lower case, ids, versions and numbers stripped) so "timeout after 30s on db-7"
and "Timeout after 45s on db-2" are one scenario. Recovery times are measured from the data:
the rollback's ``recovery_seconds``, else completed - started.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from predictor.patterns import params as p
from predictor.patterns.executions import Execution, History, Rollback, to_epoch
from predictor.patterns.wording import duration

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_HEX = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,}\b")
_VERSION = re.compile(r"\bv?\d+(?:\.\d+)+(?:[-+][0-9a-z.]+)?\b")
_NUMBER = re.compile(r"(?<![a-z0-9])[-#]?\d+(?:\.\d+)?[a-z%]*")
_SPACES = re.compile(r"\s+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([),.:;\]])")


def normalise_reason(text: str | None) -> str:
    """Return the failure reason TEXT in its grouping form: lower case, without ids, versions or numbers."""
    if not text or not text.strip():
        return "unspecified"
    text = text.lower()
    for pattern in (_UUID, _HEX, _VERSION, _NUMBER):
        text = pattern.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", _EMPTY_BRACKETS.sub(" ", text)))
    text = _SPACES.sub(" ", text).strip(" .,:;-_/")
    return text or "unspecified"


@dataclass
class ScenarioQuery:
    """Which rollbacks to study."""

    environment: str | None = None
    resources: list[str] = field(default_factory=list)
    service: str | None = None
    limit: int = 10
    min_count: int = 1

    @classmethod
    def from_params(cls, params: dict) -> "ScenarioQuery":
        """Build a query from wire params, raising ValidationError('params.<name>', ...) on bad values."""
        params = p.as_map(params)
        return cls(
            environment=p.optional_str(params, "environment"),
            resources=p.str_list(params, "resources"),
            service=p.optional_str(params, "service"),
            limit=p.number(params, "limit", 10, low=1, high=100, integer=True),
            min_count=p.number(params, "min_count", 1, low=1, integer=True),
        )


@dataclass
class _Case:
    """One rollback (or a rollback flag) with the failed deployment behind it, when known."""

    deployment: Execution | None
    rollback: Rollback | None

    @property
    def when(self) -> dt.datetime:
        return self.rollback.started if self.rollback else self.deployment.finished_at

    @property
    def reason(self) -> str:
        if self.deployment is not None and self.deployment.failure_reasons:
            return self.deployment.failure_reasons[0]
        if self.rollback is not None and self.rollback.reason:
            return self.rollback.reason
        return ""

    @property
    def succeeded(self) -> bool | None:
        if self.rollback is not None and self.rollback.succeeded is not None:
            return self.rollback.succeeded
        return self.deployment.rollback_successful if self.deployment is not None else None


def _cases(history: History, query: ScenarioQuery) -> list[_Case]:
    cases = []
    linked: set[str] = set()
    for rollback in sorted(history.rollbacks.values(), key=lambda r: (r.started, r.id)):
        deployment = history.executions.get(rollback.deployment_id or "")
        if deployment is not None:
            linked.add(deployment.id)
        cases.append(_Case(deployment, rollback))
    for execution in history.executions.values():
        if (execution.rollback_triggered or execution.status == "rolled-back") and execution.id not in linked:
            cases.append(_Case(execution, None))
    kept = []
    for case in cases:
        deployment = case.deployment
        service = deployment.service if deployment else case.rollback.service
        if query.service and service != query.service:
            continue
        if query.environment and (deployment is None or deployment.environment != query.environment):
            continue
        if query.resources and (deployment is None or not set(query.resources) & set(deployment.resources)):
            continue
        kept.append(case)
    return kept


def _automatic(initiator: str | None) -> bool:
    """True when INITIATOR names a bot or automation rather than a person."""
    name = (initiator or "").lower()
    return name in ("automated", "auto", "system", "ci") or "bot" in name or "automation" in name


def _share(counter: Counter, total: int, label: str) -> list[str]:
    """Return '<label> <value> in n of N' for values present in at least half the cases."""
    return [f"{label} {value} in {n} of {total}" for value, n in counter.most_common(2) if n * 2 >= total]


def _conditions(cases: list[_Case], overall_change: float | None) -> list[str]:
    deployments = [c.deployment for c in cases if c.deployment is not None]
    total = len(deployments)
    if not total:
        return ["no failed deployment was linked to these rollbacks"]
    conditions = []
    conditions += _share(Counter(d.environment for d in deployments), total, "environment")
    conditions += _share(Counter(d.approach for d in deployments), total, "strategy")
    conditions += _share(Counter(r for d in deployments for r in d.resources), total, "deploying")
    conditions += _share(Counter(d.status for d in deployments), total, "status")
    into = [
        (c.rollback.started - c.deployment.started).total_seconds()
        for c in cases if c.rollback is not None and c.deployment is not None
        and c.rollback.started >= c.deployment.started
    ]
    if into:
        conditions.append(f"rollback began a median {duration(float(np.median(into)))} after the deployment started")
    sizes = [d.change_size for d in deployments if d.change_size is not None]
    if sizes and overall_change:
        median_size = float(np.median(sizes))
        if median_size >= 1.5 * overall_change:
            conditions.append(f"large changes: median change size {median_size:.0f} vs {overall_change:.0f} overall")
    other = Counter(normalise_reason(r) for d in deployments for r in d.failure_reasons[1:])
    for reason, n in other.most_common(2):
        if n * 2 >= total:
            conditions.append(f"also reported: {reason} ({n} of {total})")
    automated = [c for c in cases if c.rollback is not None and _automatic(c.rollback.initiator)]
    if automated:
        conditions.append(f"initiated automatically in {len(automated)} of {len(cases)}")
    return conditions


def rollback_scenarios(history: History, query: ScenarioQuery) -> dict:
    """Return the rollback scenarios matching QUERY, most frequent first, as a wire-shaped result."""
    cases = _cases(history, query)
    sizes = [e.change_size for e in history.executions.values() if e.change_size is not None]
    overall_change = float(np.median(sizes)) if sizes else None
    groups: dict[str, list[_Case]] = {}
    for case in cases:
        groups.setdefault(normalise_reason(case.reason), []).append(case)
    scenarios = []
    for pattern, members in groups.items():
        if len(members) < query.min_count:
            continue
        recoveries = [c.rollback.recovery for c in members if c.rollback is not None and c.rollback.recovery is not None]
        outcomes = [c.succeeded for c in members if c.succeeded is not None]
        steps = Counter(c.rollback.steps for c in members if c.rollback is not None and c.rollback.steps)
        deployments = [c.deployment for c in members if c.deployment is not None]
        examples = list(dict.fromkeys(c.reason for c in members if c.reason))[:3]
        median = float(np.median(recoveries)) if recoveries else None
        p90 = float(np.percentile(recoveries, 90)) if recoveries else None
        scenarios.append({
            "failure_pattern": pattern,
            "trigger": pattern,
            "examples": examples,
            "count": len(members),
            "environments": [v for v, _ in Counter(d.environment for d in deployments).most_common()],
            "services": [v for v, _ in Counter(
                (c.deployment.service if c.deployment else c.rollback.service) for c in members).most_common(5)],
            "resources": [v for v, _ in Counter(r for d in deployments for r in d.resources).most_common()],
            "deployment_strategies": dict(Counter(d.approach for d in deployments).most_common()),
            "trigger_conditions": _conditions(members, overall_change),
            "steps": list(steps.most_common(1)[0][0]) if steps else [],
            "recovery_seconds_median": median,
            "recovery_seconds_p90": p90,
            "recovery_measured": len(recoveries),
            "success_rate": (sum(outcomes) / len(outcomes)) if outcomes else None,
            "mean_recovery_seconds": float(np.mean(recoveries)) if recoveries else None,
            "last_seen": to_epoch(max(c.when for c in members)),
            "summary": _summary(pattern, len(members), median, p90, outcomes),
        })
    scenarios.sort(key=lambda s: (-s["count"], -(s["last_seen"] or 0), s["failure_pattern"]))
    matching = len(scenarios)
    note = None
    if not history.executions and not history.rollbacks:
        note = "no deployment history yet: ingest or record executions first"
    elif not cases:
        note = "no rollback matches these filters"
    return {"scenarios": scenarios[: query.limit], "matching_scenarios": matching, "rollbacks": len(cases),
            "note": note}


def _summary(pattern: str, count: int, median: float | None, p90: float | None, outcomes: list[bool]) -> str:
    text = f"'{pattern}' led to {count} rollback{'s' if count != 1 else ''}"
    if median is not None:
        text += f"; recovery took {duration(median)} (median), {duration(p90)} at the 90th percentile"
    if outcomes:
        text += f"; {sum(outcomes)} of {len(outcomes)} rollbacks restored service"
    return text + "."
