"""Generate a demo deployment history with planted structure (see :mod:`predictor.demo`).

Everything is drawn column-wise with numpy from one ``numpy.random.default_rng(seed)``, so a
seed always gives the same history and a million deployments take seconds. The canonical
record dicts (:attr:`DemoHistory.deployments`, :attr:`DemoHistory.rollbacks`) are built from
the columns on first access; the writers work on the columns directly.
"""

from __future__ import annotations

import datetime as dt
import gc
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from predictor.demo import planted as P
from predictor.demo.catalog import BOTS, TEAMS, Catalog, build_catalog
from predictor.errors import NotFoundError, ValidationError

EPOCH = dt.datetime(1970, 1, 1)
#: deployment statuses the generator uses, indexed by the ``status`` column
STATUS_NAMES = ("success", "failure", "rolled-back", "partial", "cancelled")
SUCCESS, FAILURE, ROLLED_BACK, PARTIAL, CANCELLED = range(5)
#: every initiator: team members first (team order), then the bots
INITIATORS = tuple(name for roster in TEAMS.values() for name in roster) + BOTS
#: share of deployments started by a bot, per environment
BOT_SHARE = {"dev": 0.6, "staging": 0.5, "production": 0.3}
REASONS = tuple(reason for cause in P.FAILURE_CAUSES for reason in P.CAUSE_REASONS[cause])
IMPACTS = ("none", "low", "medium", "high", "critical")
ROLLBACK_STATUSES = ("success", "failure")


def _epoch(moment: dt.datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def _to_datetime(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


_TIME_OF_DAY: list[str] = []


def iso_times(seconds: np.ndarray) -> list[str]:
    """Return epoch SECONDS as ISO-8601 UTC strings ``2026-01-05T09:30:00Z`` (fast for millions)."""
    if not _TIME_OF_DAY:
        _TIME_OF_DAY.extend(f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60))
    seconds = np.asarray(seconds, dtype="int64")
    if seconds.size == 0:
        return []
    days = seconds // 86400
    first = int(days.min())
    dates = np.datetime_as_string(np.arange(first, int(days.max()) + 1).astype("datetime64[D]")).tolist()
    clock = _TIME_OF_DAY
    return [dates[d] + clock[t] for d, t in zip((days - first).tolist(), (seconds % 86400).tolist())]


def _datetimes(seconds: np.ndarray) -> list[dt.datetime]:
    """Return epoch SECONDS as naive UTC datetimes (vectorised through numpy)."""
    return np.asarray(seconds, dtype="int64").astype("datetime64[s]").tolist()


def _lognormal(rng: np.random.Generator, median, sigma: float, size: int) -> np.ndarray:
    return np.exp(np.log(median) + sigma * rng.standard_normal(size))


def _choice_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """Draw one column index per row of the (rows x k) PROBABILITIES matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    draws = rng.random((probabilities.shape[0], 1))
    return np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)


@dataclass(eq=False, repr=False)
class DemoHistory:
    """A generated history: services, deployments and rollbacks as canonical dicts.

    ``columns`` holds the deployments column-wise (numpy arrays aligned with
    :attr:`deployments`, sorted by start time) including the planted quantities the records
    do not carry: ``probability`` (the true failure probability), ``concurrent``,
    ``staging_failed``, ``best_template``, ``missing_adaptations``, ``cause``.
    ``rollback_columns`` does the same for rollbacks.
    """

    seed: int
    start: dt.datetime
    end: dt.datetime
    catalog: Catalog
    columns: dict[str, Any]
    rollback_columns: dict[str, Any]
    best_templates: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"DemoHistory(seed={self.seed}, deployments={len(self)}, "
                f"rollbacks={self.rollback_columns['started'].size}, services={len(self.catalog.names)}, "
                f"start={self.start.isoformat()}, end={self.end.isoformat()})")

    # -- simple views -----------------------------------------------------------------------
    @property
    def services(self) -> list[dict]:
        """The service records (name, type, team, owners, ..., dependencies)."""
        return self.catalog.services

    @property
    def hubs(self) -> list[str]:
        """The hub services: many transitive dependents each."""
        return list(self.catalog.hubs)

    def dependents(self, service: str) -> dict[str, int]:
        """Return the transitive dependents of SERVICE with their distance in hops."""
        if service not in self.catalog.index:
            raise NotFoundError(f"service {service!r} is not in this demo history")
        return self.catalog.dependents(service)

    def __len__(self) -> int:
        return int(self.columns["started"].size)

    @cached_property
    def true_failure_probability(self) -> list[float]:
        """The planted failure probability of each deployment (aligned with deployments).

        For a cancelled deployment it is the probability it would have failed had it run.
        """
        return self.columns["probability"].tolist()

    @cached_property
    def failure_causes(self) -> list[str | None]:
        """The planted cause of each failed deployment (None when it did not fail)."""
        return [P.FAILURE_CAUSES[c] if c >= 0 else None for c in self.columns["cause"].tolist()]

    @cached_property
    def rollback_causes(self) -> list[str]:
        """The planted failure cause behind each rollback (aligned with rollbacks)."""
        return [P.FAILURE_CAUSES[c] for c in self.rollback_columns["cause"].tolist()]

    def deployment_ids(self) -> list[str]:
        """Return the deployment ids in order (``dep-0000001`` ...)."""
        return [f"dep-{i:07d}" for i in range(1, len(self) + 1)]

    def rollback_ids(self) -> list[str]:
        """Return the rollback ids in order (``rb-0000001`` ...)."""
        return [f"rb-{i:07d}" for i in range(1, self.rollback_columns["started"].size + 1)]

    def best_configuration(self, environment: str, resources) -> dict:
        """Return the planted best configuration for ENVIRONMENT and the RESOURCES deployed.

        Its template (replicas, health_check_grace) fails less often than the others, and its
        adaptation values (ssl_verify, timeout_seconds, audit_logging) are the environment's.
        """
        key = (environment, tuple(sorted(resources, key=P.RESOURCE_KINDS.index)))
        if key not in self.best_templates:
            raise NotFoundError(f"no demo service deploys resources {list(key[1])} to {environment}")
        replicas, grace = P.TEMPLATES[self.best_templates[key]]
        config = {"replicas": replicas, "health_check_grace": grace}
        production = environment == "production"
        for name, other_value, production_value in P.ADAPTATIONS:
            config[name] = production_value if production else other_value
        return config

    # -- canonical records ------------------------------------------------------------------
    @cached_property
    def deployments(self) -> list[dict]:
        """Every deployment as a canonical dict (keys = the store's deployments columns)."""
        return _without_gc(build_deployment_records, self)

    @cached_property
    def rollbacks(self) -> list[dict]:
        """Every rollback as a canonical dict."""
        return _without_gc(build_rollback_records, self)


def _without_gc(build, history: DemoHistory) -> list[dict]:
    """Run BUILD(HISTORY) with the cyclic garbage collector paused.

    Millions of fresh dicts would trigger a collection every few hundred allocations (more than
    half the time spent); the records hold no cycles, so nothing is lost by waiting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return build(history)
    finally:
        if enabled:
            gc.enable()


# -- generation ---------------------------------------------------------------------------------

def _concurrency(service: np.ndarray, started: np.ndarray, dependencies: list[list[int]]) -> np.ndarray:
    """Count, per row, earlier rows of the same service or its direct dependencies within the window.

    All rows given belong to one environment.
    """
    count = np.zeros(service.size, dtype=np.int64)
    order = np.argsort(started, kind="stable")
    by_service: dict[int, np.ndarray] = {}
    sorted_service = service[order]
    sorted_started = started[order]
    for s in np.unique(service):
        by_service[int(s)] = sorted_started[sorted_service == s]
    for s in by_service:
        rows = np.nonzero(service == s)[0]
        t = started[rows]
        total = np.zeros(rows.size, dtype=np.int64)
        for u in [s, *dependencies[s]]:
            other = by_service.get(u)
            if other is None:
                continue
            total += np.searchsorted(other, t, "left") - np.searchsorted(other, t - P.CONCURRENCY_WINDOW, "left")
        count[rows] = total
    return count


def _earlier_in_working_hours(rng: np.random.Generator, later: np.ndarray, median: float, longest: int,
                              tries: int = 8) -> np.ndarray:
    """Return a time a lognormal gap (MEDIAN seconds, sigma 0.6) before each of LATER.

    Gaps are redrawn (up to TRIES times) with acceptance probability proportional to the
    hour's volume, so earlier stages also happen mostly in working hours.
    """
    n = later.size
    result = later - np.clip(_lognormal(rng, median, 0.6, n), 600, longest).astype(np.int64)
    accepted = np.zeros(n, dtype=bool)
    weight = P.HOUR_VOLUME / P.HOUR_VOLUME.max()
    for _ in range(tries):
        candidate = later - np.clip(_lognormal(rng, median, 0.6, n), 600, longest).astype(np.int64)
        ok = ~accepted & (rng.random(n) < weight[(candidate // 3600) % 24])
        result[ok] = candidate[ok]
        accepted |= ok
    return result


def _hour_weekday(started: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hour = (started // 3600) % 24
    weekday = (started // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    return hour, weekday


def _draw_rows(rng, cat: Catalog, rel: dict, release: np.ndarray, env: int, started: np.ndarray,
               best_by_env_service: np.ndarray, staging_failed: np.ndarray) -> dict[str, np.ndarray]:
    """Draw everything about the rows of one environment, outcomes included."""
    env_name = P.ENVIRONMENTS[env]
    n = release.size
    service = rel["service"][release]
    dtype = rng.choice(len(P.DEPLOYMENT_TYPES), n, p=P.TYPE_SHARE[env_name])
    # configuration: template (best one favoured) and the environment's adaptation values
    best = best_by_env_service[env, service]
    uniform = rng.integers(0, len(P.TEMPLATES), n)
    template = np.where(rng.random(n) < P.BEST_TEMPLATE_EXTRA, best, uniform)
    consistent = P.ADAPTATION_CONSISTENCY[env_name]
    adaptation_values = []
    missing = np.zeros(n, dtype=np.int64)
    for _, other_value, production_value in P.ADAPTATIONS:
        usual, unusual = (production_value, other_value) if env_name == "production" else (other_value, production_value)
        keep = rng.random(n) < consistent
        adaptation_values.append((keep, usual, unusual))
        if env_name == "production":
            missing += ~keep
    concurrent = _concurrency(service, started, cat.dependencies)
    hour, weekday = _hour_weekday(started)
    n_deps = np.array([len(d) for d in cat.dependencies])[service]
    logit = P.failure_logit(
        service_base=cat.base_logit[service], environment=np.full(n, env), hour=hour, weekday=weekday,
        deployment_type=dtype, n_dependencies=n_deps, concurrent=concurrent,
        change_size=rel["change_size"][release], major=rel["bump"][release] == 0,
        staging_failed=staging_failed, best_template=template == best, missing_adaptations=missing,
    )
    probability = P.sigmoid(logit)
    cancelled = rng.random(n) < P.CANCELLED_SHARE
    failed = ~cancelled & (rng.random(n) < probability)
    columns = {
        "service": service, "env": np.full(n, env, dtype=np.int64), "type": dtype,
        "started": started, "template": template, "best_template": template == best,
        "missing_adaptations": missing, "concurrent": concurrent, "staging_failed": staging_failed,
        "probability": probability, "cancelled": cancelled, "failed": failed, "release": release,
    }
    for (name, _, _), (keep, usual, unusual) in zip(P.ADAPTATIONS, adaptation_values):
        columns[name] = np.where(keep, usual, unusual)
    return columns


def generate_history(seed: int = 0, services: int = 20, days: int = 120,
                     start: dt.datetime = dt.datetime(2026, 1, 5), deployments_per_day: float = 40,
                     growth: float = P.VOLUME_GROWTH) -> DemoHistory:
    """Generate a deterministic demo history of about DAYS x DEPLOYMENTS_PER_DAY deployments.

    SERVICES services deploy releases (service versions) that go to dev (sometimes), staging
    (usually) and production, starting on START (naive UTC) for DAYS days. Daily volume
    grows linearly by GROWTH (a share) from the first day to the last, around the average
    DEPLOYMENTS_PER_DAY. The planted structure is described in :mod:`predictor.demo`; the same
    SEED gives the same history.
    """
    if services < 1:
        raise ValidationError("services", f"expected at least 1 service, got {services}")
    if days < 1:
        raise ValidationError("days", f"expected at least 1 day, got {days}")
    if not -2 < growth < 2:
        raise ValidationError("growth", f"expected a share between -2 and 2, got {growth}")
    if deployments_per_day <= 0:
        raise ValidationError("deployments_per_day", f"expected a positive number, got {deployments_per_day}")
    if start.tzinfo is not None:
        start = start.astimezone(dt.timezone.utc).replace(tzinfo=None)
    rng = np.random.default_rng(seed)
    cat = build_catalog(rng, services, start)
    start_epoch = _epoch(start)
    end_epoch = start_epoch + days * 86400

    # best template per (environment, resource set)
    resource_sets = sorted(set(cat.resources))
    best_templates = {}
    for env_name in P.ENVIRONMENTS:
        for res in resource_sets:
            best_templates[(env_name, res)] = int(rng.integers(len(P.TEMPLATES)))
    best_by_env_service = np.array([[best_templates[(e, cat.resources[s])] for s in range(len(cat.names))]
                                    for e in P.ENVIRONMENTS])

    # -- releases -----------------------------------------------------------------------------
    production_share = (P.STAGING_SHARE * (0.88 * P.PRODUCTION_AFTER_STAGING_SUCCESS
                                           + 0.12 * P.PRODUCTION_AFTER_STAGING_FAILURE)
                        + (1 - P.STAGING_SHARE))
    per_release = P.DEV_SHARE + P.STAGING_SHARE + production_share
    day = np.arange(days)
    weekday = (start.weekday() + day) % 7
    trend = 1.0 + growth * (day / max(days - 1, 1) - 0.5)
    rate = deployments_per_day * trend * P.WEEKDAY_VOLUME[weekday] / P.WEEKDAY_VOLUME.mean() / per_release
    release_day = np.repeat(day, rng.poisson(rate))
    R = release_day.size
    hour = rng.choice(24, R, p=P.HOUR_VOLUME / P.HOUR_VOLUME.sum())
    anchor = start_epoch + release_day * 86400 + hour * 3600 + rng.integers(0, 3600, R)
    rel = {
        "service": rng.choice(len(cat.names), R, p=cat.popularity),
        "bump": rng.choice(3, R, p=P.BUMP_SHARE),
        "region": rng.integers(0, len(P.REGIONS), R),
    }
    size = np.maximum(1, np.rint(_lognormal(rng, P.CHANGE_SIZE_MEDIAN, P.CHANGE_SIZE_SIGMA, R))).astype(np.int64)
    rel["change_size"] = np.where(rel["bump"] == 0, size * P.MAJOR_CHANGE_FACTOR, size)
    has_dev = rng.random(R) < P.DEV_SHARE
    has_staging = rng.random(R) < P.STAGING_SHARE
    staging_start = _earlier_in_working_hours(rng, anchor, P.STAGING_GAP_MEDIAN, 36 * 3600)
    dev_start = _earlier_in_working_hours(rng, np.where(has_staging, staging_start, anchor), P.DEV_GAP_MEDIAN,
                                          48 * 3600)
    first = np.where(has_dev, dev_start, np.where(has_staging, staging_start, anchor))
    rel["commit_time"] = first - np.clip(_lognormal(rng, P.COMMIT_LEAD_MEDIAN, P.COMMIT_LEAD_SIGMA, R),
                                         60, 30 * 86400).astype(np.int64)
    has_dev &= dev_start >= start_epoch
    has_staging &= staging_start >= start_epoch

    # semantic versions, in time order per service
    initial = np.stack([rng.integers(0, 3, len(cat.names)) + 1, rng.integers(0, 12, len(cat.names)),
                        rng.integers(0, 6, len(cat.names))], axis=1).tolist()
    versions: list[str] = [""] * R
    previous: list[str] = [""] * R
    bumps = rel["bump"].tolist()
    services_of = rel["service"].tolist()
    for r in np.lexsort((anchor, rel["service"])).tolist():
        state = initial[services_of[r]]
        previous[r] = f"{state[0]}.{state[1]}.{state[2]}"
        kind = bumps[r]
        if kind == 0:
            state[0] += 1; state[1] = 0; state[2] = 0  # noqa: E702
        elif kind == 1:
            state[1] += 1; state[2] = 0  # noqa: E702
        else:
            state[2] += 1
        versions[r] = f"{state[0]}.{state[1]}.{state[2]}"

    # -- deployments per environment: dev and staging first, production by staging outcome ---
    dev_rel = np.nonzero(has_dev)[0]
    stg_rel = np.nonzero(has_staging)[0]
    dev = _draw_rows(rng, cat, rel, dev_rel, 0, dev_start[dev_rel], best_by_env_service,
                     np.zeros(dev_rel.size, dtype=bool))
    stg = _draw_rows(rng, cat, rel, stg_rel, 1, staging_start[stg_rel], best_by_env_service,
                     np.zeros(stg_rel.size, dtype=bool))
    stg_failed = np.zeros(R, dtype=bool)
    stg_cancelled = np.zeros(R, dtype=bool)
    stg_failed[stg_rel] = stg["failed"]
    stg_cancelled[stg_rel] = stg["cancelled"]
    go = np.where(stg_cancelled, P.PRODUCTION_AFTER_STAGING_CANCELLED,
                  np.where(stg_failed, P.PRODUCTION_AFTER_STAGING_FAILURE, P.PRODUCTION_AFTER_STAGING_SUCCESS))
    go = np.where(has_staging, go, 1.0)
    prod_rel = np.nonzero((rng.random(R) < go) & (anchor < end_epoch))[0]
    prod = _draw_rows(rng, cat, rel, prod_rel, 2, anchor[prod_rel], best_by_env_service, stg_failed[prod_rel])

    cols = {key: np.concatenate([dev[key], stg[key], prod[key]]) for key in dev}
    order = np.lexsort((cols["env"], cols["started"]))
    cols = {key: value[order] for key, value in cols.items()}
    n = order.size
    release = cols["release"]

    # parent: the same release's deployment in the previous environment
    row_of = np.full((3, R), -1, dtype=np.int64)
    row_of[cols["env"], release] = np.arange(n)
    parent = np.where(cols["env"] == 2, np.where(row_of[1, release] >= 0, row_of[1, release], row_of[0, release]),
                      np.where(cols["env"] == 1, row_of[0, release], -1))
    cols["parent"] = parent
    cols["version"] = [versions[r] for r in release.tolist()]
    cols["previous_version"] = [previous[r] for r in release.tolist()]
    for key in ("bump", "region", "change_size", "commit_time"):
        cols[key] = rel[key][release]

    # statuses and causes
    failed = cols["failed"]
    status = np.full(n, SUCCESS, dtype=np.int64)
    status[cols["cancelled"]] = CANCELLED
    failed_rows = np.nonzero(failed)[0]
    shares = P.FAILED_STATUS_SHARE
    status[failed_rows] = np.array([ROLLED_BACK, FAILURE, PARTIAL])[
        rng.choice(3, failed_rows.size, p=[shares["rolled-back"], shares["failure"], shares["partial"]])]
    cols["status"] = status
    service = cols["service"]
    weights = np.tile(np.array([P.CAUSE_WEIGHT[c] for c in P.FAILURE_CAUSES]), (failed_rows.size, 1))
    has_database = np.array(["database" in r for r in cat.resources])[service[failed_rows]]
    weights[:, 0] *= has_database
    weights[:, 2] += 0.3 * ((cols["env"][failed_rows] == 2) & (cols["timeout_seconds"][failed_rows] == 30))
    weights[:, 3] += 0.25 * (cols["concurrent"][failed_rows] > 0)
    cause = np.full(n, -1, dtype=np.int64)
    cause[failed_rows] = _choice_rows(rng, weights)
    cols["cause"] = cause
    reason_offset = np.cumsum([0] + [len(P.CAUSE_REASONS[c]) for c in P.FAILURE_CAUSES])
    reason_count = np.diff(reason_offset)
    reason = np.full(n, -1, dtype=np.int64)
    fc = cause[failed_rows]
    reason[failed_rows] = reason_offset[fc] + (rng.random(failed_rows.size) * reason_count[fc]).astype(np.int64)
    cols["reason"] = reason

    # durations
    type_median = np.array([P.DURATION_MEDIAN[t] for t in cat.types])[service]
    type_factor = np.array([P.DURATION_TYPE_FACTOR[t] for t in P.DEPLOYMENT_TYPES])[cols["type"]]
    env_factor = np.array([P.DURATION_ENV_FACTOR[e] for e in P.ENVIRONMENTS])[cols["env"]]
    median = (type_median * type_factor * env_factor
              * (cols["change_size"] / P.CHANGE_SIZE_NEUTRAL) ** P.DURATION_CHANGE_EXPONENT)
    cols["duration_median"] = median
    duration = median * np.exp(P.DURATION_SIGMA * rng.standard_normal(n))
    duration = np.where(cols["cancelled"], duration * rng.uniform(0.05, 0.5, n), duration)
    cols["duration"] = np.maximum(5, np.rint(duration)).astype(np.int64)

    # initiators, hosts, performance
    bot = rng.random(n) < np.array([BOT_SHARE[e] for e in P.ENVIRONMENTS])[cols["env"]]
    team_index = {team: i for i, team in enumerate(TEAMS)}
    service_team = np.array([team_index[t] for t in cat.teams])[service]
    human = service_team * 3 + rng.integers(0, 3, n)
    cols["initiator"] = np.where(bot, len(INITIATORS) - len(BOTS) + rng.integers(0, len(BOTS), n), human)
    cols["automated"] = bot
    cols["host"] = rng.integers(1, 4, n)
    cols["replicas"] = np.array([t[0] for t in P.TEMPLATES])[cols["template"]]
    cols["health_check_grace"] = np.array([t[1] for t in P.TEMPLATES])[cols["template"]]
    cols["cpu_percent"] = np.round(np.clip(rng.normal(45, 15, n) + 20 * failed, 1, 100), 1)
    cols["memory_mb"] = np.rint(cols["replicas"] * _lognormal(rng, 512, 0.3, n)).astype(np.int64)
    cols["response_time_ms"] = np.round(_lognormal(rng, 120, 0.4, n) * np.where(failed, 1.8, 1.0), 1)
    cols["error_rate"] = np.round(np.where(failed, rng.uniform(0.02, 0.2, n), rng.uniform(0, 0.01, n)), 4)

    # rollbacks: every rolled-back deployment, and some failures (whose rollback failed)
    triggered = (status == ROLLED_BACK) | ((status == FAILURE) & (rng.random(n) < P.FAILURE_ROLLBACK_ATTEMPT))
    cols["rollback_triggered"] = triggered
    rows = np.nonzero(triggered)[0]
    completed = cols["started"][rows] + cols["duration"][rows]
    rb_started = completed + np.maximum(10, np.rint(_lognormal(rng, P.ROLLBACK_DETECT_MEDIAN, 0.5, rows.size)))
    rb_cause = cause[rows]
    rb_env = cols["env"][rows]
    planted_median = (np.array([P.RECOVERY_MEDIAN[c] for c in P.FAILURE_CAUSES])[rb_cause]
                      * np.array([P.RECOVERY_ENV_FACTOR[e] for e in P.ENVIRONMENTS])[rb_env])
    recovery = np.maximum(30, np.rint(planted_median * np.exp(P.RECOVERY_SIGMA * rng.standard_normal(rows.size))))
    careful = np.isin(cols["type"][rows], [0, 1])  # blue-green, canary: automated rollbacks
    rb_bot = rng.random(rows.size) < np.where(careful, 0.7, 0.3)
    hub = np.isin(service[rows], [cat.index[h] for h in cat.hubs])
    impact = np.where(rb_env == 2, np.where(hub, 4, 2 + (rng.random(rows.size) < 0.4)), rb_env)
    rb_order = np.argsort(rb_started, kind="stable")
    rb = {
        "deployment": rows, "started": rb_started.astype(np.int64), "recovery": recovery.astype(np.int64),
        "status": (status[rows] != ROLLED_BACK).astype(np.int64), "cause": rb_cause,
        "reason": cols["reason"][rows],
        "initiator": np.where(rb_bot, len(INITIATORS) - 1, human[rows]), "impact": impact,
        "planted_median": planted_median,
    }
    rb = {key: value[rb_order] for key, value in rb.items()}
    rollback_of = np.full(n, -1, dtype=np.int64)
    rollback_of[rb["deployment"]] = np.arange(rb_order.size)
    cols["rollback"] = rollback_of
    cols["rollback_successful"] = np.where(triggered, status == ROLLED_BACK, False)
    for key in ("failed", "cancelled"):
        cols.pop(key)
    return DemoHistory(seed=seed, start=start, end=_to_datetime(end_epoch), catalog=cat, columns=cols,
                       rollback_columns=rb, best_templates={k: v for k, v in best_templates.items()})


# -- canonical records ----------------------------------------------------------------------------

def build_deployment_records(history: DemoHistory) -> list[dict]:
    """Build the canonical deployment dicts from HISTORY's columns (fresh objects per record)."""
    c = history.columns
    cat = history.catalog
    ids = history.deployment_ids()
    names = cat.names
    envs = P.ENVIRONMENTS
    types = P.DEPLOYMENT_TYPES
    regions = P.REGIONS
    resources = [list(r) for r in cat.resources]
    logs = [f"ERROR {reason}" for reason in REASONS]
    lessons = [P.CAUSE_LESSONS[cause] for cause in P.FAILURE_CAUSES]
    env_of = c["env"].tolist()
    rows = zip(
        ids, c["service"].tolist(), c["version"], env_of, c["type"].tolist(), _datetimes(c["started"]),
        _datetimes(c["started"] + c["duration"]), c["status"].tolist(), c["initiator"].tolist(),
        c["region"].tolist(), c["change_size"].tolist(), iso_times(c["commit_time"]), c["parent"].tolist(),
        c["duration"].tolist(), _datetimes(c["commit_time"]), c["replicas"].tolist(),
        c["timeout_seconds"].tolist(), c["ssl_verify"].tolist(), c["audit_logging"].tolist(),
        c["health_check_grace"].tolist(), c["host"].tolist(), c["reason"].tolist(), c["cause"].tolist(),
        c["rollback_triggered"].tolist(), c["rollback_successful"].tolist(), c["automated"].tolist(),
        c["cpu_percent"].tolist(), c["memory_mb"].tolist(), c["response_time_ms"].tolist(),
        c["error_rate"].tolist(),
    )
    cancelled = STATUS_NAMES.index("cancelled")
    records = []
    append = records.append
    for (id_, s, version, e, t, started, completed, status, initiator, region, size, commit_iso, parent,
         duration, commit, replicas, timeout, ssl, audit, grace, host, reason, cause, triggered, restored,
         automated, cpu, memory, response, errors) in rows:
        env = envs[e]
        name = names[s]
        region_name = regions[region]
        dtype = types[t]
        if reason >= 0:
            log = logs[reason]
        elif status == cancelled:
            log = "deployment cancelled by operator"
        else:
            log = "deployment finished: all health checks passing"
        append({
            "id": id_,
            "service": name,
            "version": version,
            "environment": env,
            "deployment_type": dtype,
            "started": started,
            "completed": completed,
            "status": STATUS_NAMES[status],
            "initiator": INITIATORS[initiator],
            "metadata": {
                "region": region_name, "change-size": size, "commit-time": commit_iso,
                "configuration": {"replicas": replicas, "timeout_seconds": timeout, "ssl_verify": ssl,
                                  "audit_logging": audit, "health_check_grace": grace},
            },
            "parent_id": ids[parent] if parent >= 0 else None,
            "duration_seconds": float(duration),
            "change_size": size,
            "configuration": {"replicas": replicas, "timeout_seconds": timeout, "ssl_verify": ssl,
                              "audit_logging": audit, "health_check_grace": grace},
            "commit_time": commit,
            "name": f"{name}-{version}-{env}",
            "strategy": dtype,
            "source_environment": envs[env_of[parent]] if parent >= 0 else None,
            "target_host": f"{name}-{env}-{host}.{region_name}.example.internal",
            "resources": resources[s].copy(),
            "failure_reasons": [REASONS[reason]] if reason >= 0 else [],
            "rollback_triggered": triggered,
            "rollback_successful": restored if triggered else None,
            "automated": automated,
            "log_excerpt": log,
            "performance": {"cpu_percent": cpu, "memory_mb": memory, "response_time_ms": response,
                            "error_rate": errors},
            "lessons_learned": [lessons[cause]] if cause >= 0 else [],
        })
    return records


def build_rollback_records(history: DemoHistory) -> list[dict]:
    """Build the canonical rollback dicts from HISTORY's columns."""
    rb = history.rollback_columns
    c = history.columns
    dep_ids = history.deployment_ids()
    names = history.catalog.names
    records = []
    rows = rb["deployment"].tolist()
    started = _datetimes(rb["started"])
    completed = _datetimes(rb["started"] + rb["recovery"])
    recovery = rb["recovery"].tolist()
    for i, rid in enumerate(history.rollback_ids()):
        row = rows[i]
        cause = P.FAILURE_CAUSES[int(rb["cause"][i])]
        records.append({
            "id": rid,
            "service": names[int(c["service"][row])],
            "from_version": c["version"][row],
            "to_version": c["previous_version"][row],
            "reason": REASONS[int(rb["reason"][i])],
            "started": started[i],
            "completed": completed[i],
            "status": ROLLBACK_STATUSES[int(rb["status"][i])],
            "initiator": INITIATORS[int(rb["initiator"][i])],
            "impact": IMPACTS[int(rb["impact"][i])],
            "deployment_id": dep_ids[row],
            "recovery_seconds": float(recovery[i]),
            "steps": list(P.CAUSE_STEPS[cause]),
        })
    return records


# -- the planted risk for one deployment ------------------------------------------------------------

def true_risk(history: DemoHistory, service: str, environment: str, deployment_type: str, started,
              change_size: int | None = None, concurrent: int = 0, *, major: bool = False,
              staging_failed: bool = False, configuration: dict | None = None) -> float:
    """Return the planted failure probability of one deployment.

    STARTED is a naive UTC datetime or epoch seconds. CHANGE_SIZE None means the neutral
    size (100 lines, no effect); CONCURRENT counts other deployments of the same service or
    its direct dependencies in the same environment in the 2 hours before. CONFIGURATION None
    means a non-best template with the environment's usual adaptation values; a dict is
    compared with the planted best template and, in production, the planted adaptations.
    """
    cat = history.catalog
    if service not in cat.index:
        raise NotFoundError(f"service {service!r} is not in this demo history")
    if environment not in P.ENVIRONMENTS:
        raise ValidationError("environment", f"expected one of {', '.join(P.ENVIRONMENTS)}, got {environment!r}")
    if deployment_type not in P.DEPLOYMENT_TYPES:
        raise ValidationError("deployment_type",
                              f"expected one of {', '.join(P.DEPLOYMENT_TYPES)}, got {deployment_type!r}")
    s = cat.index[service]
    seconds = _epoch(started) if isinstance(started, dt.datetime) else int(started)
    hour, weekday = _hour_weekday(np.int64(seconds))
    best = missing = 0
    if configuration is not None:
        template = P.TEMPLATES[history.best_templates[(environment, cat.resources[s])]]
        best = int((configuration.get("replicas"), configuration.get("health_check_grace")) == template)
        if environment == "production":
            missing = sum(configuration.get(key, value) != value for key, _, value in P.ADAPTATIONS)
    logit = P.failure_logit(
        service_base=cat.base_logit[s], environment=P.ENVIRONMENTS.index(environment), hour=hour,
        weekday=weekday, deployment_type=P.DEPLOYMENT_TYPES.index(deployment_type),
        n_dependencies=len(cat.dependencies[s]), concurrent=concurrent,
        change_size=P.CHANGE_SIZE_NEUTRAL if change_size is None else change_size, major=int(major),
        staging_failed=int(staging_failed), best_template=best, missing_adaptations=missing,
    )
    return float(P.sigmoid(logit))
