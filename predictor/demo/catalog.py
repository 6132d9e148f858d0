"""The demo service catalog: services, their teams and resources, and the dependency DAG.

Services are numbered in catalog order; a service depends only on services before it, so the
graph is acyclic. The first ``hub_count`` services are hubs (``auth``, ``config``,
``database-proxy`` with the default names): every later service depends on each hub with
probability :data:`HUB_EDGE_SHARE`, so hubs have many transitive dependents.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np

from predictor.demo.planted import SERVICE_BASE_SIGMA, SERVICE_TYPE_EFFECT, SERVICE_TYPES

#: service names in catalog order with their type; the first three are the hubs
SERVICE_NAMES = (
    ("auth", "microservice"), ("config", "microservice"), ("database-proxy", "microservice"),
    ("api-gateway", "edge-function"), ("payments", "microservice"), ("orders", "microservice"),
    ("inventory", "microservice"), ("catalog", "monolith"), ("search", "microservice"),
    ("users", "microservice"), ("notifications", "serverless"), ("billing", "monolith"),
    ("shipping", "microservice"), ("reports", "batch-job"), ("analytics", "batch-job"),
    ("frontend", "monolith"), ("cdn-edge", "edge-function"), ("image-resizer", "serverless"),
    ("scheduler", "batch-job"), ("etl-nightly", "batch-job"), ("ledger", "monolith"),
    ("recommendations", "microservice"), ("checkout", "microservice"), ("reviews", "microservice"),
    ("pricing", "microservice"), ("email", "serverless"), ("sms", "serverless"),
    ("audit", "microservice"), ("feature-flags", "edge-function"), ("session", "microservice"),
)
TEAMS = {
    "platform": ("alice", "bob", "carol"),
    "payments": ("dave", "erin", "frank"),
    "commerce": ("grace", "heidi", "ivan"),
    "growth": ("judy", "mallory", "niaj"),
    "data": ("olivia", "peggy", "rupert"),
    "edge": ("sybil", "trent", "victor"),
}
BOTS = ("ci-bot", "deploy-bot")
#: every service name matches this, so writers may quote names without escaping
SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
HUB_COUNT = 3
HUB_EDGE_SHARE = 0.6
HUB_EDGE_KIND = ("hard", "soft", "hard")
#: extra dependencies of a non-hub service: Binomial(EXTRA_EDGES, EXTRA_EDGE_SHARE) among
#: earlier non-hub services, kinds hard/soft/optional with EXTRA_EDGE_KIND_SHARE
EXTRA_EDGES = 3
EXTRA_EDGE_SHARE = 0.35
EXTRA_EDGE_KIND_SHARE = (0.4, 0.35, 0.25)


@dataclass
class Catalog:
    """The services of a demo history and what the generator needs per service (by index)."""

    services: list[dict]
    names: list[str]
    types: list[str]
    teams: list[str]
    hubs: list[str]
    base_logit: np.ndarray          # per-service base log-odds (type effect + noise)
    dependencies: list[list[int]]   # direct dependencies (indices)
    resources: list[tuple[str, ...]]
    popularity: np.ndarray          # probability a release belongs to each service
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {name: i for i, name in enumerate(self.names)}

    def dependents(self, name: str) -> dict[str, int]:
        """Return every transitive dependent of service NAME with its distance (BFS hops)."""
        reverse: dict[int, list[int]] = {}
        for i, deps in enumerate(self.dependencies):
            for j in deps:
                reverse.setdefault(j, []).append(i)
        start = self.index[name]
        distance = {start: 0}
        frontier = [start]
        while frontier:
            nxt = []
            for node in frontier:
                for child in reverse.get(node, ()):
                    if child not in distance:
                        distance[child] = distance[node] + 1
                        nxt.append(child)
            frontier = nxt
        return {self.names[i]: d for i, d in distance.items() if i != start}


def _service_names(count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    names = list(SERVICE_NAMES[:count])
    round_ = 2
    while len(names) < count:
        for base, _ in SERVICE_NAMES[HUB_COUNT:]:
            if len(names) >= count:
                break
            names.append((f"{base}-{round_}", SERVICE_TYPES[int(rng.integers(len(SERVICE_TYPES)))]))
        round_ += 1
    return names


def build_catalog(rng: np.random.Generator, count: int, start: dt.datetime) -> Catalog:
    """Draw COUNT services with teams, owners, resources and a dependency DAG."""
    if count < 1:
        raise ValueError("services: expected at least 1")
    named = _service_names(count, rng)
    assert all(SAFE_NAME.match(name) for name, _ in named)
    hub_count = min(HUB_COUNT, max(1, count // 4))
    team_names = list(TEAMS)
    names, types, teams, deps, resources = [], [], [], [], []
    for i, (name, kind) in enumerate(named):
        names.append(name)
        types.append(kind)
        teams.append("platform" if i < hub_count else team_names[int(rng.integers(1, len(team_names)))])
        mine: list[tuple[int, str]] = []
        if i < hub_count:
            if i > 0:
                mine.append((i - 1, "hard"))
        else:
            for h in range(hub_count):
                if rng.random() < HUB_EDGE_SHARE:
                    mine.append((h, HUB_EDGE_KIND[h % len(HUB_EDGE_KIND)]))
            candidates = list(range(hub_count, i))
            extra = min(len(candidates), int(rng.binomial(EXTRA_EDGES, EXTRA_EDGE_SHARE)))
            if extra:
                for j in rng.choice(candidates, size=extra, replace=False):
                    kind = ("hard", "soft", "optional")[int(rng.choice(3, p=EXTRA_EDGE_KIND_SHARE))]
                    mine.append((int(j), kind))
        deps.append(mine)
        res = ["project"]
        if name == "database-proxy" or (kind in ("monolith", "microservice", "batch-job") and rng.random() < 0.5):
            res.append("database")
        if rng.random() < 0.35:
            res.append("cache")
        if kind in ("microservice", "batch-job", "serverless") and rng.random() < 0.3:
            res.append("queue")
        if kind == "edge-function" or name == "frontend":
            res.append("cdn")
        resources.append(tuple(res))
    base = np.array([SERVICE_TYPE_EFFECT[t] for t in types]) + rng.normal(0.0, SERVICE_BASE_SIGMA, count)
    popularity = 1.0 / (rng.permutation(count) + 1.0) ** 0.6
    popularity /= popularity.sum()
    services = []
    for i, name in enumerate(names):
        team = teams[i]
        roster = TEAMS[team]
        first = int(rng.integers(len(roster)))
        created = start - dt.timedelta(days=int(rng.integers(30, 700)), seconds=int(rng.integers(86400)))
        updated = start - dt.timedelta(days=int(rng.integers(0, 30)), seconds=int(rng.integers(86400)))
        tags = [types[i], team]
        if i < hub_count:
            tags.append("tier-1")
        if name in ("payments", "billing", "checkout", "ledger"):
            tags.append("pci")
        tags.extend(f"uses-{r}" for r in resources[i] if r != "project")
        services.append({
            "name": name,
            "type": types[i],
            "description": f"The {name} {types[i]} of the {team} team",
            "team": team,
            "owners": [roster[first], roster[(first + 1) % len(roster)]],
            "repository": f"https://git.example.com/{team}/{name}",
            "documentation_url": f"https://docs.example.com/{name}",
            "health_check": None if types[i] == "batch-job" else f"https://{name}.internal.example.com/healthz",
            "tags": tags,
            "active": True,
            "created": created,
            "updated": max(updated, created),
            "dependencies": [{"depends_on": names[j], "kind": k} for j, k in deps[i]],
        })
    return Catalog(
        services=services, names=names, types=types, teams=teams, hubs=names[:hub_count],
        base_logit=base, dependencies=[[j for j, _ in d] for d in deps], resources=resources,
        popularity=popularity,
    )
