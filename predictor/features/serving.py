"""The in-memory feature state used to serve predictions: updated one record at a time.

:class:`FeatureState` holds, per service, the sorted start times, the outcomes ordered by when
they became known, the versions per environment, plus the declared service types and the
dependency graph. :meth:`FeatureState.features` answers the features of any deployment as of
its own start time (not only "now"), with the same definitions as the training query in
:mod:`predictor.features.training` (tests compare the two).
"""

from __future__ import annotations

import bisect
import math
import datetime as dt
from collections import defaultdict
from array import array
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from predictor.errors import ValidationError
from predictor.features import ALL_FEATURES, OUTCOME_STATUSES, FeatureConfig
from predictor.features.records import epoch_us, record_numbers, to_utc_naive, version_bump
from predictor.models.packed import _kernel
from predictor.store import FAILED_STATUSES

DAY_US = 86_400_000_000
#: time zone offsets are cached per quarter hour of UTC (every offset change falls on one)
QUARTER_US = 900_000_000
MAX_CACHED_OFFSETS = 100_000
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})


def _int64s() -> array:
    return array("q")


@dataclass
class ServiceHistory:
    """What is remembered of one service's deployments (times in epoch microseconds).

    Start times and the outcome index are contiguous int64 arrays: the compiled
    ``features_core`` counts over them without touching a Python object per element.
    """

    start_times: array = field(default_factory=_int64s)  # sorted
    #: per environment: sorted (started, id, version)
    env_starts: dict[str, list[tuple[int, str, str | None]]] = field(default_factory=dict)
    #: sorted (known_at, id, failed, duration in whole milliseconds or None)
    outcomes: list[tuple[int, str, int, int | None]] = field(default_factory=list)
    _index: tuple[array, array, array, array, array] | None = None

    def invalidate(self) -> None:
        """Forget the cached outcome index after the outcomes changed."""
        self._index = None

    def append_outcome(self, item: tuple[int, str, int, int | None]) -> None:
        """Add the newest outcome (sorting after every other), keeping the outcome index."""
        self.outcomes.append(item)
        if self._index is not None:
            known_at, _id, failed, duration = item
            times, fails, dur_sum, dur_n, streaks = self._index
            times.append(known_at)
            fails.append(fails[-1] + failed)
            dur_sum.append(dur_sum[-1] + (duration if duration is not None else 0))
            dur_n.append(dur_n[-1] + (duration is not None))
            streaks.append(streaks[-1] + 1 if failed else 0)

    def outcome_index(self) -> tuple[array, array, array, array, array]:
        """Return the outcome times and, over the outcomes before each position, the prefix
        counts of failures, summed durations (ms), known durations, and failures in a row."""
        if self._index is None:
            times, fails, dur_sum, dur_n, streaks = [], [0], [0], [0], [0]
            for known_at, _id, failed, duration in self.outcomes:
                times.append(known_at)
                fails.append(fails[-1] + failed)
                dur_sum.append(dur_sum[-1] + (duration if duration is not None else 0))
                dur_n.append(dur_n[-1] + (duration is not None))
                streaks.append(streaks[-1] + 1 if failed else 0)
            self._index = tuple(array("q", values) for values in (times, fails, dur_sum, dur_n, streaks))
        return self._index


@dataclass(frozen=True)
class _Stored:
    """The facts kept of one deployment, enough to remove it again on an update."""

    service: str
    environment: str
    started: int
    version: str | None
    known_at: int | None
    failed: int | None
    duration: int | None  # whole milliseconds


class FeatureState:
    """Incremental point-in-time features for serving (see the module docstring)."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = (config or FeatureConfig()).validate()
        self.zone = ZoneInfo(self.config.timezone)
        self.zone_is_utc = self.config.timezone in UTC_NAMES
        self._offsets: dict[int, dt.timedelta | None] = {}
        self.concurrency_us = int(round(self.config.concurrency_hours * 3_600_000_000))
        self.histories: dict[str, ServiceHistory] = defaultdict(ServiceHistory)
        self.service_types: dict[str, str | None] = {}
        self.dependencies: dict[str, set[str]] = defaultdict(set)
        self.versions: dict[tuple[str, str], list[tuple[int, str, int]]] = defaultdict(list)
        self.deployments: dict[str, _Stored] = {}
        self._graph: dict[str, tuple[int, int, int, int, frozenset]] | None = None
        #: per service, the start-time arrays of its neighbours that have a history (with the
        #: number of histories it was made for: a neighbour's first deployment makes it stale)
        self._neighbour_starts: dict[str, tuple[int, tuple[array, ...]]] = {}
        #: what the compiled features_dict takes besides the deployment (see _kernel.c)
        self.kernel_constants = (7 * DAY_US, 28 * DAY_US, self.concurrency_us, float(self.config.prior_strength),
                                 float(self.config.prior_mean), ALL_FEATURES, version_bump,
                                 dict.fromkeys(ALL_FEATURES))

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def from_store(cls, store, config: FeatureConfig | None = None) -> "FeatureState":
        """Build the state from every deployment, service and dependency in STORE."""
        state = cls(config)
        for name, kind in store.con.execute("SELECT name, type FROM services").fetchall():
            state.service_types[name] = kind
        for service, depends_on in store.con.execute(
            "SELECT service, depends_on FROM service_dependencies WHERE service <> depends_on"
        ).fetchall():
            state.dependencies[service].add(depends_on)
        rows = store.con.execute(
            """SELECT id, service, environment, version, status, epoch_us(started),
                      epoch_us(coalesce(completed, started)),
                      coalesce(duration_seconds, (epoch_us(completed) - epoch_us(started)) / 1e6)
               FROM deployments"""
        ).fetchall()
        for row in rows:
            state._insert(*state._stored_from_row(*row), bulk=True)
        for history in state.histories.values():
            history.start_times = array("q", sorted(history.start_times))
            for starts in history.env_starts.values():
                starts.sort(key=lambda item: (item[0], item[1]))
            history.outcomes.sort(key=lambda item: (item[0], item[1]))
        return state

    @staticmethod
    def _stored_from_row(id_, service, environment, version, status, started, known_at, duration):
        failed = None
        if status in OUTCOME_STATUSES:
            failed = 1 if status in FAILED_STATUSES else 0
            known_at = max(known_at, started)
        else:
            known_at = None
        return id_, _Stored(service, environment, started, version, known_at, failed,
                            None if duration is None else math.floor(float(duration) * 1000 + 0.5))

    # -- updates ----------------------------------------------------------------------------
    def observe(self, kind: str, record: dict) -> None:
        """Take in one new or updated record ("deployment", "service"; others are ignored)."""
        if kind == "deployment":
            self.add_deployment(record)
        elif kind == "service":
            self.add_service(record)

    def add_service(self, record: dict) -> None:
        """Record a service's type and (when given) its declared dependencies."""
        name = record.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationError("service.name", "expected a non-empty string")
        self.service_types[name] = record.get("type")
        if record.get("dependencies") is not None:
            self.dependencies[name] = {
                (dep["depends_on"] if isinstance(dep, dict) else str(dep))
                for dep in record["dependencies"]
            } - {name}
            self._graph = None
            self._neighbour_starts.clear()

    def add_deployment(self, record: dict) -> None:
        """Record a deployment, or update it (same id) when its outcome arrives."""
        deployment_id = record.get("id")
        if not isinstance(deployment_id, str) or not deployment_id:
            raise ValidationError("deployment.id", "expected a non-empty string")
        started = to_utc_naive(record.get("started"), "deployment.started")
        completed = record.get("completed")
        completed = to_utc_naive(completed, "deployment.completed") if completed is not None else None
        duration = record.get("duration_seconds")
        if duration is None and completed is not None:
            duration = (epoch_us(completed) - epoch_us(started)) / 1e6
        _id, stored = self._stored_from_row(
            deployment_id, self._service_of(record), record.get("environment") or "unknown",
            record.get("version"), record.get("status"), epoch_us(started),
            epoch_us(completed or started), duration,
        )
        if deployment_id in self.deployments:
            self._remove(deployment_id)
        self._insert(deployment_id, stored, bulk=False)

    @staticmethod
    def _service_of(record: dict) -> str:
        service = record.get("service")
        if not isinstance(service, str) or not service:
            raise ValidationError("deployment.service", f"expected a non-empty string, got {service!r}")
        return service

    def _insert(self, deployment_id: str, stored: _Stored, *, bulk: bool) -> None:
        self.deployments[deployment_id] = stored
        history = self.histories[stored.service]
        env_item = (stored.started, deployment_id, stored.version)
        env_list = history.env_starts.setdefault(stored.environment, [])
        if bulk:
            history.start_times.append(stored.started)
            env_list.append(env_item)
        else:
            bisect.insort(history.start_times, stored.started)
            bisect.insort(env_list, env_item, key=lambda item: (item[0], item[1]))
        if stored.known_at is not None:
            item = (stored.known_at, deployment_id, stored.failed, stored.duration)
            if bulk:
                history.outcomes.append(item)
                history.invalidate()
            elif not history.outcomes or item[:2] > history.outcomes[-1][:2]:
                history.append_outcome(item)  # the usual case: the newest outcome
            else:
                bisect.insort(history.outcomes, item, key=lambda it: (it[0], it[1]))
                history.invalidate()
            if stored.version is not None:
                self.versions[(stored.service, stored.version)].append(
                    (stored.known_at, stored.environment, stored.failed))

    def _remove(self, deployment_id: str) -> None:
        stored = self.deployments.pop(deployment_id)
        history = self.histories[stored.service]
        history.start_times.remove(stored.started)
        history.env_starts[stored.environment].remove((stored.started, deployment_id, stored.version))
        if stored.known_at is not None:
            history.outcomes = [item for item in history.outcomes if item[1] != deployment_id]
            history.invalidate()
            if stored.version is not None:
                self.versions[(stored.service, stored.version)].remove(
                    (stored.known_at, stored.environment, stored.failed))

    # -- the dependency graph ---------------------------------------------------------------
    def graph(self, service: str) -> tuple[int, int, int, int, frozenset]:
        """Return (dependencies, transitive, dependents, transitive, neighbours) of SERVICE."""
        if self._graph is None:
            self._graph = {}
        cached = self._graph.get(service)
        if cached is None:
            dependents_of: dict[str, set[str]] = defaultdict(set)
            for name, deps in self.dependencies.items():
                for dep in deps:
                    dependents_of[dep].add(name)
            down = _reachable(service, self.dependencies)
            up = _reachable(service, dependents_of)
            direct_down = self.dependencies.get(service, set())
            direct_up = dependents_of.get(service, set())
            cached = (len(direct_down), len(down), len(direct_up), len(up), frozenset(direct_down | direct_up))
            self._graph[service] = cached
        return cached

    # -- features ---------------------------------------------------------------------------
    def local_time(self, started: dt.datetime, started_us: int) -> dt.datetime:
        """Return naive UTC STARTED (STARTED_US in epoch microseconds) as naive wall time in the
        configured zone; the zone's offset is looked up once per quarter hour."""
        if self.zone_is_utc:
            return started
        slot = started_us // QUARTER_US
        if slot in self._offsets:
            offset = self._offsets[slot]
        else:
            first = EPOCH_UTC + dt.timedelta(microseconds=slot * QUARTER_US)
            offset = first.astimezone(self.zone).utcoffset()
            if (first + dt.timedelta(microseconds=QUARTER_US - 1)).astimezone(self.zone).utcoffset() != offset:
                offset = None  # the offset changes inside this quarter hour: never cache a guess
            if len(self._offsets) >= MAX_CACHED_OFFSETS:
                self._offsets.clear()
            self._offsets[slot] = offset
        if offset is None:
            return started.replace(tzinfo=dt.timezone.utc).astimezone(self.zone).replace(tzinfo=None)
        return started + offset

    def past_outcomes(self, service: str, started: dt.datetime) -> int:
        """Return how many outcomes of SERVICE were known strictly before STARTED."""
        history = self.histories.get(service)
        if history is None:
            return 0
        times = history.outcome_index()[0]
        return bisect.bisect_left(times, epoch_us(started))

    def neighbour_starts(self, service: str) -> tuple[array, ...]:
        """The start-time arrays of SERVICE's direct dependencies and dependents (those with a
        history), remembered until the graph or the set of services with a history changes."""
        cached = self._neighbour_starts.get(service)
        if cached is not None and cached[0] == len(self.histories):
            return cached[1]
        starts = tuple(self.histories[name].start_times for name in sorted(self.graph(service)[4])
                       if name in self.histories)
        self._neighbour_starts[service] = (len(self.histories), starts)
        return starts

    def encode_many(self, records: list[dict], explainer, out) -> list[float] | None:
        """Write the model row of each of RECORDS into the rows of OUT with EXPLAINER (the
        model's compiled ``_kernel.Explainer``) without building the feature maps, and return
        their past_outcomes; None when only the Python form serves (no kernel, a zone not UTC)."""
        if _kernel is None or not self.zone_is_utc:
            return None
        return explainer.features_rows(list(records), self.service_parts, self.features, self.versions,
                                       self.kernel_constants, out)

    def service_parts(self, service: str) -> tuple:
        """What the compiled features_rows reads of SERVICE (see _kernel.c), looked up once per batch."""
        history = self.histories.get(service) or _NO_HISTORY
        return ((history.start_times, *history.outcome_index(), self.neighbour_starts(service)), history.env_starts,
                self.graph(service), self.service_types.get(service))

    def features(self, record: dict) -> dict:
        """Return the features of deployment RECORD as of its start time (record not required
        to be in the state; if it is, it does not see itself)."""
        service = self._service_of(record)
        environment = record.get("environment")
        if not isinstance(environment, str) or not environment:
            raise ValidationError("deployment.environment", f"expected a non-empty string, got {environment!r}")
        started = record.get("started")
        if type(started) is not dt.datetime or started.tzinfo is not None:
            started = to_utc_naive(started, "deployment.started")
        t = epoch_us(started)
        history = self.histories.get(service) or _NO_HISTORY
        graph = self.graph(service)
        if _kernel is not None:
            # the whole map in one compiled call (None: a value only the Python form below reads)
            if self.zone_is_utc:
                hour = day_of_week = -1
            else:
                local = self.local_time(started, t)
                hour, day_of_week = local.hour, local.weekday()
            version = record.get("version")
            change = record.get("change_size")
            if record.get("configuration") is not None or record.get("metadata") is not None:
                change = record_numbers(record)
            made = _kernel.features_dict(
                history.start_times, *history.outcome_index(), self.neighbour_starts(service),
                history.env_starts.get(environment), None if version is None else self.versions.get((service, version)),
                graph, t, hour, day_of_week, environment, record.get("deployment_type"),
                self.service_types.get(service), version, change, self.kernel_constants)
            if made is not None:
                return made
        local = self.local_time(started, t)
        deps, deps_all, dependents, dependents_all, _neighbours = graph
        (before, d7, d28, concurrent, previous_start, concurrent_neighbours, known, failures, dur_total,
         dur_count, streak, latest) = (_kernel.features_core if _kernel is not None else _features_core)(
            history.start_times, *history.outcome_index(), self.neighbour_starts(service),
            t, 7 * DAY_US, 28 * DAY_US, self.concurrency_us)
        env_list = history.env_starts.get(environment, [])
        env_before = bisect.bisect_left(env_list, (t,))  # (t,) sorts before every (t, id, version)
        version = record.get("version")
        previous_version = env_list[env_before - 1][2] if env_before else None
        succeeded = failed = 0
        if version is not None:
            for known_at, other_env, outcome in self.versions.get((service, version), ()):
                if known_at < t and other_env != environment:
                    succeeded |= 1 - outcome
                    failed |= outcome
        strength, prior = self.config.prior_strength, self.config.prior_mean
        change, replicas, keys = record_numbers(record)
        return {
            "hour": float(local.hour),
            "day_of_week": float(local.weekday()),
            "days_since_previous": (t - previous_start) / float(DAY_US) if before else -1.0,
            "deployments_7d": float(d7),
            "deployments_28d": float(d28),
            "velocity_trend": (d7 + 1) / (d28 / 4 + 1),
            "dependencies": float(deps),
            "dependencies_transitive": float(deps_all),
            "dependents": float(dependents),
            "dependents_transitive": float(dependents_all),
            "past_outcomes": float(known),
            "failure_rate_smoothed": (failures + strength * prior) / (known + strength),
            "failure_streak": float(streak),
            "previous_outcome": float(latest),
            "typical_duration": float(dur_total) / dur_count / 1000 if dur_count else -1.0,
            "change_size": change,
            "config_replicas": replicas,
            "config_keys": keys,
            "version_succeeded_elsewhere": float(succeeded),
            "version_failed_elsewhere": float(failed),
            "concurrent_service": float(concurrent),
            "concurrent_neighbours": float(concurrent_neighbours),
            "environment": environment,
            "deployment_type": record.get("deployment_type") or "unknown",
            "service_type": self.service_types.get(service) or "unknown",
            "version_bump": version_bump(version, previous_version, env_before > 0),
        }


def _features_core(starts, times, fails, dur_sum, dur_n, streaks, neighbour_starts, t, back7, back28, conc):
    """``_kernel.features_core`` without the compiled kernel (same results, see _kernel.c)."""
    before = bisect.bisect_left(starts, t)
    concurrent_neighbours = 0
    for other in neighbour_starts:
        end = bisect.bisect_left(other, t)
        concurrent_neighbours += end - bisect.bisect_left(other, t - conc, 0, end)
    known = bisect.bisect_left(times, t)
    return (before, before - bisect.bisect_left(starts, t - back7, 0, before),
            before - bisect.bisect_left(starts, t - back28, 0, before),
            before - bisect.bisect_left(starts, t - conc, 0, before), starts[before - 1] if before else 0,
            concurrent_neighbours, known, fails[known], dur_sum[known], dur_n[known], streaks[known],
            fails[known] - fails[known - 1] if known else -1)


EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NO_HISTORY = ServiceHistory()  # what features() reads for a service never seen (never changed)


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Return every node reachable from START along EDGES (START itself excluded)."""
    seen: set[str] = set()
    frontier = list(edges.get(start, ()))
    while frontier:
        node = frontier.pop()
        if node in seen or node == start:
            continue
        seen.add(node)
        frontier.extend(edges.get(node, ()))
    return seen
