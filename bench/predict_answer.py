"""Benchmark of the full in-process ``predict`` answer, the handler the daemon calls:
``load_answerer(store).methods["predict"](params)`` with wire-shaped params (times in epoch
seconds, metadata and configuration as maps): validation, point-in-time features from the live
state, packed trees, calibration, top factors with descriptions, and similar past deployments.

Run: .venv/bin/python bench/predict_answer.py [--size 100000] [--requests 6000] [--workdir DIR]
With --workdir, the generated store and trained model are kept there and reused by later runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "models"))


def prepare(workdir: Path, size: int) -> Path:
    """Generate SIZE deployments into WORKDIR/bench.duckdb and train a champion (once)."""
    import synthetic

    from predictor.models import registry
    from predictor.models.train import train_and_register
    from predictor.store import open_store

    db = workdir / f"bench-{size}.duckdb"
    with open_store(db) as store:
        if store.con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 0:
            t = time.perf_counter()
            synthetic.load(store, synthetic.generate(n_deployments=size, services=max(24, size // 4000),
                                                     days=365, seed=1))
            print(f"generated and loaded {size:,} deployments in {time.perf_counter() - t:.1f} s")
        if registry.champion(store, "failure") is None:
            t = time.perf_counter()
            train_and_register(store, evaluate_first=False, plots=False, promote="always",
                               artifacts_root=workdir / "models")
            print(f"trained in {time.perf_counter() - t:.1f} s")
    return db


def wire_requests(store, count: int) -> list[dict]:
    """Predict params for the newest stored deployments (as of their own start) and for new
    deployments of the same shape starting after the whole history (the daemon's usual case)."""
    rows = store.con.execute(
        """SELECT id, service, version, environment, deployment_type, epoch_us(started), metadata,
                  configuration, change_size
           FROM deployments ORDER BY started DESC LIMIT ?""", [count // 2]).fetchall()
    latest = max(row[5] for row in rows) / 1e6
    requests = []
    for i, (id_, service, version, environment, kind, started_us, metadata, configuration, change) in enumerate(rows):
        deployment = {"id": id_, "service": service, "version": version, "environment": environment,
                      "deployment_type": kind, "started": started_us / 1e6,
                      "metadata": json.loads(metadata) if metadata else None,
                      "configuration": json.loads(configuration) if configuration else None}
        if change is not None:
            deployment["change_size"] = change
        requests.append({"deployment": deployment})
        requests.append({"deployment": {**deployment, "id": f"new-{i}", "started": latest + 60 + i}})
    return requests


def percentiles(samples_ns: list[int]) -> str:
    import numpy as np

    us = np.asarray(samples_ns) / 1000
    return (f"p50 {np.percentile(us, 50):.1f} us, p90 {np.percentile(us, 90):.1f} us, "
            f"p99 {np.percentile(us, 99):.1f} us, max {us.max():.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    from predictor.models.packed import KERNEL
    print(f"load: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1/5/15 min) on {os.cpu_count()} CPUs; "
          f"hot loops: {KERNEL} (PREDICTOR_KERNEL=numpy for the numpy form)")
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        os.environ["PREDICTOR_HOME"] = str(workdir)
        db = prepare(workdir, args.size)

        from predictor.models.runtime import load_answerer
        from predictor.store import open_store

        with open_store(db, read_only=True) as store:
            t = time.perf_counter()
            answerer = load_answerer(store)
            print(f"load_answerer: {time.perf_counter() - t:.2f} s")
            requests = wire_requests(store, args.requests)
        predict = answerer.methods["predict"]
        for params in requests[:500]:  # warm caches
            predict(params)
        samples: list[int] = []
        gc.collect()
        for _ in range(args.rounds):
            for params in requests:
                start = time.perf_counter_ns()
                predict(params)
                samples.append(time.perf_counter_ns() - start)
        print(f"predict handler, full answer ({len(samples):,} calls, {args.size:,} deployments in state): "
              f"{percentiles(samples)}")
        explained = sum(1 for params in requests[:200] if predict(params)["factors"])
        print(f"  ({explained}/200 sampled answers carry factors; the rest abstained)")
        # the daemon's `record` of a finished deployment, then the next predict
        latest = max(params["deployment"]["started"] for params in requests)
        observed, following = [], []
        for i, params in enumerate(requests[1:401]):
            finished = {**params["deployment"], "id": f"observed-{i}", "started": latest + 120 + i,
                        "completed": latest + 420 + i, "status": "failure" if i % 5 == 0 else "success"}
            start = time.perf_counter_ns()
            answerer.observe("deployment", finished)
            observed.append(time.perf_counter_ns() - start)
            start = time.perf_counter_ns()
            predict(requests[i])
            following.append(time.perf_counter_ns() - start)
        print(f"observe (finished deployment, 400 calls): {percentiles(observed)}")
        print(f"predict right after an observe: {percentiles(following)}")
        batch = {"deployments": [params["deployment"] for params in requests[:100]]}
        t = time.perf_counter()
        for _ in range(20):
            answerer.methods["predict_batch"](batch)
        print(f"predict_batch of 100: {2000 / (time.perf_counter() - t):,.0f} answers/s")
    print(f"load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
