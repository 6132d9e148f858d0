"""Benchmark of the estimates area: suggest-time and risk latency (served, in process).

Targets (issue 4): suggest-time over a 7-day range at 15-minute granularity p50 <= 20 ms;
risk (blast radius) on a 500-service graph p50 <= 5 ms. Also prints estimate and forecast
latency and the load time of the answerer. Run: .venv/bin/python bench/estimates.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "estimates"))   # the generator with planted structure

from histories import generate, write_store  # noqa: E402

from predictor.estimates.history import to_epoch  # noqa: E402
from predictor.store import open_store  # noqa: E402


def measure(call, requests) -> dict:
    """Run CALL on every request once (after a warm-up), return latency percentiles in ms."""
    for request in requests[:5]:
        call(request)
    times = []
    for request in requests:
        start = time.perf_counter()
        call(request)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"n": len(times), "p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
            "max": times[-1]}


def show(name: str, figures: dict, target: float | None = None) -> None:
    verdict = "" if target is None else (f"  (target p50 <= {target:g} ms: "
                                         f"{'met' if figures['p50'] <= target else 'NOT met'})")
    print(f"{name:<48} n={figures['n']:<5} p50 {figures['p50']:8.3f} ms  p95 {figures['p95']:8.3f} ms  "
          f"max {figures['max']:8.3f} ms{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--per-day", type=float, default=250.0)
    parser.add_argument("--no-failure-model", action="store_true", help="Skip training the Models I failure model.")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-estimates-"))
    os.environ["PREDICTOR_HOME"] = str(home)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} CPUs")
    started = time.perf_counter()
    data = generate(services=args.services, days=args.days, per_day=args.per_day, seed=1)
    with open_store(home / "history.duckdb") as store:
        write_store(store, data)
    print(f"history: {args.services} services, {len(data['edges'])} dependency edges, "
          f"{len(data['deployments'])} deployments ({time.perf_counter() - started:.1f} s to generate)")

    from predictor.estimates.runtime import load_answerer

    with open_store(home / "history.duckdb") as store:
        started = time.perf_counter()
        answerer = load_answerer(store)
        print(f"load_answerer (risk surface; duration model trained): {time.perf_counter() - started:.2f} s")
    rng = np.random.default_rng(0)
    names = [s["name"] for s in data["services"]]
    now = to_epoch(dt.datetime(2026, 1, 5) + dt.timedelta(days=args.days, hours=8))
    risk_requests = [{"service": names[int(i)], "environment": "production", "started": now}
                     for i in rng.integers(0, len(names), 400)]
    hub = answerer.methods["analyze_risk"]({"service": "svc-000", "environment": "production", "started": now})
    print(f"hub svc-000 blast radius: {hub['affected_count']} services, max distance {hub['max_distance']}")
    show("risk, random service (500-service graph)", measure(answerer.methods["analyze_risk"], risk_requests), 5)
    show("risk, hub svc-000", measure(answerer.methods["analyze_risk"], [risk_requests[0] | {"service": "svc-000"}] * 200), 5)
    analyze = answerer.methods["analyze_risk"]

    def cold(request):
        answerer.blast.invalidate()   # drop the cached criticality and blast radii first
        return analyze(request)

    def after_observe(request):
        answerer.observe("deployment", {"id": f"bench-{time.perf_counter_ns()}", "service": "svc-007",
                                        "environment": "production", "started": now - 60, "status": "in-progress"})
        return analyze(request)

    show("risk, hub svc-000, after each observed deployment", measure(after_observe, [risk_requests[0] | {"service": "svc-000"}] * 50), 5)
    show("risk, hub svc-000, cold (all caches dropped)", measure(cold, [risk_requests[0] | {"service": "svc-000"}] * 50), 5)
    show("risk, random service + 2 dependency overrides", measure(answerer.methods["analyze_risk"], [
        r | {"dependencies": [{"depends_on": "svc-001", "kind": "soft"}, {"service": "svc-499", "depends_on": r["service"]}]}
        for r in risk_requests[:200]]), 5)
    window_requests = [{"service": names[int(i)], "environment": "production", "deployment_type": "rolling",
                        "now": now, "from": now, "to": now + 7 * 86400, "step_minutes": 15, "top_n": 3}
                       for i in rng.integers(0, len(names), 200)]
    constrained = [r | {"constraints": {"business_hours": {"start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"},
                                        "freeze_windows": [{"start": now + 86400, "end": now + 2 * 86400}],
                                        "min_gap_minutes": 60}} for r in window_requests]
    show("suggest-time 7 d x 15 min, risk surface", measure(answerer.methods["suggest_time"], window_requests), 20)
    show("suggest-time 7 d x 15 min + constraints, risk surface", measure(answerer.methods["suggest_time"], constrained), 20)
    show("estimate (p50/p90 + resources)", measure(answerer.methods["estimate"], [
        {"service": r["service"], "environment": "production", "deployment_type": "canary", "change_size": 120}
        for r in risk_requests[:200]]))
    show("forecast one series, 2 weeks", measure(answerer.methods["forecast"], [
        {"service": r["service"], "environment": "production", "weeks": 2} for r in risk_requests[:100]]))

    if args.no_failure_model:
        return
    from predictor.models.train import train_and_register

    with open_store(home / "history.duckdb") as store:
        started = time.perf_counter()
        train_and_register(store, promote="always", evaluate_first=False, plots=False)
        trained = time.perf_counter() - started
        started = time.perf_counter()
        answerer = load_answerer(store)
        print(f"failure model trained in {trained:.1f} s; load_answerer with it: {time.perf_counter() - started:.2f} s")
    show("suggest-time 7 d x 15 min, packed failure model", measure(answerer.methods["suggest_time"], window_requests), 20)
    show("suggest-time + constraints, packed failure model", measure(answerer.methods["suggest_time"], constrained), 20)


if __name__ == "__main__":
    main()
