"""Small generated histories with planted structure, written straight into a real DuckDB store.

Known structure: a dependency graph with a hub; failure risk that depends on hour of day,
weekday, deployment type, change size and concurrency (``true_risk``); durations that depend
on service type, deployment type, environment and change size; deploy volume with weekly
seasonality and a trend; cpu/memory/replicas in metadata for some services.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pyarrow as pa

START = dt.datetime(2026, 1, 5)  # a Monday
SERVICE_TYPES = ("microservice", "monolith", "serverless", "batch-job", "edge-function")
TYPES = ("rolling", "canary", "blue-green", "big-bang")
TYPE_RISK = {"rolling": 0.0, "canary": -0.5, "blue-green": -0.3, "big-bang": 0.9}
TYPE_SLOWNESS = {"rolling": 1.0, "canary": 1.8, "blue-green": 1.3, "big-bang": 0.6}
KIND_SPEED = {"microservice": 300.0, "monolith": 1200.0, "serverless": 60.0, "batch-job": 600.0, "edge-function": 45.0}
WEEKDAY_VOLUME = np.array([1.0, 1.1, 1.1, 1.0, 0.7, 0.15, 0.1])


def hour_risk(hour: float, weekday: int) -> float:
    """Planted log-odds effect of the start time: nights, Friday afternoons and weekends are risky."""
    effect = 0.0
    if hour < 7 or hour >= 20:
        effect += 1.4
    elif 9 <= hour < 12:
        effect -= 0.6
    if weekday == 4 and hour >= 13:
        effect += 1.0
    if weekday >= 5:
        effect += 0.8
    return effect


def true_risk(service_index: int, deployment_type: str, started: dt.datetime, change_size: float = 100.0,
              concurrent: int = 0) -> float:
    """The planted failure probability of a deployment."""
    logit = (-2.6 + 0.15 * (service_index % 4) + TYPE_RISK.get(deployment_type, 0.0)
             + hour_risk(started.hour + started.minute / 60, started.weekday())
             + 0.5 * math.log1p(change_size / 200.0) + 0.3 * concurrent)
    return 1.0 / (1.0 + math.exp(-logit))


def make_graph(services: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Edges (service, depends_on, kind) of a DAG where svc-000 is a hub; deterministic per SEED."""
    rng = np.random.default_rng(seed)
    edges = []
    for i in range(1, services):
        parents = {int(rng.integers(0, i))} | ({0} if i % 3 == 0 else set())
        for p in sorted(parents):
            kind = ("hard", "soft", "optional")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
            edges.append((f"svc-{i:03d}", f"svc-{p:03d}", kind))
    return edges


def generate(services: int = 12, days: int = 84, per_day: float = 30.0, seed: int = 0) -> dict:
    """Return {"services": [...], "edges": [...], "deployments": [...]} (canonical-ish dicts)."""
    rng = np.random.default_rng(seed)
    names = [f"svc-{i:03d}" for i in range(services)]
    kinds = {name: SERVICE_TYPES[i % len(SERVICE_TYPES)] for i, name in enumerate(names)}
    weights = rng.uniform(0.5, 1.5, services)
    weights /= weights.sum()
    deployments = []
    counter = 0
    for day in range(days):
        date = START + dt.timedelta(days=day)
        trend = 1.0 + 0.4 * day / days
        for s, name in enumerate(names):
            for env in ("staging", "production"):
                lam = per_day * weights[s] * WEEKDAY_VOLUME[date.weekday()] * trend * (0.6 if env == "production" else 0.4)
                for _ in range(rng.poisson(lam)):
                    hour = rng.choice(24, p=_HOUR_P)
                    started = date + dt.timedelta(hours=int(hour), minutes=int(rng.integers(0, 60)))
                    dtype = TYPES[int(rng.choice(4, p=[0.45, 0.25, 0.2, 0.1]))]
                    change = float(rng.lognormal(4.5, 1.0))
                    p = true_risk(s, dtype, started, change)
                    failed = rng.random() < p
                    duration = (KIND_SPEED[kinds[name]] * TYPE_SLOWNESS[dtype] * (1.3 if env == "production" else 1.0)
                                * (1 + change / 400.0) * rng.lognormal(0.0, 0.35))
                    metadata = {}
                    if s % 2 == 0:
                        metadata = {"cpu": f"{(s % 4 + 1) * 250}m", "memory": f"{(s % 3 + 1) * 512}Mi",
                                    "replicas": int(2 + (s % 3) + (2 if env == "production" else 0))}
                    counter += 1
                    deployments.append({
                        "id": f"d{counter:06d}", "service": name, "version": f"1.{day}.{counter % 7}",
                        "environment": env, "deployment_type": dtype, "started": started,
                        "completed": started + dt.timedelta(seconds=duration),
                        "status": "failure" if failed else "success", "duration_seconds": duration,
                        "change_size": int(change), "metadata": metadata, "true_risk": p,
                    })
    deployments.sort(key=lambda d: (d["started"], d["id"]))
    return {"services": [{"name": n, "type": kinds[n]} for n in names], "edges": make_graph(services, seed),
            "deployments": deployments}


_HOUR_WEIGHTS = np.array([0.3] * 7 + [1, 2, 3, 3, 3, 2, 3, 3, 3, 2, 1.5, 1, 0.6] + [0.3] * 4)
_HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()


def write_store(store, data: dict) -> None:
    """Insert DATA's services, dependencies and deployments into the open STORE."""
    now = dt.datetime(2026, 6, 1)
    con = store.con
    con.execute("INSERT INTO sources (path, format, ingested_at) VALUES ('generated', 'test', ?)", [now]).fetchall()
    source = con.execute("SELECT max(id) FROM sources").fetchall()[0][0]
    services = pa.table({"name": [s["name"] for s in data["services"]], "type": [s["type"] for s in data["services"]]})
    con.register("services_in", services)
    con.execute("INSERT INTO services (name, type, active, source_id, ingested_at) "
                "SELECT name, type, true, ?, ? FROM services_in", [source, now]).fetchall()
    con.unregister("services_in")
    if data["edges"]:
        edges = pa.table({k: [e[i] for e in data["edges"]] for i, k in enumerate(("service", "depends_on", "kind"))})
        con.register("edges_in", edges)
        con.execute("INSERT INTO service_dependencies SELECT service, depends_on, kind, ?, ? FROM edges_in", [source, now]).fetchall()
        con.unregister("edges_in")
    deps = data["deployments"]
    if deps:
        table = pa.table({
            "id": [d["id"] for d in deps], "service": [d["service"] for d in deps],
            "version": [d.get("version") for d in deps], "environment": [d["environment"] for d in deps],
            "deployment_type": [d["deployment_type"] for d in deps], "started": [d["started"] for d in deps],
            "completed": [d.get("completed") for d in deps], "status": [d["status"] for d in deps],
            "metadata": [json.dumps(d.get("metadata") or {}) for d in deps],
            "duration_seconds": [d.get("duration_seconds") for d in deps],
            "change_size": [d.get("change_size") for d in deps],
        })
        con.register("deps_in", table)
        con.execute("""INSERT INTO deployments (id, service, version, environment, deployment_type, started, completed,
                           status, metadata, duration_seconds, change_size, source_id, ingested_at)
                       SELECT id, service, version, environment, deployment_type, started, completed, status,
                              metadata, duration_seconds, change_size, ?, ? FROM deps_in""", [source, now]).fetchall()
        con.unregister("deps_in")
