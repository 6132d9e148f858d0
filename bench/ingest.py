"""Benchmark: ingest N deployments (default 1,000,000) from the ledger's CSV export, its SQLite
database (migrations schema) and its sexp export, each into a fresh store; print rows/s.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--workdir /tmp/predictor-bench-ingest] [--repeat N]

Inputs are generated once per row count into the work directory and reused. Targets on a 2-core
machine: >= 1,000,000 rows/s CSV, >= 300,000 rows/s SQLite, >= 50,000 rows/s sexp.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "ingest"))

from ledger_files import MIGRATIONS_DDL  # noqa: E402

from predictor.store import open_store  # noqa: E402
from predictor.store.ingest import ingest_paths  # noqa: E402

SERVICES = [f"svc-{i:02d}" for i in range(40)]
ENVIRONMENTS = ["development", "staging", "production"]
TYPES = ["blue-green", "canary", "rolling", "big-bang", "feature-flag", "a-b-test"]
STATUSES = ["success"] * 8 + ["failure", "rolled-back", "partial", "cancelled"]
START = dt.datetime(2024, 1, 1)


def _rows(n: int):
    """Yield (id, service, version, env, type, started epoch, completed epoch, status, initiator, metadata)."""
    rng = random.Random(7)
    base = int(START.replace(tzinfo=dt.timezone.utc).timestamp())
    for i in range(n):
        started = base + i * 60 + rng.randrange(60)
        completed = started + 60 + rng.randrange(1800)
        change = rng.randrange(1, 2000)
        region = ("eu", "us", "ap")[i % 3]
        metadata = f'((region . "{region}") (change-size . {change}) (strategy . "{TYPES[i % 6]}"))'
        yield (f"dep-{i:07d}", SERVICES[i % 40], f"{i % 9}.{i % 17}.{i % 5}", ENVIRONMENTS[i % 3], TYPES[(i * 7) % 6],
               started, completed, STATUSES[rng.randrange(len(STATUSES))], f"user{i % 13}", metadata)


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_inputs(n: int, workdir: Path) -> dict[str, Path]:
    """Write the three inputs for N rows (skipped when already there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": workdir / f"export-{n}.csv", "sqlite": workdir / f"ledger-{n}.db",
             "sexp": workdir / f"export-{n}.sexp"}
    if not paths["csv"].exists():
        with paths["csv"].open("w") as out:
            out.write("id,service,version,environment,type,started,completed,status,initiator\n")
            for r in _rows(n):
                out.write(f'"{r[0]}","{r[1]}","{r[2]}","{r[3]}","{r[4]}","{_iso(r[5])}","{_iso(r[6])}","{r[7]}","{r[8]}"\n')
    if not paths["sqlite"].exists():
        tmp = paths["sqlite"].with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        db.executescript(MIGRATIONS_DDL)
        db.executemany("INSERT INTO deployments (id, service_name, version, environment, deployment_type, started, "
                       "completed, status, initiator, metadata, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                       _rows(n))
        db.commit()
        db.close()
        tmp.rename(paths["sqlite"])
    if not paths["sexp"].exists():
        with paths["sexp"].open("w") as out:
            out.write("(deploy-ledger-export (version 1))\n")
            for r in _rows(n):
                out.write(f'(deployment\n  (id "{r[0]}")\n  (service "{r[1]}")\n  (version "{r[2]}")\n'
                          f'  (environment {r[3]})\n  (type {r[4]})\n  (started "{_iso(r[5])}")\n'
                          f'  (completed "{_iso(r[6])}")\n  (status {r[7]})\n  (initiator "{r[8]}")\n'
                          f'  (metadata {r[9]})\n  (parent-id #f))\n')
    return paths


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parallel readers' helper)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(n: int, workdir: Path, only: list[str], repeat: int = 1) -> None:
    """Ingest each input into a fresh store (REPEAT times) and print the rate."""
    paths = write_inputs(n, workdir)
    print(f"ingest benchmark: {n:,} deployments per input; load {os.getloadavg()[0]:.2f} "
          f"(1 min), {os.cpu_count()} CPUs")
    for name in [name for name in only for _ in range(repeat)]:
        store_path = workdir / f"bench-{name}.duckdb"
        store_path.unlink(missing_ok=True)
        Path(str(store_path) + ".wal").unlink(missing_ok=True)
        with open_store(store_path) as store:
            started = time.perf_counter()
            cpu = _cpu_seconds()
            report = ingest_paths(store, [paths[name]], progress=False)[0]
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu
            inserted = report.count("deployments", "inserted")
            assert inserted == n, report.summary()
        print(f"{name:7s} {paths[name].stat().st_size / 1e6:8.1f} MB  {seconds:7.2f} s  "
              f"{n / seconds:12,.0f} rows/s   (cpu {cpu:.2f} s incl. helper process, "
              f"load {os.getloadavg()[0]:.2f})")
        store_path.unlink(missing_ok=True)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/predictor-bench-ingest"))
    parser.add_argument("--only", nargs="*", default=["csv", "sqlite", "sexp"], choices=["csv", "sqlite", "sexp"])
    parser.add_argument("--repeat", type=int, default=1,
                        help="Ingest each input this many times (figures are noisy on a shared machine).")
    parser.add_argument("--clean", action="store_true", help="Delete the generated inputs afterwards.")
    args = parser.parse_args()
    run(args.rows, args.workdir, args.only, args.repeat)
    if args.clean:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
