"""Time the pattern learner's four answers and its store load on a demo history.

Usage: .venv/bin/python bench/patterns_answers.py [DAYS] [PER_DAY]
Prints: deployments, load seconds (store -> History), and per method the median of 5 answers.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from predictor.demo_data import generate_history
from predictor.patterns.runtime import answer, load_answerer
from predictor.store import open_store
from predictor.store.ingest import ingest_records

QUESTIONS = (
    ("recommendations", {"environment": "production", "resources": ["project", "database"]}),
    ("adaptations", {}),
    ("rollback_scenarios", {"environment": "production"}),
    ("analytics", {"days": 90}),
)


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    per_day = float(sys.argv[2]) if len(sys.argv) > 2 else 40
    history = generate_history(seed=0, days=days, deployments_per_day=per_day)
    with tempfile.TemporaryDirectory() as tmp:
        with open_store(Path(tmp) / "bench.duckdb") as store:
            ingest_records(store, deployments=history.deployments, rollbacks=history.rollbacks,
                           services=history.services)
            began = time.perf_counter()
            answerer = load_answerer(store)
            load = time.perf_counter() - began
    print(f"deployments {len(history.deployments)}, rollbacks {len(history.rollbacks)}; "
          f"load_answerer {load:.3f} s; load average {os.getloadavg()[0]:.2f}")
    for method, params in QUESTIONS:
        times = []
        for _ in range(5):
            began = time.perf_counter()
            answer(answerer.history, method, params)
            times.append(time.perf_counter() - began)
        print(f"{method:20s} median {statistics.median(times) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
