"""Analytics: how deployments are going over a window, with the DORA keys and data-derived insights.

The window is the ``days`` days ending at ``as_of`` (default: the latest start time recorded,
so a history that stopped months ago still has a meaningful "last 30 days"). Rates are over
finished deployments (an outcome known; cancelled ones excluded). MTTR is the mean restore time
(see :func:`predictor.patterns.dora.restore_times`); the DORA time to restore is its median.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

import numpy as np

from predictor.errors import ValidationError
from predictor.patterns import params as p
from predictor.patterns.dora import dora_keys, restore_times
from predictor.patterns.executions import Execution, History, to_epoch
from predictor.patterns.insights import find_insights

METRICS = ("success_rate", "failure_rate", "duration", "rollback_rate", "mttr", "dora", "insights")


@dataclass
class AnalyticsQuery:
    """Which window, environment and metrics to report."""

    environment: str | None = None
    service: str | None = None
    days: float = 30.0
    start: dt.datetime | None = None
    metrics: list[str] = field(default_factory=lambda: list(METRICS))
    as_of: dt.datetime | None = None
    production_environment: str = "production"
    min_support: int = 20
    min_ratio: float = 1.5
    min_z: float = 3.0

    @classmethod
    def from_params(cls, params: dict) -> "AnalyticsQuery":
        """Build a query from wire params, raising ValidationError('params.<name>', ...) on bad values."""
        params = p.as_map(params)
        metrics = p.str_list(params, "metrics") or list(METRICS)
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValidationError("params.metrics", f"unknown metric {unknown[0]!r}; expected some of {', '.join(METRICS)}")
        as_of = p.time(params, "to") or p.time(params, "as_of")
        start = p.time(params, "from")
        if start is not None and as_of is not None and start >= as_of:
            raise ValidationError("params.from", "expected a time before params.to")
        return cls(
            environment=p.optional_str(params, "environment"),
            service=p.optional_str(params, "service"),
            days=p.number(params, "days", 30.0, low=1 / 24, high=3660),
            start=start,
            metrics=metrics,
            as_of=as_of,
            production_environment=p.optional_str(params, "production_environment", "production"),
            min_support=p.number(params, "min_support", 20, low=1, integer=True),
            min_ratio=p.number(params, "min_ratio", 1.5, low=1.0),
            min_z=p.number(params, "min_z", 3.0, low=0.0),
        )


def window(history: History, query: AnalyticsQuery) -> tuple[dt.datetime, dt.datetime]:
    """Return the (start, end] of QUERY's window over HISTORY (``from`` wins over ``days``)."""
    end = query.as_of or history.latest_time() or dt.datetime(1970, 1, 1)
    if query.start is not None and query.start < end:
        return query.start, end
    return end - dt.timedelta(days=query.days), end


def _in_scope(execution: Execution, query: AnalyticsQuery) -> bool:
    return ((query.environment is None or execution.environment == query.environment)
            and (query.service is None or execution.service == query.service))


def window_runs(history: History, query: AnalyticsQuery) -> list[Execution]:
    """Return the finished executions of QUERY's window and environment, oldest first."""
    start, end = window(history, query)
    return [e for e in history.finished() if start < e.started <= end and _in_scope(e, query)]


def _share_trend(runs: list[Execution], middle: dt.datetime, test) -> dict:
    halves = ([e for e in runs if e.started <= middle], [e for e in runs if e.started > middle])
    values = [sum(1 for e in half if test(e)) / len(half) if half else None for half in halves]
    return {"first_half": values[0], "second_half": values[1]}


def _rolled_back(execution: Execution, rolled: dict) -> bool:
    return bool(execution.rollback_triggered or execution.status == "rolled-back" or execution.id in rolled)


def analytics(history: History, query: AnalyticsQuery) -> dict:
    """Return the analytics of QUERY as a wire-shaped result (only the metrics asked for)."""
    start, end = window(history, query)
    middle = start + (end - start) / 2
    runs = window_runs(history, query)
    all_in_window = [e for e in history.executions.values() if start < e.started <= end and _in_scope(e, query)]
    failures = [e for e in runs if e.failed]
    rolled = history.rollbacks_by_deployment()
    result: dict = {
        "environment": query.environment,
        "service": query.service,
        "period": {"start": to_epoch(start), "end": to_epoch(end), "days": (end - start).total_seconds() / 86400},
        "deployments": len(all_in_window),
        "finished": len(runs),
        "failures": len(failures),
        "metrics": list(query.metrics),
    }
    if "success_rate" in query.metrics:
        result["success_rate"] = (len(runs) - len(failures)) / len(runs) if runs else None
        result["success_rate_trend"] = _share_trend(runs, middle, lambda e: not e.failed)
    if "failure_rate" in query.metrics:
        result["failure_rate"] = len(failures) / len(runs) if runs else None
        result["failure_rate_trend"] = _share_trend(runs, middle, lambda e: e.failed)
    if "rollback_rate" in query.metrics:
        rolled_back = [e for e in runs if _rolled_back(e, rolled)]
        result["rollback_rate"] = len(rolled_back) / len(runs) if runs else None
        result["rollbacks"] = len(rolled_back)
    if "duration" in query.metrics:
        durations = [e.duration for e in runs if e.duration is not None]
        result["duration"] = {
            "mean_seconds": statistics.fmean(durations) if durations else None,
            "median_seconds": float(np.median(durations)) if durations else None,
            "p90_seconds": float(np.percentile(durations, 90)) if durations else None,
            "measured": len(durations),
        }
    if "mttr" in query.metrics:
        restored, unrestored = restore_times(history, failures)
        result["mttr_seconds"] = statistics.fmean(restored) if restored else None
        result["mean_time_to_recovery_seconds"] = result["mttr_seconds"]
        result["mttr_measured"] = len(restored)
        result["unrestored_failures"] = unrestored
    if "dora" in query.metrics:
        dora = dora_keys(history, query.environment or query.production_environment, start, end, query.service)
        result["dora"] = dora
        result["deployment_frequency_per_day"] = dora["deployment_frequency"]["value"]
        result["change_failure_rate"] = dora["change_failure_rate"]["value"]
        result["lead_time_seconds"] = dora["lead_time"]["value"]
    if "insights" in query.metrics:
        result["insights"] = find_insights(runs, min_support=query.min_support, min_ratio=query.min_ratio,
                                           min_z=query.min_z)
    result["daily"] = _daily(runs, start, end)
    note = None
    if not history.executions:
        note = "no deployment history yet: ingest or record executions first"
    elif not runs:
        note = "no finished deployment in this window"
    elif "insights" in query.metrics and not result["insights"]:
        note = (f"no segment stands out (each needs {query.min_support}+ deployments, "
                f"a {query.min_ratio:g}× rate difference and |z| >= {query.min_z:g})")
    result["note"] = note
    return result


def _daily(runs: list[Execution], start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Return one entry per calendar day of the window: deployments, failures, median duration."""
    days: dict[dt.date, list[Execution]] = {}
    for execution in runs:
        days.setdefault(execution.started.date(), []).append(execution)
    series = []
    day = start.date()
    while day <= end.date():
        members = days.get(day, [])
        durations = [e.duration for e in members if e.duration is not None]
        series.append({
            "day": to_epoch(dt.datetime(day.year, day.month, day.day)),
            "deployments": len(members),
            "failures": sum(1 for e in members if e.failed),
            "median_duration_seconds": float(np.median(durations)) if durations else None,
        })
        day += dt.timedelta(days=1)
    return series
