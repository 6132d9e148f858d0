"""`predictor demo` serves its store with the daemon, asks it from Guile, and stops it cleanly."""

from __future__ import annotations

import re
from pathlib import Path


def _alive(pid: int) -> bool:
    """True when PID is a running (not zombie) predictor daemon."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return "serve" in cmdline and state != "Z"


def test_demo_asks_the_daemon_from_guile_and_stops_it(home, cli):
    run = cli("demo", timeout=240, env={"COLUMNS": "250"})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "note:" not in out, out

    # the four pattern reports are still there, and the duration model was trained and evaluated
    for expected in ("Recommended patterns", "Adaptations staging → production", "Rollback scenarios",
                     "DORA keys (production)", "Duration estimates", "duration model duration-"):
        assert expected in out, expected

    # the daemon loaded every area before Guile asked it
    assert re.search(r"daemon \(pid \d+\) answers ping; model_info, generation 1", out), out
    for area in ("models: ready (predict", "estimates: ready (analyze_risk", "patterns: ready (adaptations"):
        assert area in out, area

    # Guile's answers, printed by scheme/examples/ml-predictor-demo.scm through the plugin
    asked = re.search(r"deployment of (\S+) to production", out)
    assert asked, out
    guile = out[asked.start():]
    assert re.search(r"predict-deployment-outcome\n  failure probability 0\.\d\d \((low|medium|high|critical) "
                     r"risk\)(, little history: base rate)?; model failure-\d{8}T\d{6}Z", guile), guile
    windows = re.findall(r"\n  \w{3} \d{4}-\d\d-\d\d \d\d:\d\d UTC  failure probability 0\.\d\d", guile)
    assert len(windows) == 3, guile
    assert re.search(r"analyze-risk\n  risk score \d\.\d\d \((low|medium|high|critical)\)\n  - \S+ \(1 hop, "
                     r"(hard|soft|optional) dependency\)", guile), guile
    assert "not available yet" not in guile

    # stopped cleanly: exit code 0, socket and work directory gone, no daemon process left
    stopped = re.search(r"daemon \(pid (\d+)\) stopped cleanly: SIGTERM, exit code 0, socket removed", out)
    assert stopped, out
    assert not _alive(int(stopped.group(1)))
    endpoint = re.search(r"--endpoint ipc://(\S+predictor\.sock)", out)
    assert endpoint, out
    socket_path = Path(endpoint.group(1))
    assert not socket_path.exists() and not socket_path.parent.exists()
    timings = re.search(r"timings: .*daemon_start [\d.]+ s, guile [\d.]+ s, daemon_stop [\d.]+ s, total", out)
    assert timings, out


def test_demo_without_guile_says_so_and_finishes(home, cli, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    run = cli("demo", "--days", "14", "--per-day", "6", "--no-train", timeout=120,
              env={"PATH": str(empty_bin), "COLUMNS": "250"})
    assert run.returncode == 0, run.stderr
    assert "note: guile is not installed (Debian: apt-get install guile-3.0): the daemon and Guile part of the " \
           "demo is skipped" in run.stdout
    assert "predictor serve --db" not in run.stdout
    assert "Recommended patterns" in run.stdout and "timings:" in run.stdout
