"""The dependency graph and the blast radius of a failed deployment.

An edge ``service -> depends_on`` of kind hard, soft or optional says that SERVICE needs
DEPENDS_ON. If a deployment of X fails, the services at risk are X's *dependents*, direct
and transitive. For each one the answer gives:

* ``distance``: the fewest hops from X;
* ``kind``: how strongly it is tied to X. A path is only as strong as its weakest edge
  (hard > soft > optional); the kind reported is that of the strongest path, which may be
  longer than the shortest one;
* ``via``: the service it hangs from in the impact tree (its predecessor on a shortest path,
  preferring the strongest edge);
* its own criticality: deploy volume, smoothed failure history and how many services depend
  on it in turn.

Everything is precomputed in memory; a request walks at most the graph once per edge kind.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable

from predictor.errors import ValidationError
from predictor.estimates.activity import ServiceActivity
from predictor.store import DEPENDENCY_KINDS

#: edge kinds, strongest first, with their rank (higher is stronger)
KIND_RANK = {"hard": 3, "soft": 2, "optional": 1}
#: how much of a failure propagates along a path of each kind
KIND_WEIGHT = {"hard": 1.0, "soft": 0.45, "optional": 0.15}
#: how much a failure's impact fades with each further hop
DISTANCE_DECAY = 0.6
#: minutes either side of the deployment in which a neighbour's deployment counts as concurrent
CONCURRENCY_MINUTES = 120
RISK_LEVELS = ((0.25, "low"), (0.5, "medium"), (0.75, "high"), (math.inf, "critical"))


def risk_level(score: float) -> str:
    """Return low/medium/high/critical for a score in [0, 1]."""
    for bound, name in RISK_LEVELS:
        if score < bound:
            return name
    return "critical"


@dataclass(frozen=True)
class Impact:
    """One service at risk when a deployment fails."""

    service: str
    distance: int
    kind: str
    via: str


class DependencyGraph:
    """Declared dependencies in both directions: who X needs, and who needs X."""

    def __init__(self, edges: Iterable[tuple[str, str, str]] = (), services: Iterable[str] = ()) -> None:
        self.dependencies: dict[str, dict[str, str]] = {}
        self.dependents: dict[str, dict[str, str]] = {}
        self.services: set[str] = set(services)
        self._reach_cache: dict[str, int] = {}
        for service, depends_on, kind in edges:
            self.add_edge(service, depends_on, kind)

    @classmethod
    def from_store(cls, store) -> "DependencyGraph":
        """Load the services and service_dependencies tables of STORE."""
        services = [row[0] for row in store.con.execute("SELECT name FROM services").fetchall()]
        edges = store.con.execute("SELECT service, depends_on, kind FROM service_dependencies").fetchall()
        return cls(edges, services)

    def add_edge(self, service: str, depends_on: str, kind: str) -> None:
        """Declare (or re-declare with a new KIND) that SERVICE depends on DEPENDS_ON."""
        if kind not in KIND_RANK:
            raise ValidationError("kind", f"expected one of {', '.join(DEPENDENCY_KINDS)}, got {kind!r}")
        self.dependencies.setdefault(service, {})[depends_on] = kind
        self.dependents.setdefault(depends_on, {})[service] = kind
        self.services.update((service, depends_on))
        self._reach_cache.clear()

    def set_dependencies(self, service: str, dependencies: Iterable[dict]) -> None:
        """Replace SERVICE's declared dependencies by DEPENDENCIES ({"depends_on", "kind"} dicts)."""
        for old in list(self.dependencies.get(service, {})):
            self.dependents.get(old, {}).pop(service, None)
        self.dependencies[service] = {}
        self.services.add(service)
        self._reach_cache.clear()
        for item in dependencies:
            self.add_edge(service, item["depends_on"], item.get("kind", "hard"))

    def overlaid(self, edges: Iterable[tuple[str, str, str]]) -> "DependencyGraph":
        """Return a copy of this graph with EDGES added or re-declared (this graph is unchanged)."""
        copy = DependencyGraph.__new__(DependencyGraph)
        copy.dependencies = {k: dict(v) for k, v in self.dependencies.items()}
        copy.dependents = {k: dict(v) for k, v in self.dependents.items()}
        copy.services = set(self.services)
        copy._reach_cache = {}
        edges = list(edges)
        for service, depends_on, kind in edges:
            copy.add_edge(service, depends_on, kind)
        # a new edge s -> d changes the reach of d and of everything d depends on, transitively
        changed: set[str] = set()
        stack = [depends_on for _, depends_on, _ in edges]
        while stack:
            name = stack.pop()
            if name not in changed:
                changed.add(name)
                stack.extend(copy.dependencies.get(name, {}))
        copy._reach_cache = {k: v for k, v in self._reach_cache.items() if k not in changed}
        return copy

    def warm(self) -> None:
        """Precompute every service's transitive dependents count (done once at load)."""
        for service in self.services:
            self.dependents_count(service)

    def neighbours(self, service: str) -> dict[str, str]:
        """Direct dependencies and dependents of SERVICE, each with its relation."""
        out = {name: "dependency" for name in self.dependencies.get(service, {})}
        out.update({name: "dependent" for name in self.dependents.get(service, {})})
        out.pop(service, None)
        return out

    def dependents_count(self, service: str) -> int:
        """How many services depend on SERVICE, directly or transitively (cached)."""
        cached = self._reach_cache.get(service)
        if cached is None:
            cached = len(self._reach(service, 1))
            self._reach_cache[service] = cached
        return cached

    def _reach(self, service: str, min_rank: int, max_depth: int | None = None) -> dict[str, int]:
        """Dependents reachable from SERVICE over edges of rank >= MIN_RANK, with hop counts."""
        seen = {service: 0}
        queue = deque([service])
        while queue:
            current = queue.popleft()
            depth = seen[current]
            if max_depth is not None and depth >= max_depth:
                continue
            for dependent, kind in self.dependents.get(current, {}).items():
                if dependent not in seen and KIND_RANK[kind] >= min_rank:
                    seen[dependent] = depth + 1
                    queue.append(dependent)
        del seen[service]
        return seen

    def blast_radius(self, service: str, max_depth: int | None = None) -> list[Impact]:
        """The services at risk if SERVICE fails: transitive dependents with distance, kind and via."""
        distance = self._reach(service, 1, max_depth)
        if not distance:
            return []
        kind_of: dict[str, str] = {}
        for kind in ("hard", "soft"):
            for name in self._reach(service, KIND_RANK[kind], max_depth):
                kind_of.setdefault(name, kind)
        impacts = []
        for name, hops in distance.items():
            best_via, best_rank = service, -1
            for candidate, kind in self.dependencies.get(name, {}).items():
                if (candidate == service and hops == 1) or distance.get(candidate, -1) == hops - 1:
                    if KIND_RANK[kind] > best_rank:
                        best_via, best_rank = candidate, KIND_RANK[kind]
            impacts.append(Impact(name, hops, kind_of.get(name, "optional"), best_via))
        impacts.sort(key=lambda item: (item.distance, -KIND_RANK[item.kind], item.service))
        return impacts


def parse_dependency_overrides(service: str, items: object, field: str = "params.dependencies") -> list[tuple[str, str, str]]:
    """Validate a request's DEPENDENCIES list into (service, depends_on, kind) edges.

    Each item is {"depends_on": str, "kind": hard|soft|optional} (an edge of SERVICE, as in a
    service record) or {"service": str, "depends_on": str, "kind": ...} (any edge).
    """
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationError(field, f"expected a list of dependency objects, got {type(items).__name__}")
    edges = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(where, f"expected an object, got {type(item).__name__}")
        source = item.get("service", service)
        target = item.get("depends_on")
        kind = item.get("kind", "hard")
        if not isinstance(source, str) or not source:
            raise ValidationError(f"{where}.service", f"expected a service name, got {source!r}")
        if not isinstance(target, str) or not target:
            raise ValidationError(f"{where}.depends_on", f"expected a service name, got {target!r}")
        if kind not in KIND_RANK:
            raise ValidationError(f"{where}.kind", f"expected one of hard, soft, optional, got {kind!r}")
        edges.append((source, target, kind))
    return edges


class BlastRadiusAnalyzer:
    """Answers ``analyze_risk``: the blast radius plus criticality, concurrency and a risk score."""

    def __init__(self, graph: DependencyGraph, activity: ServiceActivity) -> None:
        self.graph = graph
        self.activity = activity
        self._facts: dict[tuple[str, int], dict] = {}

    def invalidate(self, service: str | None = None) -> None:
        """Forget cached criticality: of SERVICE (a new deployment of it), or all (graph changed).

        A new deployment also nudges the fleet-wide base rate every smoothed failure rate
        leans on; that drift is ignored until the entry is next dropped.
        """
        if service is None:
            self._facts.clear()
        else:   # the service's own facts, and every cached blast radius (it may contain it)
            for key in [k for k in self._facts if k[0] in (service, "affected")]:
                del self._facts[key]

    def criticality(self, service: str, graph: DependencyGraph, at: float | None) -> dict:
        """The criticality of SERVICE in [0, 1] and what it is made of.

        Deploy volume is counted over the four weeks before AT, or before the latest known
        deployment when AT lies beyond the history (an imported history that ended earlier).
        """
        latest = self.activity.latest
        end = at if at is None or not latest <= at else latest
        key = (service, -1 if end is None or end != end else int(end // 3600))
        if graph is self.graph:
            cached = self._facts.get(key)
            if cached is not None:
                return cached
        facts = self._criticality(service, graph, end)
        if graph is self.graph:
            if len(self._facts) > 100_000:
                self._facts.clear()
            self._facts[key] = facts
        return facts

    def _criticality(self, service: str, graph: DependencyGraph, end: float | None) -> dict:
        volume = self.activity.deploys_per_week(service, end)
        failure_rate = self.activity.failure_rate(service)
        dependents = graph.dependents_count(service)
        score = (0.5 * (1 - math.exp(-dependents / 4.0))
                 + 0.3 * min(1.0, failure_rate / 0.4)
                 + 0.2 * (1 - math.exp(-volume / 15.0)))
        return {"criticality": round(score, 4), "deploys_per_week": round(volume, 3),
                "failure_rate": round(failure_rate, 4), "dependents": dependents}

    def concurrent(self, service: str, graph: DependencyGraph, at: float, environment: str | None) -> list[dict]:
        """Deployments of SERVICE's direct neighbours within CONCURRENCY_MINUTES of AT."""
        window = CONCURRENCY_MINUTES * 60.0
        found = []
        for name, relation in sorted(graph.neighbours(service).items()):
            for started, completed, env in self.activity.deployments_between(name, at - window, at + window, environment):
                found.append({"service": name, "relation": relation, "started": started,
                              "completed": None if math.isnan(completed) else completed, "environment": env})
        return found

    def _affected(self, service: str, graph: DependencyGraph, at: float, max_depth: int | None) -> tuple:
        """(affected services with their facts, summed impact, count per kind), cached on the base graph."""
        key = ("affected", service, max_depth, int(at // 3600))
        if graph is self.graph:
            cached = self._facts.get(key)
            if cached is not None:
                return cached
        affected = []
        impact_sum = 0.0
        by_kind = {"hard": 0, "soft": 0, "optional": 0}
        for item in graph.blast_radius(service, max_depth):
            facts = self.criticality(item.service, graph, at)
            weight = KIND_WEIGHT[item.kind] * DISTANCE_DECAY ** (item.distance - 1) * (0.5 + 0.5 * facts["criticality"])
            impact_sum += weight
            by_kind[item.kind] += 1
            affected.append({"service": item.service, "distance": item.distance, "kind": item.kind,
                             "via": item.via, "impact": round(weight, 4), **facts})
        result = (affected, impact_sum, dict(by_kind))
        if graph is self.graph:
            self._facts[key] = result
        return result

    def analyze(self, service: str, *, environment: str | None = None, at: float | None = None,
                failure_probability: float | None = None, dependencies: list[tuple[str, str, str]] = (),
                max_depth: int | None = None) -> dict:
        """Return the wire-shaped blast radius of a failed deployment of SERVICE at AT."""
        graph = self.graph.overlaid(dependencies) if dependencies else self.graph
        at = self.activity.latest if at is None or math.isnan(at) else at
        if at is None or math.isnan(at):
            at = 0.0
        cached, impact_sum, by_kind = self._affected(service, graph, at, max_depth)
        affected = [dict(item) for item in cached]    # answers never share dicts with the cache
        by_kind = dict(by_kind)
        own = self.criticality(service, graph, at)
        known = self.activity.outcomes(service)
        if failure_probability is None:
            failure_probability = self.activity.failure_rate(service)
            probability_source = "history" if known else "fleet base rate"
        else:
            probability_source = "request"
        concurrent = self.concurrent(service, graph, at, environment)
        env_weight = 1.0 if environment in (None, "production", "prod") else 0.6
        terms = [
            ("blast_radius", 0.45, 1 - math.exp(-impact_sum / 2.5),
             f"{len(affected)} dependent service(s) at risk ({by_kind['hard']} hard, {by_kind['soft']} soft, "
             f"{by_kind['optional']} optional)"),
            ("failure_likelihood", 0.35, min(1.0, failure_probability / 0.3),
             f"failure probability {failure_probability:.1%} ({probability_source})"),
            ("concurrent_deployments", 0.2, 1 - math.exp(-len(concurrent) / 2.0),
             f"{len(concurrent)} deployment(s) of direct neighbours within {CONCURRENCY_MINUTES} minutes"),
        ]
        factors = []
        score = 0.0
        for name, weight, value, description in terms:
            contribution = weight * value * env_weight
            score += contribution
            factors.append({"name": name, "value": round(value, 4), "weight": weight,
                            "contribution": round(contribution, 4), "description": description})
        if env_weight != 1.0:
            factors.append({"name": "environment", "value": env_weight, "weight": 1.0, "contribution": 0.0,
                            "description": f"non-production environment {environment!r} scales the score by {env_weight}"})
        factors.sort(key=lambda f: -f["contribution"])
        score = min(1.0, score)
        return {
            "service": service,
            "environment": environment,
            "at": at,
            "known_service": service in graph.services or service in self.activity.records,
            "risk_score": round(score, 4),
            "risk_level": risk_level(score),
            "failure_probability": round(failure_probability, 4),
            "factors": factors,
            "criticality": own,
            "affected_count": len(affected),
            "affected_by_kind": by_kind,
            "max_distance": max((a["distance"] for a in affected), default=0),
            "affected": affected,
            "concurrent_deployments": concurrent,
        }
