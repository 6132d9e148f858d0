"""Insights found in the data: segments whose failure rate stands out from the rest.

Segments tested (times in UTC): weekday, hour band (before 06:00, 06:00-12:00, 12:00-16:00,
after 16:00), weekday x hour band; each environment; each strategy; each strategy of each
service (against that service's other strategies). A segment becomes an insight when both it and
its complement hold at least ``min_support`` finished deployments, the two-proportion z test
gives ``|z| >= min_z`` (3.0 is about p < 0.003, two-sided, which keeps false alarms rare across
the ~100 segments tested) and the rate ratio is at least ``min_ratio`` either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from predictor.patterns.confidence import two_proportion_z
from predictor.patterns.executions import Execution
from predictor.patterns.wording import ratio_phrase

WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
HOUR_BANDS = ((0, 6, "before 06:00"), (6, 12, "between 06:00 and 12:00"), (12, 16, "between 12:00 and 16:00"),
              (16, 24, "after 16:00"))


def hour_band(hour: int) -> int:
    """Return the index in HOUR_BANDS of HOUR."""
    return next(i for i, (low, high, _) in enumerate(HOUR_BANDS) if low <= hour < high)


@dataclass(slots=True)
class _Row:
    """What the segments look at, computed once per execution."""

    failed: bool
    weekday: int
    band: int
    environment: str
    approach: str
    service: str


@dataclass
class _Segment:
    kind: str
    label: str
    group: str          # what it is compared with, in words
    member: Callable[[_Row], bool]
    scope: str | None = None     # a service name: compare within that service only
    time_key: tuple[int | None, int | None] | None = None


def _segments(runs: list[Execution]) -> list[_Segment]:
    segments = []
    for day, name in enumerate(WEEKDAYS):
        segments.append(_Segment("time", f"on {name}", "other times",
                                 lambda e, d=day: e.weekday == d, time_key=(day, None)))
        for band, (_, _, words) in enumerate(HOUR_BANDS):
            segments.append(_Segment(
                "time", f"on {name} {words}", "other times",
                lambda e, d=day, b=band: e.weekday == d and e.band == b,
                time_key=(day, band)))
    for band, (_, _, words) in enumerate(HOUR_BANDS):
        segments.append(_Segment("time", words, "other times",
                                 lambda e, b=band: e.band == b, time_key=(None, band)))
    environments = sorted({e.environment for e in runs})
    if len(environments) > 1:
        for env in environments:
            segments.append(_Segment("environment", f"deployments to {env}", "those to other environments",
                                     lambda e, v=env: e.environment == v))
    strategies = sorted({e.approach for e in runs})
    if len(strategies) > 1:
        for strategy in strategies:
            segments.append(_Segment("strategy", f"{strategy} deployments", "other strategies",
                                     lambda e, s=strategy: e.approach == s))
    for service in sorted({e.service for e in runs}):
        used = sorted({e.approach for e in runs if e.service == service})
        if len(used) < 2:
            continue
        for strategy in used:
            segments.append(_Segment(
                "service-strategy", f"{strategy} deployments of {service}", "its other deployments",
                lambda e, s=strategy: e.approach == s, scope=service))
    return segments


def _overlaps(a: tuple, b: tuple) -> bool:
    """True when time segment keys A and B nest (same weekday or same band, one containing the other)."""
    (day_a, band_a), (day_b, band_b) = a, b
    return (day_a is None or day_b is None or day_a == day_b) and (band_a is None or band_b is None or band_a == band_b)


def find_insights(runs: list[Execution], *, min_support: int = 20, min_ratio: float = 1.5,
                  min_z: float = 3.0, limit: int = 8) -> list[dict]:
    """Return the segments of RUNS (finished executions) whose failure rate stands out, strongest first."""
    found = []
    rows = [_Row(bool(e.failed), e.started.weekday(), hour_band(e.started.hour), e.environment, e.approach, e.service)
            for e in runs]
    by_service: dict[str, list[_Row]] = {}
    for row in rows:
        by_service.setdefault(row.service, []).append(row)
    for segment in _segments(runs):
        inside = outside = failed_inside = failed_outside = 0
        for row in (rows if segment.scope is None else by_service[segment.scope]):
            if segment.member(row):
                inside += 1
                failed_inside += row.failed
            else:
                outside += 1
                failed_outside += row.failed
        if inside < min_support or outside < min_support:
            continue
        z = two_proportion_z(failed_inside, inside, failed_outside, outside)
        rate, baseline = failed_inside / inside, failed_outside / outside
        ratio = ((failed_inside + 0.5) / (inside + 1)) / ((failed_outside + 0.5) / (outside + 1))
        if abs(z) < min_z or (1 / min_ratio < ratio < min_ratio):
            continue
        found.append((segment, z, rate, baseline, ratio, inside))
    found.sort(key=lambda item: -abs(item[1]))
    insights, kept_times = [], []
    for segment, z, rate, baseline, ratio, inside in found:
        if segment.time_key is not None:
            if any(_overlaps(segment.time_key, key) for key in kept_times):
                continue
            kept_times.append(segment.time_key)
        insights.append({
            "text": _sentence(segment, rate, baseline, ratio, inside),
            "kind": segment.kind,
            "segment": segment.label,
            "failure_rate": rate,
            "baseline_rate": baseline,
            "ratio": ratio,
            "support": inside,
            "z": z,
        })
        if len(insights) >= limit:
            break
    return insights


def _sentence(segment: _Segment, rate: float, baseline: float, ratio: float, support: int) -> str:
    figures = f"({rate:.0%} vs {baseline:.0%}; {support} deployments)"
    if segment.kind == "time":
        if ratio >= 1:
            return f"failures {segment.label} are {ratio:.1f}× the rate at {segment.group} {figures}"
        return f"failures {segment.label} are {(1 - ratio) * 100:.0f}% below the rate at {segment.group} {figures}"
    return f"{segment.label} fail {ratio_phrase(ratio)} {segment.group} {figures}"
