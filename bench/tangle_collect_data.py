"""Benchmark: experiment 001's collect-data.scm exporting a demo ledger database with Guile.

Run: ``.venv/bin/python bench/tangle_collect_data.py [--deployments N] [--schema migrations|init]``.
Writes a demo ledger SQLite database, compiles collect-data.scm once (Guile's auto-compile
cache), then times one export (sexp + feature lines + services) and prints rows/s, with the
machine load (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from predictor.demo_data import generate_history, write_ledger_sqlite

ROOT = Path(__file__).resolve().parent.parent
COLLECT = ROOT / "tangle" / "experiments" / "001-ml-predictions" / "collect-data.scm"


def main() -> None:
    """Run the benchmark and print one line per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=50_000, help="about how many deployments")
    parser.add_argument("--schema", default="migrations", choices=("migrations", "init"))
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="collect-bench-") as tmp:
        work = Path(tmp)
        history = generate_history(seed=0, services=50, days=120, deployments_per_day=args.deployments / 120)
        db = work / "ledger.db"
        write_ledger_sqlite(history, db, args.schema)
        rows = len(history.deployments) + len(history.rollbacks)
        # first run compiles the script into Guile's cache; time the second
        subprocess.run(["guile", str(COLLECT), "--help"], capture_output=True, check=True)
        command = ["guile", str(COLLECT), "--db", str(db), "--out", str(work / "h.sexp"),
                   "--features", str(work / "f.lines"), "--services", str(work / "s.jsonl")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        begin = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        elapsed = time.perf_counter() - begin
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        size = (work / "h.sexp").stat().st_size / 1e6
        print(f"collect-data ({args.schema}): {len(history.deployments)} deployments + {len(history.rollbacks)} "
              f"rollbacks in {elapsed:.2f} s wall, {cpu:.2f} s CPU: {rows / elapsed:,.0f} rows/s wall, "
              f"{rows / cpu:,.0f} rows/s CPU; export {size:.1f} MB; peak RSS {after.ru_maxrss / 1024:.0f} MB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
