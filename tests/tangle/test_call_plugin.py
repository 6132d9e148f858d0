"""The tangled call-plugin.scm, run with real Guile and the real plugin against a real daemon."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tangle_ledger_db import make_ledger
from tests.conftest import ROOT, run_cli, scaled

EXPERIMENT = ROOT / "tangle" / "experiments" / "001-ml-predictions"


def test_plugin_questions_reach_the_daemon_and_say_why_there_is_no_answer(home: Path, tmp_path: Path) -> None:
    ledger = make_ledger(tmp_path / "ledger.db", "migrations")
    lines = tmp_path / "features.lines"
    collected = subprocess.run(["guile", "--no-auto-compile", str(EXPERIMENT / "collect-data.scm"), "--db",
                                str(ledger), "--out", str(tmp_path / "h.sexp"), "--features", str(lines)],
                               capture_output=True, text=True, timeout=scaled(60))
    assert collected.returncode == 0, collected.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "predictor", "serve"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + scaled(60)
        while '"loading": false' not in run_cli("status", "--json", timeout=30).stdout:
            assert daemon.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, "the daemon did not finish loading"
            time.sleep(0.3)
        scheme_path = run_cli("scheme-path", check=True).stdout.strip()
        proc = subprocess.run(
            ["guile", "--no-auto-compile", str(EXPERIMENT / "call-plugin.scm"), "--features", str(lines),
             "--at", "2026-11-23T10:00:00Z"],
            capture_output=True, text=True, timeout=scaled(60), env={**os.environ, "GUILE_LOAD_PATH": scheme_path},
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=scaled(30))
    # nothing is trained: every question reaches the daemon, which says why it cannot answer yet
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == ";; predict-deployment-outcome: api to production, canary"   # the busiest service
    assert out[1].startswith(";; no answer: ml-predictor: model_unavailable: predict: ")
    assert ";; suggest-deployment-time: api, the next 7 days" in out
    assert ";; analyze-risk: api to production" in out
    assert sum(line.startswith(";; no answer: ml-predictor: model_unavailable: ") for line in out) == 3
