"""Benchmark of the failure model: training time and peak memory (100k and 1M deployments,
features included), packed single-row latency with explanation, batch throughput, and the
HistGradientBoosting vs RandomForest measurement behind the choice of model.

Run: .venv/bin/python bench/models.py [--sizes 100000,1000000] [--skip-forest]
Each training size runs in a child process so its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "models"))


def child_generate(size: int, workdir: str) -> None:
    """In a child: generate SIZE deployments and load them into a store."""
    import synthetic

    from predictor.store import open_store

    t0 = time.perf_counter()
    history = synthetic.generate(n_deployments=size, services=max(24, size // 4000), days=365, seed=1)
    with open_store(Path(workdir) / f"bench-{size}.duckdb") as store:
        synthetic.load(store, history)
    print(json.dumps({"generate_and_load_s": round(time.perf_counter() - t0, 1)}))


def child_train(size: int, workdir: str) -> None:
    """In a child: time features + fit + save + register on the stored SIZE deployments."""
    from predictor.models.train import train_and_register
    from predictor.store import open_store

    store = open_store(Path(workdir) / f"bench-{size}.duckdb")
    t1 = time.perf_counter()
    record = train_and_register(store, evaluate_first=False, plots=False, promote="always",
                                artifacts_root=Path(workdir) / "models")
    t2 = time.perf_counter()
    print(json.dumps({"size": size, "train_s": round(t2 - t1, 1), "timings": record.metrics["timings"],
                      "newest_slice_auc": round(record.metrics["newest_slice"]["roc_auc"], 4),
                      "db": str(store.path), "version": record.version}))
    store.close()


def _child(flag: str, size: int, workdir: str) -> tuple[dict, int]:
    """Run this script as a child with FLAG; return its JSON line and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, __file__, flag, str(size), "--workdir", workdir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PREDICTOR_HOME": workdir})
    _pid, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise SystemExit(err)
    return json.loads(out.strip().splitlines()[-1]), round(usage.ru_maxrss / 1024)


def run_training(size: int, workdir: str) -> dict:
    generated, generate_rss = _child("--child-generate", size, workdir)
    result, train_rss = _child("--child-train", size, workdir)
    result.update(generated)
    result["peak_rss_mb"], result["generate_rss_mb"] = train_rss, generate_rss
    return result


def latency_and_throughput(db: str, workdir: str) -> None:
    import numpy as np

    from predictor.features.training import training_features
    from predictor.models.runtime import load_predictor
    from predictor.store import open_store

    store = open_store(db, read_only=True)
    os.environ["PREDICTOR_HOME"] = workdir
    predictor = load_predictor(store)
    model = predictor.model
    frame = training_features(store, model.feature_config)
    rows = frame.take(np.arange(max(0, len(frame) - 100_000), len(frame)))
    t = time.perf_counter()
    matrix = model.encoder.matrix(rows)
    encode_s = time.perf_counter() - t
    # single row: packed walk + calibration + attribution (+ choosing top factors)
    samples = []
    groups = np.arange(len(model.encoder.groups))
    for i in range(20_000):
        x = matrix[i % len(matrix)]
        start = time.perf_counter_ns()
        probability, _raw, contributions = model.packed.explain_one(x)
        top = groups[np.argsort(-np.abs(contributions))[:5]]
        samples.append(time.perf_counter_ns() - start)
    samples = np.array(samples[1000:]) / 1000
    print(f"single row, packed + explanation: p50 {np.percentile(samples, 50):.1f} us, "
          f"p90 {np.percentile(samples, 90):.1f} us, p99 {np.percentile(samples, 99):.1f} us "
          f"({model.packed.n_trees} trees, depth <= {model.packed.depth}) [{top[0]}]")
    # the whole answer: point-in-time features from the live state, packed, factors, 3 similar
    records = store.con.execute(
        "SELECT id, service, version, environment, deployment_type, started, metadata, configuration, change_size "
        "FROM deployments ORDER BY started DESC LIMIT 2000").fetchall()
    keys = ("id", "service", "version", "environment", "deployment_type", "started", "metadata", "configuration",
            "change_size")
    records = [dict(zip(keys, r)) for r in records]
    full = []
    for r in records * 3:
        start = time.perf_counter_ns()
        predictor.answer(r)
        full.append(time.perf_counter_ns() - start)
    full = np.array(full[500:]) / 1000
    print(f"single row, full answer (features from state + packed + factors + similar): "
          f"p50 {np.percentile(full, 50):.1f} us, p90 {np.percentile(full, 90):.1f} us")
    t = time.perf_counter()
    model.probability_many(matrix)
    sk_s = time.perf_counter() - t
    t = time.perf_counter()
    model.packed.probability_many(matrix)
    packed_s = time.perf_counter() - t
    from predictor.models.packed import KERNEL
    print(f"batch, {len(matrix)} rows: scikit-learn {len(matrix) / sk_s:,.0f} rows/s; packed ({KERNEL}) "
          f"{len(matrix) / packed_s:,.0f} rows/s; encoding features {len(matrix) / encode_s:,.0f} rows/s")
    t = time.perf_counter()
    frame_all = training_features(store, model.feature_config)
    print(f"features (SQL, all {len(frame_all)} rows): {len(frame_all) / (time.perf_counter() - t):,.0f} rows/s")
    store.close()


def forest_comparison(db: str) -> None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from predictor.features.training import training_features
    from predictor.models.encoding import FeatureEncoder
    from predictor.models.failure_model import TREE_PARAMS
    from predictor.store import open_store

    store = open_store(db, read_only=True)
    frame = training_features(store)
    frame = frame.take(~np.isnan(frame.label))
    cut = int(len(frame) * 0.8)
    encoder = FeatureEncoder.fit(frame.take(np.arange(cut)))
    X, y = encoder.matrix(frame), frame.label
    candidates = {
        "HGB 100 trees, <=15 leaves, depth 5 (chosen)": HistGradientBoostingClassifier(**TREE_PARAMS),
        "HGB 300 trees, <=31 leaves": HistGradientBoostingClassifier(max_iter=300, max_leaf_nodes=31,
                                                                     early_stopping=False, random_state=0),
        "RandomForest 100 trees, min leaf 20": RandomForestClassifier(n_estimators=100, min_samples_leaf=20,
                                                                      n_jobs=1, random_state=0),
    }
    for name, estimator in candidates.items():
        with threadpool_limits(limits=1):
            t = time.perf_counter()
            estimator.fit(X[:cut], y[:cut])
            fit_s = time.perf_counter() - t
            auc = roc_auc_score(y[cut:], estimator.predict_proba(X[cut:])[:, 1])
        print(f"  {name}: fit {fit_s:.1f} s on {cut} rows, newest-20% ROC AUC {auc:.4f}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--skip-forest", action="store_true")
    parser.add_argument("--child-train", type=int)
    parser.add_argument("--child-generate", type=int)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child_generate:
        child_generate(args.child_generate, args.workdir)
        return
    if args.child_train:
        child_train(args.child_train, args.workdir)
        return
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"(1/5/15 min) on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as workdir:
        results = []
        for size in [int(s) for s in args.sizes.split(",")]:
            result = run_training(size, workdir)
            results.append(result)
            phases = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in result["timings"].items())
            print(f"train {size:>9,} deployments: {result['train_s']:.1f} s ({phases}), "
                  f"peak RSS {result['peak_rss_mb']} MB; newest-slice ROC AUC {result['newest_slice_auc']} "
                  f"[generating + loading, separate process: {result['generate_and_load_s']:.1f} s, "
                  f"{result['generate_rss_mb']} MB]")
        smallest = results[0]
        latency_and_throughput(smallest["db"], workdir)
        if not args.skip_forest:
            print(f"model choice on {smallest['size']:,} deployments (single thread):")
            forest_comparison(smallest["db"])
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
