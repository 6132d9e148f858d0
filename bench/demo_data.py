"""Benchmark: generate a demo history of about 1,000,000 deployments and write every format.

Run: ``.venv/bin/python bench/demo_data.py [--deployments N] [--out DIR]``. Prints seconds and
rows/s per step, the file sizes, and the machine load (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from predictor.demo import generate_history
from predictor.demo.writers import FILE_NAMES, WRITERS, _ledger


def main() -> None:
    """Run the benchmark and print one line per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1_000_000, help="about how many deployments")
    parser.add_argument("--days", type=int, default=120, help="days of history")
    parser.add_argument("--services", type=int, default=200, help="number of services")
    parser.add_argument("--formats", default=",".join(WRITERS), help="comma-separated formats to write")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="demo-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    begin = time.perf_counter()
    history = generate_history(seed=0, services=args.services, days=args.days,
                               deployments_per_day=args.deployments / args.days)
    elapsed = time.perf_counter() - begin
    rows = len(history)
    print(f"generate_history: {rows} deployments, {history.rollback_columns['started'].size} rollbacks "
          f"in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)")
    begin = time.perf_counter()
    _ledger(history)
    elapsed = time.perf_counter() - begin
    print(f"ledger text columns (shared by the writers): {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)")
    for fmt in args.formats.split(","):
        path = out / FILE_NAMES[fmt]
        begin = time.perf_counter()
        WRITERS[fmt](history, path, True)
        elapsed = time.perf_counter() - begin
        size = path.stat().st_size / 1e6
        print(f"write {fmt:<11} {elapsed:6.2f} s  {rows / elapsed:>11,.0f} rows/s  {size:8.1f} MB  {path.name}")
    begin = time.perf_counter()
    records = history.deployments
    elapsed = time.perf_counter() - begin
    print(f"canonical dicts: {len(records)} in {elapsed:.2f} s ({len(records) / elapsed:,.0f} rows/s)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
