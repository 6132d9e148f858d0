"""Run every benchmark script in bench/ one after another and print their figures.

Usage: .venv/bin/python bench/run_all.py [NAME ...]   (names without .py; default: all)
Each script prints its own figures and the machine load; this runner adds nothing but headers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["ingest", "demo_data", "models", "predict_answer", "estimates", "patterns_answers", "daemon",
         "guile_roundtrip", "tangle_collect_data"]


def main(names: list[str]) -> int:
    chosen = names or [name for name in ORDER if (HERE / f"{name}.py").exists()]
    failed = []
    for name in chosen:
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(f"=== bench/{name}.py: exit {code} in {time.monotonic() - started:.1f} s ===", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
