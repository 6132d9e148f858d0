"""A small, fast generator of deployment histories with a planted failure risk, for the models
tests and benchmark. Risk truly depends on hour, weekday, deployment type, dependencies,
concurrency of neighbours and change size (plus a per-service offset), so a model that uses
those features must beat the baselines that ignore them.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa

TYPES = ("blue-green", "canary", "rolling", "big-bang", "feature-flag", "a-b-test")
TYPE_EFFECT = np.array([-0.4, -0.5, 0.2, 1.1, -0.6, 0.0])
SERVICE_TYPES = ("monolith", "microservice", "serverless", "batch-job", "edge-function")
ENVIRONMENTS = ("staging", "production", "development")
START = dt.datetime(2026, 1, 5)
US = 1_000_000


def planted_logit(hour, dow, type_index, dependencies, concurrent_neighbours, change_size, service_offset, env_index):
    """The planted log-odds of failure (vectorised over numpy arrays)."""
    return (-3.3
            + 1.0 * ((hour >= 17) | (hour < 6))
            + 0.8 * (dow >= 4)
            + TYPE_EFFECT[type_index]
            + 0.25 * dependencies
            + 0.35 * np.minimum(concurrent_neighbours, 4)
            + 0.45 * np.log1p(np.maximum(change_size, 0)) / np.log(10) - 0.6
            + 0.3 * (env_index == 1)
            + service_offset)


def generate(n_deployments: int = 20_000, services: int = 24, days: int = 120, seed: int = 0) -> dict:
    """Return {"services": [...], "dependencies": [...], "deployments": pyarrow.Table, "risk": array}."""
    rng = np.random.default_rng(seed)
    names = [f"svc-{i:03d}" for i in range(services)]
    service_types = [SERVICE_TYPES[i % len(SERVICE_TYPES)] for i in range(services)]
    edges = []
    for i in range(1, services):
        for j in rng.choice(i, size=min(i, int(rng.integers(0, 4))), replace=False):
            edges.append((names[i], names[int(j)], ("hard", "soft", "optional")[int(rng.integers(0, 3))]))
    dependencies = np.zeros(services)
    for a, _b, _k in edges:
        dependencies[names.index(a)] += 1
    neighbours = [set() for _ in range(services)]
    for a, b, _k in edges:
        neighbours[names.index(a)].add(names.index(b))
        neighbours[names.index(b)].add(names.index(a))
    offsets = rng.normal(0, 0.35, services)
    weights = rng.gamma(2.0, 1.0, services)
    service = rng.choice(services, size=n_deployments, p=weights / weights.sum())
    # start times: days uniform, hours skewed to working hours but covering the clock
    day = rng.integers(0, days, n_deployments)
    hour_weights = np.array([1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 8, 7, 8, 8, 8, 7, 5, 4, 3, 2, 2, 1, 1], float)
    hour = rng.choice(24, size=n_deployments, p=hour_weights / hour_weights.sum())
    second = rng.integers(0, 3600, n_deployments)
    start_us = (int((START - dt.datetime(1970, 1, 1)).total_seconds()) * US
                + (day * 86400 + hour * 3600 + second).astype(np.int64) * US)
    order = np.argsort(start_us, kind="stable")
    service, start_us, hour = service[order], start_us[order], hour[order]
    dow = ((start_us // US // 86400) + 3) % 7  # 1970-01-01 was a Thursday (3)
    type_index = rng.choice(len(TYPES), size=n_deployments, p=[0.25, 0.2, 0.25, 0.1, 0.1, 0.1])
    env_index = rng.choice(3, size=n_deployments, p=[0.45, 0.4, 0.15])
    change = np.round(rng.lognormal(4.0, 1.3, n_deployments)).astype(np.int64)
    window = 2 * 3600 * US
    sorted_starts = [np.sort(start_us[service == s]) for s in range(services)]
    concurrent_neighbours = np.zeros(n_deployments)
    for s in range(services):
        mask = service == s
        for other in neighbours[s]:
            starts = sorted_starts[other]
            concurrent_neighbours[mask] += (np.searchsorted(starts, start_us[mask], "left")
                                            - np.searchsorted(starts, start_us[mask] - window, "left"))
    logit = planted_logit(hour, dow, type_index, dependencies[service], concurrent_neighbours, change,
                          offsets[service], env_index)
    risk = 1 / (1 + np.exp(-logit))
    failed = rng.random(n_deployments) < risk
    status = np.where(failed, rng.choice(["failure", "rolled-back", "partial"], n_deployments), "success")
    status = np.where(rng.random(n_deployments) < 0.02, "cancelled", status)
    duration = np.round(rng.lognormal(5.5, 0.6, n_deployments) * np.where(failed, 1.6, 1.0), 3)
    completed_us = start_us + (duration * US).astype(np.int64)
    release = np.zeros(services, dtype=np.int64)
    versions = []
    bumps = rng.random(n_deployments)
    for i in range(n_deployments):
        s = service[i]
        if env_index[i] != 1:  # staging and development cut new releases; production ships the latest
            release[s] += 1 if bumps[i] < 0.7 else 10 if bumps[i] < 0.95 else 100
        r = int(release[s])
        versions.append(f"{r // 100 + 1}.{(r // 10) % 10}.{r % 10}")
    ids = [f"dep-{i:07d}" for i in range(n_deployments)]
    metadata = [json.dumps({"change_size": int(c)}) if i % 3 else json.dumps({"lines_changed": int(c)})
                for i, c in enumerate(change)]
    configuration = [json.dumps({"replicas": int(r)}) for r in rng.integers(1, 6, n_deployments)]
    table = pa.table({
        "id": ids,
        "service": [names[s] for s in service],
        "version": versions,
        "environment": [ENVIRONMENTS[e] for e in env_index],
        "deployment_type": [TYPES[t] for t in type_index],
        "started": pa.array(start_us, pa.timestamp("us")),
        "completed": pa.array(completed_us, pa.timestamp("us")),
        "status": status.tolist(),
        "metadata": metadata,
        "duration_seconds": duration,
        "configuration": configuration,
    })
    services_rows = [{"name": n, "type": t} for n, t in zip(names, service_types)]
    return {"services": services_rows, "dependencies": edges, "deployments": table, "risk": risk}


def load(store, history: dict) -> None:
    """Insert HISTORY into STORE with parameterized statements and one Arrow scan."""
    con = store.con
    source_id = con.execute(
        "INSERT INTO sources (path, format, ingested_at) VALUES (?, ?, now()) RETURNING id",
        ["synthetic", "test-generator"],
    ).fetchone()[0]
    con.executemany("INSERT INTO services (name, type, source_id, ingested_at) VALUES (?, ?, ?, now())",
                    [[row["name"], row["type"], source_id] for row in history["services"]])
    if history["dependencies"]:
        con.executemany(
            "INSERT INTO service_dependencies (service, depends_on, kind, source_id, ingested_at) "
            "VALUES (?, ?, ?, ?, now())",
            [[a, b, k, source_id] for a, b, k in history["dependencies"]])
    synthetic_deployments = history["deployments"]  # noqa: F841 (scanned by name below)
    con.execute(
        """INSERT INTO deployments (id, service, version, environment, deployment_type, started, completed,
                                    status, metadata, duration_seconds, configuration, source_id, ingested_at)
           SELECT id, service, version, environment, deployment_type, started, completed, status,
                  metadata, duration_seconds, configuration, ?, now()
           FROM synthetic_deployments""",
        [source_id],
    )
