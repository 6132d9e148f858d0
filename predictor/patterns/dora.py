"""The four DORA keys over a window, with their trend and performance band.

Definitions used here (all on one environment, production unless asked otherwise; a window is
``start < started <= end``; "finished" means an outcome: success or a FAILED_STATUSES status):

* deployment frequency: finished deployments per day (cancelled ones do not count);
* lead time for changes: median of completed - commit_time over successful deployments that
  carry a commit time (None when none does);
* change failure rate: failed / finished deployments (FAILED_STATUSES, or rolled back);
* time to restore: median over the window's failed deployments of the recovery time of the
  rollback that undid it when one is recorded, else the time from the failed deployment's end to
  the end of the next successful deployment of the same service in the same environment
  (failures never restored are left out and counted in ``unrestored``).

Bands follow the performance clusters of the 2023 Accelerate State of DevOps report (DORA,
Google Cloud); where its clusters overlap or leave gaps we take the upper boundary of the
better band, and its change-failure values (5%, 10%, 15%) as upper bounds:

==========  =====================  ===================  ======================  ==================
band        deployment frequency   lead time            change failure rate     time to restore
==========  =====================  ===================  ======================  ==================
elite       >= 1 per day           < 1 day              <= 5%                   < 1 hour
high        >= 1 per week          < 1 week             <= 10%                  < 1 day
medium      >= 1 per month         < 1 month            <= 15%                  < 1 week
low         less                   longer               higher                  longer
==========  =====================  ===================  ======================  ==================

Trends compare the first and second half of the window: a change of more than 10% (relative)
in the good direction is "improving", in the bad direction "worsening", else "steady".
"""

from __future__ import annotations

import bisect
import datetime as dt
import statistics
from collections import defaultdict

from predictor.patterns.executions import Execution, History

DAY = 86400.0
_FREQUENCY = ((1.0, "elite"), (1 / 7, "high"), (1 / 30, "medium"))
_LEAD_TIME = ((DAY, "elite"), (7 * DAY, "high"), (30 * DAY, "medium"))
_FAILURE_RATE = ((0.05, "elite"), (0.10, "high"), (0.15, "medium"))
_RESTORE = ((3600.0, "elite"), (DAY, "high"), (7 * DAY, "medium"))


def frequency_band(per_day: float | None) -> str | None:
    """Return the DORA band of a deployment frequency in deployments per day."""
    if per_day is None:
        return None
    return next((band for floor, band in _FREQUENCY if per_day >= floor), "low")


def lead_time_band(seconds: float | None) -> str | None:
    """Return the DORA band of a lead time for changes in seconds."""
    if seconds is None:
        return None
    return next((band for ceiling, band in _LEAD_TIME if seconds < ceiling), "low")


def failure_rate_band(rate: float | None) -> str | None:
    """Return the DORA band of a change failure rate (0..1)."""
    if rate is None:
        return None
    return next((band for ceiling, band in _FAILURE_RATE if rate <= ceiling + 1e-12), "low")


def restore_band(seconds: float | None) -> str | None:
    """Return the DORA band of a time to restore in seconds."""
    if seconds is None:
        return None
    return next((band for ceiling, band in _RESTORE if seconds < ceiling), "low")


def restore_times(history: History, failures: list[Execution]) -> tuple[list[float], int]:
    """Return the restore time in seconds of each of FAILURES that was restored, and how many were not."""
    rollbacks = history.rollbacks_by_deployment()
    successes: dict[tuple[str, str], list[Execution]] = defaultdict(list)
    for execution in history.finished():
        if not execution.failed:
            successes[(execution.service, execution.environment)].append(execution)
    starts = {key: [e.started for e in runs] for key, runs in successes.items()}
    restored, unrestored = [], 0
    for failure in failures:
        recovered = [r.recovery for r in rollbacks.get(failure.id, ())
                     if r.recovery is not None and r.succeeded is not False]
        if recovered:
            restored.append(recovered[0])
            continue
        key = (failure.service, failure.environment)
        runs = successes.get(key, [])
        index = bisect.bisect_right(starts.get(key, []), failure.started)
        if index < len(runs):
            restored.append(max(0.0, (runs[index].finished_at - failure.finished_at).total_seconds()))
        else:
            unrestored += 1
    return restored, unrestored


def _trend(first: float | None, second: float | None, higher_is_better: bool) -> str:
    if first is None or second is None:
        return "unknown"
    if first == second or (first and abs(second - first) / abs(first) <= 0.10):
        return "steady"
    better = second > first if higher_is_better else second < first
    return "improving" if better else "worsening"


def _keys(history: History, runs: list[Execution], days: float) -> dict[str, float | None | int]:
    failures = [e for e in runs if e.failed]
    lead_times = [(e.finished_at - e.commit_time).total_seconds()
                  for e in runs if not e.failed and e.commit_time is not None]
    restored, unrestored = restore_times(history, failures)
    return {
        "deployment_frequency": len(runs) / days if days > 0 else None,
        "lead_time": statistics.median(lead_times) if lead_times else None,
        "change_failure_rate": len(failures) / len(runs) if runs else None,
        "time_to_restore": statistics.median(restored) if restored else None,
        "deployments": len(runs),
        "failures": len(failures),
        "lead_times_measured": len(lead_times),
        "restores_measured": len(restored),
        "unrestored": unrestored,
    }


_KEYS = (
    ("deployment_frequency", "deployments per day", True, frequency_band),
    ("lead_time", "seconds", False, lead_time_band),
    ("change_failure_rate", "share of finished deployments", False, failure_rate_band),
    ("time_to_restore", "seconds", False, restore_band),
)


def dora_keys(history: History, environment: str, start: dt.datetime, end: dt.datetime,
              service: str | None = None) -> dict:
    """Return the four DORA keys of ENVIRONMENT (and SERVICE, if given) over (START, END], with trend and band."""
    days = (end - start).total_seconds() / DAY
    middle = start + (end - start) / 2
    runs = [e for e in history.finished() if e.environment == environment and start < e.started <= end
            and (service is None or e.service == service)]
    whole = _keys(history, runs, days)
    first = _keys(history, [e for e in runs if e.started <= middle], days / 2)
    second = _keys(history, [e for e in runs if e.started > middle], days / 2)
    result: dict = {"environment": environment}
    for name, unit, higher_is_better, band in _KEYS:
        result[name] = {
            "value": whole[name],
            "unit": unit,
            "band": band(whole[name]),
            "first_half": first[name],
            "second_half": second[name],
            "trend": _trend(first[name], second[name], higher_is_better),
        }
    result["deployment_frequency"]["deployments"] = whole["deployments"]
    result["change_failure_rate"]["failures"] = whole["failures"]
    result["lead_time"]["measured"] = whole["lead_times_measured"]
    result["time_to_restore"]["measured"] = whole["restores_measured"]
    result["time_to_restore"]["unrestored"] = whole["unrestored"]
    result["bands_source"] = "2023 Accelerate State of DevOps report (DORA) performance clusters"
    return result
