"""Environment adaptations: what configuration changes when a version is promoted.

A promotion pair is one service and version deployed successfully to the source environment and
then, later, successfully to the target environment (the last source success before the first
target success). For each configuration key whose value differs within a pair, we report the
most common change (original and adapted value), how consistently promotions made it (share of
all pairs), and the success rate of target-environment deployments with vs without the adapted
value. Numeric changes in one direction count as one adaptation ("raised", "lowered"): with the
adaptation then means at or beyond the usual adapted value.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from predictor.patterns import params as p
from predictor.patterns.confidence import wilson_lower_bound
from predictor.patterns.configuration import canonical, describe, flatten
from predictor.patterns.executions import Execution, History
from predictor.patterns.wording import plural


@dataclass
class AdaptationQuery:
    """Which promotion to study."""

    source_environment: str = "staging"
    target_environment: str = "production"
    service: str | None = None
    min_pairs: int = 2
    min_consistency: float = 0.3

    @classmethod
    def from_params(cls, params: dict) -> "AdaptationQuery":
        """Build a query from wire params, raising ValidationError('params.<name>', ...) on bad values."""
        params = p.as_map(params)
        return cls(
            source_environment=p.optional_str(params, "source_environment", "staging"),
            target_environment=p.optional_str(params, "target_environment", "production"),
            service=p.optional_str(params, "service"),
            min_pairs=p.number(params, "min_pairs", 2, low=1, integer=True),
            min_consistency=p.number(params, "min_consistency", 0.3, low=0.0, high=1.0),
        )


def promotion_pairs(history: History, query: AdaptationQuery) -> list[tuple[Execution, Execution]]:
    """Return (source success, later target success) pairs, one per service and version."""
    by_release: dict[tuple[str, str], dict[str, list[Execution]]] = defaultdict(lambda: defaultdict(list))
    for execution in history.finished():
        if execution.failed or execution.version is None:
            continue
        if query.service and execution.service != query.service:
            continue
        if execution.environment in (query.source_environment, query.target_environment):
            by_release[(execution.service, execution.version)][execution.environment].append(execution)
    pairs = []
    for release in sorted(by_release):
        runs = by_release[release]
        targets = runs.get(query.target_environment, [])
        sources = runs.get(query.source_environment, [])
        if not targets or not sources:
            continue
        target = targets[0]
        earlier = [s for s in sources if s.started <= target.started]
        if earlier:
            pairs.append((earlier[-1], target))
    return pairs


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _direction(changes: list[tuple[object, object]]) -> str | None:
    """Return 'raised'/'lowered' when every change is numeric and goes the same way, else None."""
    if not changes or not all(_is_number(a) and _is_number(b) for a, b in changes):
        return None
    if all(b > a for a, b in changes):
        return "raised"
    if all(b < a for a, b in changes):
        return "lowered"
    return None


def _rate(runs: list[Execution]) -> float | None:
    return sum(1 for r in runs if not r.failed) / len(runs) if runs else None


def find_adaptations(history: History, query: AdaptationQuery) -> dict:
    """Return the configuration adaptations of QUERY's promotion, most consistent first."""
    pairs = promotion_pairs(history, query)
    changes: dict[str, list[tuple[object, object, str]]] = defaultdict(list)
    for source, target in pairs:
        before, after = flatten(source.configuration), flatten(target.configuration)
        for key in sorted(set(before) | set(after)):
            if canonical(before.get(key)) != canonical(after.get(key)):
                changes[key].append((before.get(key), after.get(key), source.service))
    target_runs = [
        (e, flatten(e.configuration)) for e in history.finished()
        if e.environment == query.target_environment and (not query.service or e.service == query.service)
    ]
    adaptations = []
    for key, changed in changes.items():
        consistency = len(changed) / len(pairs)
        if len(changed) < query.min_pairs or consistency < query.min_consistency:
            continue
        transitions = Counter((canonical(a), canonical(b)) for a, b, _ in changed)
        (original_text, adapted_text), _ = transitions.most_common(1)[0]
        original = next(a for a, b, _ in changed if canonical(a) == original_text)
        adapted = next(b for a, b, _ in changed if canonical(b) == adapted_text)
        direction = _direction([(a, b) for a, b, _ in changed])
        if direction:
            ratios = [b / a for a, b, _ in changed if a]
            factor = statistics.median(ratios) if ratios else None
            if direction == "raised":
                has = lambda v: _is_number(v) and v >= adapted  # noqa: E731
            else:
                has = lambda v: _is_number(v) and v <= adapted  # noqa: E731
            change = direction + (f" ×{factor:.2g}" if factor else "")
        else:
            has = lambda v: canonical(v) == adapted_text  # noqa: E731
            factor = None
            if original is None:
                change = "added"
            elif adapted is None:
                change = "removed"
            elif adapted is True and original is False:
                change = "switched on"
            elif adapted is False and original is True:
                change = "switched off"
            else:
                change = "changed"
        with_runs = [e for e, flat in target_runs if has(flat.get(key))]
        without_runs = [e for e, flat in target_runs if not has(flat.get(key))]
        rate_with, rate_without = _rate(with_runs), _rate(without_runs)
        services = sorted({svc for _, _, svc in changed})
        adaptations.append({
            "key": key,
            "source_value": original,
            "target_value": adapted,
            "change": change,
            "factor": factor,
            "pairs_changed": len(changed),
            "pairs": len(pairs),
            "consistency": consistency,
            "confidence": wilson_lower_bound(len(changed), len(pairs)),
            "support": len(changed),
            "services": services,
            "target_success_rate_with": rate_with,
            "target_runs_with": len(with_runs),
            "target_success_rate_without": rate_without,
            "target_runs_without": len(without_runs),
            "rule": _rule(query, key, original, adapted, change, direction, len(changed), len(pairs),
                          rate_with, len(with_runs), rate_without, len(without_runs)),
        })
    adaptations.sort(key=lambda a: (-a["consistency"], -a["pairs_changed"], a["key"]))
    note = None
    if not history.executions:
        note = "no deployment history yet: ingest or record executions first"
    elif not pairs:
        note = (f"no service version was deployed successfully to {query.source_environment} "
                f"and then to {query.target_environment}")
    elif not adaptations:
        note = f"{plural(len(pairs), 'promotion pair')} found; no configuration change held consistently"
    return {
        "source_environment": query.source_environment,
        "target_environment": query.target_environment,
        "pairs": len(pairs),
        "services": sorted({s.service for s, _ in pairs}),
        "adaptations": adaptations,
        "note": note,
    }


def _rule(query: AdaptationQuery, key: str, original: object, adapted: object, change: str,
          direction: str | None, changed: int, pairs: int, rate_with: float | None, n_with: int,
          rate_without: float | None, n_without: int) -> str:
    source, target = query.source_environment, query.target_environment
    if direction:
        action = f"{ {'raised': 'raise', 'lowered': 'lower'}[direction]} {key} (e.g. {describe(original)} → {describe(adapted)})"
    elif change == "added":
        action = f"add {key} = {describe(adapted)} (absent in {source})"
    elif change == "removed":
        action = f"drop {key} (was {describe(original)} in {source})"
    else:
        action = f"set {key} to {describe(adapted)} (was {describe(original)} in {source})"
    text = (f"When promoting from {source} to {target}, {action}: "
            f"{changed} of {plural(pairs, 'promotion')} ({changed / pairs:.0%}) did.")
    if rate_with is not None and rate_without is not None:
        text += (f" In {target}, runs with it succeeded {rate_with:.0%} of {n_with}, "
                 f"without it {rate_without:.0%} of {n_without}.")
    elif rate_with is not None:
        text += f" In {target}, all {n_with} runs had it; {rate_with:.0%} succeeded."
    return text

