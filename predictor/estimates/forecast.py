"""Deployment volume forecast: deployments per day and per week, per service and environment.

Each series (service, environment) gets a Poisson regression of its daily count on a trend
and weekday effects, fitted by ridge-penalised, recency-weighted IRLS in numpy (a day's weight
halves every HALF_LIFE_WEEKS weeks back, so the level follows shifts). The weekday effects
are shrunk towards the fleet-wide weekday profile (an offset), so a quiet series borrows the
fleet's weekly rhythm instead of echoing noise. The trend is shrunk hard towards flat and its
multiplier bounded: on held-out weeks a freely fitted trend extrapolated noise and lost to
seasonal-naive, a shrunk one wins on both the planted and the demo histories.
Intervals are Poisson quantiles (p10, p90) of the expected count.

Evaluated on held-out weeks against the seasonal-naive baseline: the same weekday in the
last observed week.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from predictor.errors import ModelNotReadyError, NotFoundError
from predictor.estimates.history import DeploymentHistory, from_epoch

DAY = 86400.0
#: weeks of history each series is fitted on
FIT_WEEKS = 12
#: ridge penalties: weekday effects (towards the fleet profile) and trend (towards flat)
WEEKDAY_PENALTY = 3.0
TREND_PENALTY = 100.0
#: weight of a day in the fit halves every HALF_LIFE_WEEKS weeks back from the series end
HALF_LIFE_WEEKS = 3.0
#: the trend multiplier over the forecast horizon is kept within these bounds
TREND_BOUNDS = (0.5, 2.0)


def daily_counts(history: DeploymentHistory, first_day: int, last_day: int) -> dict[tuple[str, str], np.ndarray]:
    """Deployments per UTC day in [FIRST_DAY, LAST_DAY] (epoch day numbers) per (service, environment)."""
    days = np.floor(history.started / DAY).astype(np.int64)
    keep = (days >= first_day) & (days <= last_day)
    width = last_day - first_day + 1
    series: dict[tuple[str, str], np.ndarray] = {}
    for service, environment, day in zip(history.service[keep], history.environment[keep], days[keep]):
        counts = series.get((service, environment))
        if counts is None:
            counts = series[(service, environment)] = np.zeros(width)
        counts[day - first_day] += 1
    return series


def weekday_of(day: int) -> int:
    """Monday=0 weekday of an epoch day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


def fleet_weekday_profile(series: dict, first_day: int) -> np.ndarray:
    """Log of each weekday's share of volume over all series (sums to log 7 on average)."""
    totals = np.zeros(7) + 1.0
    for counts in series.values():
        for offset in range(7):
            totals[weekday_of(first_day + offset)] += counts[offset::7].sum()
    share = totals / totals.mean()
    return np.log(share)


class SeriesModel:
    """Poisson regression of one series' daily counts on weekday effects and a trend."""

    def __init__(self, counts: np.ndarray, first_day: int, profile: np.ndarray) -> None:
        self.first_day = first_day
        self.profile = profile
        n = len(counts)
        days = first_day + np.arange(n)
        self.t_scale = max(n, 7) / 7.0     # trend measured in weeks from the series end
        X = self._design(days, end_day=first_day + n - 1)
        offset = profile[weekday_of(days)]
        # recent weeks weigh more: a level shift shows within a few weeks, not after the whole window
        recency = 0.5 ** ((days[-1] - days) / (7.0 * HALF_LIFE_WEEKS))
        penalty = np.array([0.0] + [WEEKDAY_PENALTY] * 6 + [TREND_PENALTY])
        mean = max(counts.mean(), 1e-3)
        beta = np.zeros(X.shape[1])
        beta[0] = math.log(mean)
        for _ in range(25):
            eta = np.clip(X @ beta + offset, -20, 20)
            mu = np.exp(eta)
            gradient = X.T @ (recency * (counts - mu)) - penalty * beta
            hessian = (X * (recency * mu)[:, None]).T @ X + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, gradient)
            beta += step
            if np.max(np.abs(step)) < 1e-8:
                break
        self.beta = beta
        self.end_day = first_day + n - 1

    @staticmethod
    def _design(days: np.ndarray, end_day: int) -> np.ndarray:
        weekday = weekday_of(days)
        X = np.zeros((len(days), 8))
        X[:, 0] = 1.0
        for w in range(1, 7):
            X[:, w] = weekday == w
        X[:, 7] = (days - end_day) / 7.0 / 4.0   # months-ish units keep the trend penalty sensible
        return X

    def expected(self, days: np.ndarray) -> np.ndarray:
        """Expected deployments on each epoch day in DAYS (trend damped beyond the data)."""
        X = self._design(days, self.end_day)
        X[:, 7] = np.minimum(X[:, 7], 0.0)
        level = np.exp(X @ self.beta + self.profile[weekday_of(days)])
        ahead = np.maximum(days - self.end_day, 0) / 7.0 / 4.0
        multiplier = np.clip(np.exp(self.beta[7] * ahead), *TREND_BOUNDS)
        return level * multiplier


class VolumeForecaster:
    """Fitted series models for every (service, environment) with recent history."""

    def __init__(self, history: DeploymentHistory, *, until: float | None = None, fit_weeks: int = FIT_WEEKS) -> None:
        if len(history) == 0:
            raise ModelNotReadyError("forecast: no deployments in the history yet")
        last_start = float(history.started[-1]) if until is None else until
        self.end_day = int(math.floor(last_start / DAY))
        self.first_day = max(int(math.floor(float(history.started[0]) / DAY)), self.end_day - 7 * fit_weeks + 1)
        counts = daily_counts(history, self.first_day, self.end_day)
        self.profile = fleet_weekday_profile(counts, self.first_day)
        self.models = {key: SeriesModel(series, self.first_day, self.profile) for key, series in counts.items()}
        self.history_counts = counts

    def series_keys(self, service: str | None, environment: str | None) -> list[tuple[str, str]]:
        """The (service, environment) series matching the filters (None matches all)."""
        keys = [k for k in self.models if (service is None or k[0] == service)
                and (environment is None or k[1] == environment)]
        if not keys:
            what = " in ".join(x for x in (service and f"service {service!r}", environment and f"environment {environment!r}") if x)
            raise NotFoundError(f"forecast: no deployments of {what or 'any service'} in the last {FIT_WEEKS} weeks")
        return sorted(keys)

    def forecast(self, service: str | None = None, environment: str | None = None, *, weeks: int = 2,
                 start_day: int | None = None) -> dict:
        """Return the wire-shaped forecast for the matching series over WEEKS weeks from START_DAY."""
        start = self.end_day + 1 if start_day is None else start_day
        days = start + np.arange(7 * weeks)
        series_out = []
        total = np.zeros(len(days))
        for key in self.series_keys(service, environment):
            expected = self.models[key].expected(days)
            total += expected
            series_out.append({"service": key[0], "environment": key[1], **_shape(days, expected),
                               "trend_per_week": round(math.exp(self.models[key].beta[7] / 4.0) - 1.0, 4),
                               "last_week_actual": int(self.history_counts[key][-7:].sum())})
        return {"service": service, "environment": environment, "from": float(days[0] * DAY),
                "to": float((days[-1] + 1) * DAY), "horizon_weeks": weeks, **_shape(days, total),
                "series": series_out}


def poisson_quantile(q: float, mu: float) -> int:
    """The smallest k with P(X <= k) >= Q for X ~ Poisson(MU) (normal approximation above 500)."""
    if mu <= 0:
        return 0
    if mu > 500:
        z = {0.1: -1.2815515655446004, 0.9: 1.2815515655446004}.get(q)
        if z is None:
            raise ValueError(f"quantile {q} not supported above mean 500")
        return max(0, int(math.floor(mu + z * math.sqrt(mu) + 0.5)))
    pmf = math.exp(-mu)
    cdf, k = pmf, 0
    while cdf < q:
        k += 1
        pmf *= mu / k
        cdf += pmf
    return k


def _shape(days: np.ndarray, expected: np.ndarray) -> dict:
    """Per-day and per-week (Monday-based) expected counts with Poisson p10/p90 bounds.

    ``date`` and ``week_start`` are UTC midnights in epoch seconds (the wire's time shape);
    ``day`` and ``week`` repeat them as ISO dates for people; ``days_covered`` says how many days
    of a week fall inside the horizon (the first and last week may be partial).
    """
    daily = [{"date": float(day * DAY), "day": from_epoch(day * DAY).date().isoformat(),
              "expected": round(float(mu), 3), "low": float(poisson_quantile(0.1, mu)),
              "high": float(poisson_quantile(0.9, mu))}
             for day, mu in zip(days, expected)]
    weekly: dict[int, list] = {}
    for day, mu in zip(days, expected):
        monday = int(day - weekday_of(int(day)))
        total = weekly.setdefault(monday, [0.0, 0])
        total[0] += float(mu)
        total[1] += 1
    weeks = [{"week_start": float(monday * DAY), "week": from_epoch(monday * DAY).date().isoformat(),
              "days_covered": covered, "expected": round(mu, 3), "low": float(poisson_quantile(0.1, mu)),
              "high": float(poisson_quantile(0.9, mu))}
             for monday, (mu, covered) in sorted(weekly.items())]
    return {"days": daily, "weeks": weeks}


def evaluate_forecast(history: DeploymentHistory, *, holdout_weeks: int = 2) -> dict:
    """Fit on all but the last HOLDOUT_WEEKS full weeks, score them against the seasonal-naive baseline.

    Returns mean absolute error per series-day of the model and of the baseline (the count on
    the same weekday of the last observed week), and the same for weekly totals per series.
    """
    if len(history) == 0:
        raise ModelNotReadyError("forecast evaluation: no deployments")
    last_day = int(math.floor(float(history.started[-1]) / DAY))
    first_day = int(math.floor(float(history.started[0]) / DAY))
    holdout_end = last_day - 1                     # the last day may be partial
    holdout_start = holdout_end - 7 * holdout_weeks + 1
    if holdout_start - first_day < 21:
        raise ModelNotReadyError("forecast evaluation: need at least 3 weeks before the held-out weeks")
    forecaster = VolumeForecaster(history, until=(holdout_start - 1) * DAY + DAY - 1)
    actual = daily_counts(history, holdout_start - 7, holdout_end)
    days = holdout_start + np.arange(7 * holdout_weeks)
    model_errors, naive_errors, model_week, naive_week = [], [], [], []
    for key, counts in actual.items():
        truth = counts[7:]
        last_week = counts[:7]
        naive = np.tile(last_week, holdout_weeks)
        model = forecaster.models[key].expected(days) if key in forecaster.models else np.zeros(len(days))
        model_errors.append(np.abs(model - truth))
        naive_errors.append(np.abs(naive - truth))
        model_week.append(np.abs(model.reshape(holdout_weeks, 7).sum(1) - truth.reshape(holdout_weeks, 7).sum(1)))
        naive_week.append(np.abs(naive.reshape(holdout_weeks, 7).sum(1) - truth.reshape(holdout_weeks, 7).sum(1)))
    return {
        "holdout_weeks": holdout_weeks, "series": len(actual),
        "holdout_from": dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + holdout_start).isoformat(),
        "mae_daily": float(np.mean(np.concatenate(model_errors))),
        "mae_weekly": float(np.mean(np.concatenate(model_week))),
        "baseline_seasonal_naive": {"mae_daily": float(np.mean(np.concatenate(naive_errors))),
                                    "mae_weekly": float(np.mean(np.concatenate(naive_week)))},
    }
