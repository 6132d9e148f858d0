"""Deployment windows: the best times to start a deployment over a range, with reasons.

Candidate start times are laid out every ``step_minutes`` over [from, to]; the constraints
(business hours in a time zone, freeze windows, excluded weekdays, a minimum gap after the
service's previous deployment) strike some out; the rest are scored *as one batch* by a
:class:`SlotScorer`, and the best non-overlapping ones are returned with their expected
failure probability and why each beats deploying now.

Two scorers exist: :class:`predictor.estimates.failure_scorer.FailureModelScorer` uses the
trained failure model (Models I) through its packed predictor, and :class:`RiskSurface`, a
small additive logistic model of the same history (hour of week, environment, deployment
type, service, change size, neighbour concurrency) used when no failure model is trained.
Both expose the time-dependent part of their answer as log-odds terms, which become the
reasons.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from predictor.errors import ModelNotReadyError, ValidationError
from predictor.estimates.activity import ServiceActivity
from predictor.estimates.graph import DependencyGraph
from predictor.estimates.history import DeploymentHistory

HOUR = 3600.0
WEEK_HOURS = 168
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: hours before a start in which other starts count as concurrent
CONCURRENCY_HOURS = 2
PROBABILITY_LEVELS = ((0.1, "low"), (0.25, "medium"), (0.5, "high"), (math.inf, "critical"))
MAX_CANDIDATES = 20_000
#: below this many finished deployments of the service, the answer says it leans on the fleet
MIN_SERVICE_OUTCOMES = 5
#: suggested windows start at least this far apart (or a window length, if longer)
MIN_SPACING_MINUTES = 120


def probability_level(probability: float) -> str:
    """Return low/medium/high/critical for a failure probability."""
    for bound, name in PROBABILITY_LEVELS:
        if probability < bound:
            return name
    return "critical"


# -- the request ------------------------------------------------------------------------------
@dataclass
class BusinessHours:
    """Allowed local hours [start, end) on the given weekdays, in a time zone."""

    start_minute: int = 9 * 60
    end_minute: int = 17 * 60
    timezone: str = "UTC"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass
class FreezeWindow:
    """A period in which no deployment may run."""

    start: float
    end: float
    reason: str = "freeze window"


@dataclass
class WindowRequest:
    """What ``suggest_time`` is asked: who deploys, over which range, under which constraints."""

    service: str
    environment: str
    deployment_type: str | None
    range_from: float
    range_to: float
    now: float
    step_minutes: int = 15
    top_n: int = 3
    window_minutes: float | None = None
    change_size: float | None = None
    version: str | None = None
    business_hours: BusinessHours | None = None
    freeze_windows: list[FreezeWindow] = field(default_factory=list)
    excluded_weekdays: tuple[int, ...] = ()
    min_gap_minutes: float = 0.0
    timezone: str = "UTC"


def _number(value: object, where: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(where, f"expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValidationError(where, f"expected a number >= {minimum}, got {value!r}")
    return float(value)


def _clock(value: object, where: str) -> int:
    """Parse "HH:MM" (or an hour number) into minutes after midnight."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 24:
        return int(round(float(value) * 60))
    if isinstance(value, str):
        parts = value.strip().split(":")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            hours, minutes = int(parts[0]), int(parts[1])
            if 0 <= hours <= 24 and 0 <= minutes < 60 and hours * 60 + minutes <= 1440:
                return hours * 60 + minutes
    raise ValidationError(where, f"expected a time of day \"HH:MM\", got {value!r}")


def _zone(name: object, where: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValidationError(where, f"expected an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(where, f"unknown time zone {name!r}") from exc


def _weekdays(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValidationError(where, f"expected a list of weekdays (0=Monday or \"mon\"), got {value!r}")
    days = []
    for index, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.append(item)
        elif isinstance(item, str) and item.strip().lower()[:3] in WEEKDAYS:
            days.append(WEEKDAYS.index(item.strip().lower()[:3]))
        else:
            raise ValidationError(f"{where}[{index}]", f"expected 0-6 (0=Monday) or a weekday name, got {item!r}")
    return tuple(sorted(set(days)))


def parse_window_request(params: dict, *, default_now: float, field_prefix: str = "params") -> WindowRequest:
    """Validate wire-shaped ``suggest_time`` PARAMS into a :class:`WindowRequest`."""
    source = params.get("deployment") if isinstance(params.get("deployment"), dict) else params
    service = source.get("service")
    if not isinstance(service, str) or not service:
        raise ValidationError(f"{field_prefix}.service", f"expected a service name, got {service!r}")
    environment = source.get("environment", "production")
    if not isinstance(environment, str) or not environment:
        raise ValidationError(f"{field_prefix}.environment", f"expected an environment name, got {environment!r}")
    deployment_type = source.get("deployment_type")
    if deployment_type is not None and not isinstance(deployment_type, str):
        raise ValidationError(f"{field_prefix}.deployment_type", f"expected a string, got {deployment_type!r}")
    now = _number(params["now"], f"{field_prefix}.now") if params.get("now") is not None else default_now
    range_from = _number(params["from"], f"{field_prefix}.from") if params.get("from") is not None else now
    range_to = (_number(params["to"], f"{field_prefix}.to") if params.get("to") is not None
                else range_from + 7 * 24 * HOUR)
    if range_to <= range_from:
        raise ValidationError(f"{field_prefix}.to", f"expected a time after from ({range_from}), got {range_to}")
    step = params.get("step_minutes", 15)
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 1440:
        raise ValidationError(f"{field_prefix}.step_minutes", f"expected an integer 1-1440, got {step!r}")
    if (range_to - range_from) / (step * 60) > MAX_CANDIDATES:
        raise ValidationError(f"{field_prefix}.to",
                              f"range holds more than {MAX_CANDIDATES} candidates at {step} minutes; narrow it")
    top_n = params.get("top_n", 3)
    if isinstance(top_n, bool) or not isinstance(top_n, int) or not 1 <= top_n <= 100:
        raise ValidationError(f"{field_prefix}.top_n", f"expected an integer 1-100, got {top_n!r}")
    request = WindowRequest(service=service, environment=environment, deployment_type=deployment_type,
                            range_from=range_from, range_to=range_to, now=now, step_minutes=step, top_n=top_n)
    if params.get("window_minutes") is not None:
        request.window_minutes = _number(params["window_minutes"], f"{field_prefix}.window_minutes", minimum=1)
    change = source.get("change_size")
    if change is not None:
        request.change_size = _number(change, f"{field_prefix}.change_size", minimum=0)
    request.version = source.get("version") if isinstance(source.get("version"), str) else None
    constraints = params.get("constraints") or {}
    where = f"{field_prefix}.constraints"
    if not isinstance(constraints, dict):
        raise ValidationError(where, f"expected an object, got {type(constraints).__name__}")
    if constraints.get("timezone") is not None:
        _zone(constraints["timezone"], f"{where}.timezone")
        request.timezone = constraints["timezone"]
    hours = constraints.get("business_hours")
    if hours is not None:
        if not isinstance(hours, dict):
            raise ValidationError(f"{where}.business_hours",
                                  f"expected {{\"start\": \"09:00\", \"end\": \"17:00\", \"timezone\": ...}}, got {hours!r}")
        zone_name = hours.get("timezone", request.timezone)
        _zone(zone_name, f"{where}.business_hours.timezone")
        start = _clock(hours.get("start", "09:00"), f"{where}.business_hours.start")
        end = _clock(hours.get("end", "17:00"), f"{where}.business_hours.end")
        if end <= start:
            raise ValidationError(f"{where}.business_hours.end", f"expected a time after start, got {hours.get('end')!r}")
        days = (_weekdays(hours["weekdays"], f"{where}.business_hours.weekdays")
                if hours.get("weekdays") is not None else (0, 1, 2, 3, 4))
        request.business_hours = BusinessHours(start, end, zone_name, days)
        request.timezone = zone_name
    freezes = constraints.get("freeze_windows") or []
    if not isinstance(freezes, list):
        raise ValidationError(f"{where}.freeze_windows", f"expected a list of {{start, end}} objects, got {freezes!r}")
    for index, item in enumerate(freezes):
        at = f"{where}.freeze_windows[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(at, f"expected an object with start and end, got {item!r}")
        start = _number(item.get("start"), f"{at}.start")
        end = _number(item.get("end"), f"{at}.end")
        if end <= start:
            raise ValidationError(f"{at}.end", f"expected a time after start ({start}), got {end}")
        request.freeze_windows.append(FreezeWindow(start, end, str(item.get("reason") or "freeze window")))
    if constraints.get("excluded_weekdays") is not None:
        request.excluded_weekdays = _weekdays(constraints["excluded_weekdays"], f"{where}.excluded_weekdays")
    if constraints.get("min_gap_minutes") is not None:
        request.min_gap_minutes = _number(constraints["min_gap_minutes"], f"{where}.min_gap_minutes", minimum=0)
    return request


# -- local time and constraints ---------------------------------------------------------------
def local_clock(starts: np.ndarray, zone_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Local (weekday 0=Monday, minute of day) of epoch STARTS in ZONE_NAME, vectorised.

    The UTC offset is looked up once per distinct UTC hour (offsets change on hour boundaries
    in every zone in use), not once per candidate.
    """
    if zone_name == "UTC":
        offsets = np.zeros(len(starts))
    else:
        zone = ZoneInfo(zone_name)
        hours = np.floor(starts / HOUR).astype(np.int64)
        unique, inverse = np.unique(hours, return_inverse=True)
        table = np.array([dt.datetime.fromtimestamp(h * HOUR, dt.timezone.utc).astimezone(zone).utcoffset().total_seconds()
                          for h in unique])
        offsets = table[inverse]
    local = starts + offsets
    days = np.floor(local / 86400.0).astype(np.int64)
    weekday = (days + 3) % 7
    minute = np.floor((local - days * 86400.0) / 60.0).astype(np.int64)
    return weekday, minute


def constraint_mask(request: WindowRequest, starts: np.ndarray, window: float,
                    previous_start: np.ndarray) -> dict[str, np.ndarray]:
    """For each constraint, a boolean array: True where the candidate breaks it."""
    broken = {}
    if request.business_hours is not None:
        hours = request.business_hours
        weekday, minute = local_clock(starts, hours.timezone)
        end_weekday, end_minute = local_clock(starts + window, hours.timezone)
        same_day = (end_weekday == weekday) | ((end_minute == 0) & (hours.end_minute == 1440))
        end_minute = np.where(end_minute == 0, 1440, end_minute)
        inside = (np.isin(weekday, hours.weekdays) & (minute >= hours.start_minute)
                  & (end_minute <= hours.end_minute) & same_day)
        broken["business_hours"] = ~inside
    if request.excluded_weekdays:
        weekday, _ = local_clock(starts, request.timezone)
        broken["excluded_weekday"] = np.isin(weekday, request.excluded_weekdays)
    if request.freeze_windows:
        frozen = np.zeros(len(starts), dtype=bool)
        for freeze in request.freeze_windows:
            frozen |= (starts < freeze.end) & (starts + window > freeze.start)
        broken["freeze_window"] = frozen
    if request.min_gap_minutes > 0:
        broken["min_gap"] = (starts - previous_start) < request.min_gap_minutes * 60.0
    return broken


# -- scoring ----------------------------------------------------------------------------------
@dataclass
class ScoredSlots:
    """A scorer's answer for a batch of start times."""

    probability: np.ndarray
    #: time-dependent log-odds contributions per named term (e.g. "time_of_week", "concurrency"),
    #: either arrays over all slots or computed on demand for a few slots by ``explain``
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    #: readable per-slot facts behind the terms (e.g. "expected_concurrent" counts)
    facts: dict[str, np.ndarray] = field(default_factory=dict)
    explain: object = None   # optional callable(indices) -> dict[str, np.ndarray]

    def terms_for(self, indices: list[int]) -> dict[str, np.ndarray]:
        """The terms of the slots at INDICES (one array per term, in INDICES order)."""
        if self.explain is not None:
            return self.explain(indices)
        return {name: values[indices] for name, values in self.terms.items()}


class SlotScorer(Protocol):
    """Scores many start times of one deployment at once."""

    name: str
    version: str

    def score(self, request: WindowRequest, starts: np.ndarray) -> ScoredSlots:
        """Return failure probabilities (and their time-dependent terms) for epoch STARTS."""


class ConcurrencyProfile:
    """Typical starts per hour of week of each service, to expect neighbour concurrency."""

    def __init__(self, history: DeploymentHistory) -> None:
        self.per_service: dict[str, np.ndarray] = {}
        if len(history) == 0:
            self.weeks = 1.0
            return
        how = hour_of_week(history.started)
        self.weeks = max(1.0, (history.started[-1] - history.started[0]) / (WEEK_HOURS * HOUR))
        for service in np.unique(history.service):
            mask = history.service == service
            self.per_service[service] = np.bincount(how[mask], minlength=WEEK_HOURS).astype(float)

    def observe(self, service: str, started: float) -> None:
        """Count one more start of SERVICE."""
        counts = self.per_service.setdefault(service, np.zeros(WEEK_HOURS))
        counts[int(hour_of_week(np.array([started]))[0])] += 1

    def expected(self, services, starts: np.ndarray) -> np.ndarray:
        """Expected starts of SERVICES in the CONCURRENCY_HOURS before each of STARTS."""
        total = np.zeros(WEEK_HOURS)
        for name in services:
            counts = self.per_service.get(name)
            if counts is not None:
                total += counts
        total /= self.weeks
        window = sum(np.roll(total, k) for k in range(1, CONCURRENCY_HOURS + 1))
        return window[hour_of_week(starts)]


class TimeOfWeekRates:
    """The fleet's smoothed failure rate per UTC hour of week: a tie-breaker for windows.

    A scorer can rate many windows alike (far past the end of the history the failure model
    sees the same service state at every candidate, and its trees give the same leaf). Among
    equal probabilities the hour of week where the fleet failed least comes first. Each hour's
    rate is shrunk towards its hour-of-day rate, and that towards the overall rate
    (``PRIOR_WEIGHT`` pseudo-deployments each), so sparse hours do not swing the order.
    """

    PRIOR_WEIGHT = 20.0

    def __init__(self, history: "DeploymentHistory") -> None:
        mask = history.has_outcome if len(history) else np.zeros(0, dtype=bool)
        how = hour_of_week(history.started[mask]) if mask.any() else np.zeros(0, dtype=np.int64)
        failed = history.failed[mask].astype(float) if mask.any() else np.zeros(0)
        n = np.bincount(how, minlength=WEEK_HOURS).astype(float)
        f = np.bincount(how, weights=failed, minlength=WEEK_HOURS)
        overall = (f.sum() + 1.0) / (n.sum() + 2.0)
        n_hour = n.reshape(7, 24).sum(axis=0)
        f_hour = f.reshape(7, 24).sum(axis=0)
        by_hour = (f_hour + self.PRIOR_WEIGHT * overall) / (n_hour + self.PRIOR_WEIGHT)
        prior = by_hour[np.arange(WEEK_HOURS) % 24]
        self.rate = (f + self.PRIOR_WEIGHT * prior) / (n + self.PRIOR_WEIGHT)

    def __call__(self, starts: np.ndarray) -> np.ndarray:
        """The smoothed failure rate at the hour of week of each of STARTS."""
        return self.rate[hour_of_week(starts)]


def hour_of_week(starts: np.ndarray) -> np.ndarray:
    """UTC hour of week (0 = Monday 00:00) of epoch STARTS."""
    hours = np.floor(np.asarray(starts, float) / HOUR).astype(np.int64)
    return (hours + 3 * 24) % WEEK_HOURS


class RiskSurface:
    """An additive logistic model of failure over time of week, context and concurrency.

    log-odds = intercept + hour-of-day + weekday + hour-of-week + environment + deployment
    type + service + change size + neighbour concurrency, fitted with L2 shrinkage on the
    history's outcomes. Used to score windows when no failure model is trained, and as a
    cross-check of the failure model's time effects.
    """

    name = "risk-surface"

    def __init__(self, C: float = 0.3) -> None:
        self.C = C

    def fit(self, history: DeploymentHistory, graph: DependencyGraph, activity: ServiceActivity) -> "RiskSurface":
        """Fit on every deployment of HISTORY with an outcome."""
        mask = history.has_outcome
        if mask.sum() < 100 or history.failed[mask].sum() < 5:
            raise ModelNotReadyError(f"risk surface: {int(mask.sum())} deployments with an outcome; need 100 "
                                     "with at least 5 failures")
        self.graph = graph
        self.activity = activity
        self.profile = ConcurrencyProfile(history)
        starts = history.started[mask]
        self.levels = {}
        blocks = []
        for name, values in (("environment", history.environment[mask]), ("deployment_type", history.deployment_type[mask]),
                             ("service", history.service[mask])):
            names = sorted({str(v) for v in values})
            self.levels[name] = {v: i for i, v in enumerate(names)}
            codes = np.array([self.levels[name][str(v)] for v in values])
            blocks.append(_one_hot(codes, len(names)))
        how = hour_of_week(starts)
        blocks += [_one_hot(how % 24, 24), _one_hot(how // 24, 7), _one_hot(how, WEEK_HOURS)]
        change = history.change_size[mask]
        self.change_default = float(np.nanmedian(change)) if np.isfinite(change).any() else 0.0
        change = np.log1p(np.where(np.isnan(change), self.change_default, change))
        concurrency = np.log1p(self._actual_concurrency(history, mask))
        numeric = np.column_stack([change, concurrency])
        X = sparse.hstack(blocks + [sparse.csr_matrix(numeric)]).tocsr()
        y = history.failed[mask].astype(int)
        model = LogisticRegression(C=self.C, max_iter=500).fit(X, y)
        coef = model.coef_[0]
        self.intercept_ = float(model.intercept_[0])
        offset = 0
        self.weights_ = {}
        for name in ("environment", "deployment_type", "service"):
            size = len(self.levels[name])
            self.weights_[name] = coef[offset:offset + size]
            offset += size
        hour, weekday, week = coef[offset:offset + 24], coef[offset + 24:offset + 31], coef[offset + 31:offset + 31 + WEEK_HOURS]
        offset += 31 + WEEK_HOURS
        hours = np.arange(WEEK_HOURS)
        self.time_of_week_ = hour[hours % 24] + weekday[hours // 24] + week
        self.change_weight_, self.concurrency_weight_ = float(coef[offset]), float(coef[offset + 1])
        self.version = f"risk-surface-{len(y)}"
        return self

    def _actual_concurrency(self, history: DeploymentHistory, mask: np.ndarray) -> np.ndarray:
        """Starts of the service and its direct neighbours in the CONCURRENCY_HOURS before each start."""
        starts_of = {name: self.activity.starts_array(name) for name in np.unique(history.service)}
        out = np.zeros(int(mask.sum()))
        indices = np.flatnonzero(mask)
        services = history.service[mask]
        for name in np.unique(services):
            rows = services == name
            times = history.started[indices[rows]]
            total = np.zeros(len(times))
            for other in [name, *self.graph.neighbours(name)]:
                array = starts_of.get(other)
                if array is None or not len(array):
                    continue
                total += np.searchsorted(array, times, "left") - np.searchsorted(array, times - CONCURRENCY_HOURS * HOUR, "left")
            out[rows] = total
        return out

    def _lookup(self, name: str, value: object) -> float:
        index = self.levels[name].get(str(value))
        return 0.0 if index is None else float(self.weights_[name][index])

    def score(self, request: WindowRequest, starts: np.ndarray) -> ScoredSlots:
        """Score every start in STARTS for REQUEST's deployment, as one vectorised batch."""
        base = (self.intercept_ + self._lookup("environment", request.environment)
                + self._lookup("deployment_type", request.deployment_type)
                + self._lookup("service", request.service)
                + self.change_weight_ * math.log1p(request.change_size if request.change_size is not None
                                                   else self.change_default))
        time_term = self.time_of_week_[hour_of_week(starts)]
        expected = self.profile.expected([request.service, *self.graph.neighbours(request.service)], starts)
        concurrency_term = self.concurrency_weight_ * np.log1p(expected)
        logit = base + time_term + concurrency_term
        return ScoredSlots(1.0 / (1.0 + np.exp(-logit)),
                           {"time_of_week": time_term, "concurrency": concurrency_term},
                           {"expected_concurrent": expected})


# -- the answer -------------------------------------------------------------------------------
def _describe(moment: float, zone_name: str) -> str:
    local = dt.datetime.fromtimestamp(moment, dt.timezone.utc).astimezone(ZoneInfo(zone_name))
    return local.strftime("%a %Y-%m-%d %H:%M ") + zone_name


def suggest_windows(scorer: SlotScorer, activity: ServiceActivity, request: WindowRequest,
                    typical_duration: float | None = None) -> dict:
    """Return the wire-shaped ``suggest_time`` answer for REQUEST."""
    step = request.step_minutes * 60.0
    starts = request.range_from + step * np.arange(int((request.range_to - request.range_from) // step) + 1)
    if request.window_minutes is not None:
        window = request.window_minutes * 60.0
        window_basis = "request"
    elif typical_duration is not None and typical_duration > 0:
        window = max(step, math.ceil(typical_duration / step) * step)
        window_basis = "p90 duration estimate"
    else:
        window = max(step, 3600.0)
        window_basis = "default"
    record = activity.records.get(request.service)
    env_starts = activity.starts_array(request.service, request.environment)
    all_times = np.concatenate([starts, [request.now]])
    if len(env_starts):
        position = np.searchsorted(env_starts, all_times, "right") - 1
        previous = np.where(position >= 0, env_starts[np.maximum(position, 0)], -np.inf)
    else:
        previous = np.full(len(all_times), -np.inf)
    broken = constraint_mask(request, all_times, window, previous)
    allowed = np.ones(len(all_times), dtype=bool)
    for mask in broken.values():
        allowed &= ~mask
    scored = scorer.score(request, all_times)
    probability = scored.probability
    now_p = float(probability[-1])
    candidate_allowed = allowed[:-1]
    # lowest probability first; probabilities equal to 1e-6 are ties, broken by the fleet's
    # failure rate at that hour of week when the scorer has one, then by the earlier start
    tie_break = getattr(scorer, "tie_break", None)
    secondary = tie_break(starts) if tie_break is not None else np.zeros(len(starts))
    order = np.lexsort((starts, secondary, np.round(probability[:-1], 6)))
    chosen: list[int] = []
    spacing = max(window, MIN_SPACING_MINUTES * 60.0)
    for index in order:
        if not candidate_allowed[index]:
            continue
        if all(abs(starts[index] - starts[other]) >= spacing for other in chosen):
            chosen.append(int(index))
            if len(chosen) == request.top_n:
                break
    now_violations = [name for name, mask in broken.items() if mask[-1]]
    terms = scored.terms_for([*chosen, len(all_times) - 1])
    now_terms = {name: float(values[-1]) for name, values in terms.items()}
    windows = []
    for position, index in enumerate(chosen):
        p = float(probability[index])
        reasons = []
        if now_p > 0:
            reasons.append(f"expected failure probability {p:.1%} vs {now_p:.1%} now "
                           f"({(p - now_p) / now_p:+.0%})")
        factors = []
        for name, values in terms.items():
            value = float(values[position])
            delta = value - now_terms[name]
            factors.append({"name": name, "window": round(value, 4), "now": round(now_terms[name], 4),
                            "delta_log_odds": round(delta, 4)})
            if delta < -0.05:
                if name == "time_of_week":
                    reasons.append(f"{_describe(starts[index], request.timezone)} has had fewer failures than "
                                   f"{_describe(request.now, request.timezone)} (log-odds {delta:+.2f})")
                elif name == "concurrency" and "expected_concurrent" in scored.facts:
                    if scored.facts["expected_concurrent"][index] >= scored.facts["expected_concurrent"][-1]:
                        continue
                    reasons.append(f"fewer concurrent deployments of {request.service} and its neighbours expected "
                                   f"({scored.facts['expected_concurrent'][index]:.1f} vs "
                                   f"{scored.facts['expected_concurrent'][-1]:.1f} now; log-odds {delta:+.2f})")
                elif name == "service_activity":
                    reasons.append(f"{request.service}'s recent deployment pace (days since its previous deployment, "
                                   f"7- and 28-day counts) favours this time over now (log-odds {delta:+.2f})")
                else:
                    reasons.append(f"{name.replace('_', ' ')} is more favourable than now (log-odds {delta:+.2f})")
        for violation in now_violations:
            reasons.append(f"deploying now breaks the {violation.replace('_', ' ')} constraint")
        factors.sort(key=lambda f: f["delta_log_odds"])
        windows.append({
            "start": float(starts[index]), "end": float(starts[index] + window),
            "local_start": _describe(starts[index], request.timezone),
            "failure_probability": round(p, 6), "risk_level": probability_level(p),
            "improvement_vs_now": round(now_p - p, 6), "reasons": reasons, "factors": factors,
        })
    allowed_probabilities = probability[:-1][candidate_allowed]
    now_reasons = [f"starting now breaks the {v.replace('_', ' ')} constraint" for v in now_violations]
    if len(allowed_probabilities):
        share = float(np.mean(allowed_probabilities < now_p))
        now_reasons.append(f"{share:.0%} of the allowed start times in the range have a lower expected failure "
                           f"probability than now ({now_p:.1%})")
    return {
        "service": request.service, "environment": request.environment, "deployment_type": request.deployment_type,
        "from": request.range_from, "to": request.range_to, "step_minutes": request.step_minutes,
        "window_minutes": window / 60.0, "window_basis": window_basis, "timezone": request.timezone,
        "windows": windows,
        "now": {"start": request.now, "end": request.now + window, "failure_probability": round(now_p, 6),
                "risk_level": probability_level(now_p), "allowed": not now_violations, "violations": now_violations,
                "reasons": now_reasons},
        "candidates": len(starts), "candidates_allowed": int(candidate_allowed.sum()),
        "excluded_by": {name: int(mask[:-1].sum()) for name, mask in broken.items()},
        "median_allowed_probability": (round(float(np.median(allowed_probabilities)), 6)
                                       if len(allowed_probabilities) else None),
        "known_service": record is not None,
        "insufficient_history": (None if record is not None and record.outcomes >= MIN_SERVICE_OUTCOMES else
                                 f"{request.service} has {record.outcomes if record else 0} finished deployment(s): "
                                 "the windows rest on fleet-wide time-of-week patterns"),
        "scorer": scorer.name, "model_version": scorer.version,
    }


def _one_hot(codes: np.ndarray, width: int) -> sparse.csr_matrix:
    rows = np.arange(len(codes))
    return sparse.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(codes), width))
