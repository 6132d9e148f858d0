"""Recommendations: which deployment pattern worked, with a confidence that does not flatter.

A pattern is a strategy (the recorded strategy, else the deployment type), a configuration
template (:mod:`predictor.patterns.configuration`), the set of resources deployed, and the
environments it ran in. Every finished execution of the pattern counts: successes and failures
alike, rolled back or not. Patterns rank by confidence, the 95% Wilson lower bound on
recency-weighted counts (:mod:`predictor.patterns.confidence`), then by usage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field

from predictor.patterns import params as p
from predictor.patterns.confidence import DEFAULT_HALF_LIFE_DAYS, recency_weight, wilson_lower_bound
from predictor.patterns.configuration import template
from predictor.patterns.executions import Execution, History, to_epoch
from predictor.patterns.wording import ago, and_list, plural

CONFIDENCE_METHOD = "lower bound of the 95% Wilson score interval on recency-weighted success and failure counts"


@dataclass
class RecommendationQuery:
    """What the release engineer asks for; every field is optional."""

    environment: str | None = None
    resources: list[str] = field(default_factory=list)
    strategy: str | None = None
    service: str | None = None
    limit: int = 10
    min_confidence: float = 0.0
    min_support: int = 1
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS
    as_of: dt.datetime | None = None

    @classmethod
    def from_params(cls, params: dict) -> "RecommendationQuery":
        """Build a query from wire params, raising ValidationError('params.<name>', ...) on bad values."""
        params = p.as_map(params)
        return cls(
            environment=p.optional_str(params, "environment"),
            resources=p.str_list(params, "resources"),
            strategy=p.optional_str(params, "strategy") or p.optional_str(params, "deployment_type"),
            service=p.optional_str(params, "service"),
            limit=p.number(params, "limit", 10, low=1, high=100, integer=True),
            min_confidence=p.number(params, "min_confidence", 0.0, low=0.0, high=1.0),
            min_support=p.number(params, "min_support", 1, low=1, integer=True),
            half_life_days=p.number(params, "half_life_days", DEFAULT_HALF_LIFE_DAYS, low=0.0),
            as_of=p.time(params, "as_of"),
        )


@dataclass
class _Tally:
    strategy: str
    configuration: tuple[tuple[str, str], ...]
    resources: tuple[str, ...]
    successes: int = 0
    failures: int = 0
    rolled_back: int = 0
    weighted_successes: float = 0.0
    weighted_failures: float = 0.0
    last_used: dt.datetime | None = None
    environments: Counter = field(default_factory=Counter)
    evidence: list = field(default_factory=list)
    services: Counter = field(default_factory=Counter)
    example: dict | None = None
    example_time: dt.datetime | None = None

    def add(self, execution: Execution, weight: float) -> None:
        if execution.failed:
            self.failures += 1
            self.weighted_failures += weight
        else:
            self.successes += 1
            self.weighted_successes += weight
            if self.example_time is None or execution.started >= self.example_time:
                self.example, self.example_time = execution.configuration, execution.started
        if execution.rollback_triggered or execution.status == "rolled-back":
            self.rolled_back += 1
        if self.last_used is None or execution.started > self.last_used:
            self.last_used = execution.started
        self.environments[execution.environment] += 1
        self.evidence.append((execution.started, execution.id))
        self.services[execution.service] += 1


def _pattern_id(strategy: str, configuration: tuple, resources: tuple) -> str:
    text = repr((strategy, configuration, resources)).encode()
    return "pat-" + hashlib.sha256(text).hexdigest()[:10]


def _reasons(tally: _Tally, query: RecommendationQuery, confidence: float, reference: dt.datetime) -> list[str]:
    usage = tally.successes + tally.failures
    where = f" in {query.environment}" if query.environment else ""
    reasons = [
        f"used {plural(usage, 'time')}{where}: {tally.successes} succeeded, {tally.failures} failed"
        + (f" ({tally.rolled_back} rolled back)" if tally.rolled_back else ""),
    ]
    if query.strategy:
        reasons.append(f"uses the {tally.strategy} strategy you asked for")
    if query.resources:
        extra = sorted(set(tally.resources) - set(query.resources))
        if extra:
            reasons.append(f"deploys {and_list(query.resources)} as asked, and also {and_list(extra)}")
        else:
            reasons.append(f"deploys exactly {and_list(query.resources)}, as asked")
    elif tally.resources:
        reasons.append(f"deploys {and_list(list(tally.resources))}")
    if not query.environment and tally.environments:
        reasons.append("ran in " + and_list([f"{env} ({n})" for env, n in tally.environments.most_common()]))
    if query.service:
        reasons.append(f"seen on {query.service}")
    elif len(tally.services) > 1:
        reasons.append(f"worked across {plural(len(tally.services), 'service')}")
    if tally.last_used is not None:
        reasons.append(f"last used {ago(reference - tally.last_used)}")
    reasons.append(
        f"at least {confidence:.0%} of runs like these succeed (95% lower bound"
        + (f", runs {query.half_life_days:g} days older weigh half" if query.half_life_days else "")
        + ")"
    )
    if not tally.configuration:
        reasons.append("no configuration was recorded for these runs")
    return reasons


def _headline(tally: _Tally) -> str:
    """One sentence naming the pattern: strategy, resources, configuration."""
    text = f"use {tally.strategy}"
    if tally.resources:
        text += f" to deploy {and_list(list(tally.resources))}"
    if tally.configuration:
        text += " with " + ", ".join(f"{k} = {v}" for k, v in tally.configuration)
    return text


def recommend(history: History, query: RecommendationQuery) -> dict:
    """Return the patterns matching QUERY, best first, as a wire-shaped result."""
    reference = query.as_of or history.latest_time()
    tallies: dict[tuple, _Tally] = {}
    considered = 0
    wanted_resources = set(query.resources)
    for execution in history.finished():
        if query.environment and execution.environment != query.environment:
            continue
        if query.service and execution.service != query.service:
            continue
        if query.strategy and execution.approach != query.strategy:
            continue
        if reference is not None and execution.started > reference:
            continue
        resources = tuple(sorted(set(execution.resources)))
        if not wanted_resources <= set(resources):
            continue
        considered += 1
        key = (execution.approach, template(execution.configuration), resources)
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally(*key)
        tally.add(execution, recency_weight(execution.started, reference, query.half_life_days))

    patterns = []
    for key, tally in tallies.items():
        usage = tally.successes + tally.failures
        weighted_total = tally.weighted_successes + tally.weighted_failures
        confidence = wilson_lower_bound(tally.weighted_successes, weighted_total)
        if usage < query.min_support or confidence < query.min_confidence:
            continue
        patterns.append({
            "pattern_id": _pattern_id(*key),
            "recommendation": _headline(tally),
            "strategy": tally.strategy,
            "configuration": dict(tally.configuration),
            "configuration_example": tally.example or {},
            "resources": list(tally.resources),
            "environments": [env for env, _ in tally.environments.most_common()],
            "services": [svc for svc, _ in tally.services.most_common(5)],
            "successes": tally.successes,
            "failures": tally.failures,
            "rolled_back": tally.rolled_back,
            "usage_count": usage,
            "success_rate": tally.successes / usage,
            "weighted_successes": round(tally.weighted_successes, 4),
            "weighted_failures": round(tally.weighted_failures, 4),
            "confidence": confidence,
            "support": usage,
            "evidence": [run_id for _, run_id in sorted(tally.evidence, reverse=True)[:5]],
            "last_used": to_epoch(tally.last_used),
            "reasons": _reasons(tally, query, confidence, reference),
        })
    patterns.sort(key=lambda pat: (-pat["confidence"], -pat["usage_count"], pat["pattern_id"]))
    matching = len(patterns)
    patterns = patterns[: query.limit]
    note = None
    if not history.executions:
        note = "no deployment history yet: ingest or record executions first"
    elif considered == 0:
        note = "no finished execution matches these filters"
    elif not patterns:
        note = f"{plural(len(tallies), 'pattern')} matched, none with the minimum support and confidence asked"
    return {
        "recommendations": patterns,
        "matching_patterns": matching,
        "considered_executions": considered,
        "confidence_method": CONFIDENCE_METHOD,
        "half_life_days": query.half_life_days,
        "as_of": to_epoch(reference),
        "note": note,
    }
