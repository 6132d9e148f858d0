"""suggest-time, risk, estimate and forecast through the real `predictor` process."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from predictor.client import Client, daemon_running

ROOT = Path(__file__).resolve().parents[2]
TIME_FACTOR = float(os.environ.get("PREDICTOR_TEST_TIME_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """SECONDS scaled like every timing in the tests (PREDICTOR_TEST_TIME_FACTOR)."""
    return seconds * TIME_FACTOR


@pytest.fixture
def env(estimates_home):
    return {"PREDICTOR_HOME": str(estimates_home), "PREDICTOR_ENDPOINT": f"ipc://{estimates_home / 'none.sock'}"}


def test_suggest_time_json_respects_constraints(cli, env):
    proc = cli("suggest-time", "-s", "svc-003", "-e", "production", "-t", "rolling", "--from", "2026-03-30T22:00",
               "--now", "2026-03-30T22:00", "--business-hours", "09:00-17:00", "--timezone", "Europe/Berlin",
               "--freeze", "2026-03-31T00:00/2026-04-02T00:00", "--top", "4", "--json", env=env, check=True)
    answer = json.loads(proc.stdout)
    assert len(answer["windows"]) == 4 and answer["candidates"] == 673
    for window in answer["windows"]:
        start = dt.datetime.fromtimestamp(window["start"], ZoneInfo("Europe/Berlin"))
        assert start.weekday() < 5 and 9 <= start.hour < 17
        assert window["start"] >= dt.datetime(2026, 4, 2, tzinfo=dt.timezone.utc).timestamp()
        assert window["failure_probability"] < answer["now"]["failure_probability"]


def test_suggest_time_readable_table(cli, env):
    proc = cli("suggest-time", "-s", "svc-003", "--from", "2026-03-30T22:00", "--to", "2026-04-02T22:00",
               "--now", "2026-03-30T22:00", "--window-minutes", "45", env=env, check=True)
    assert "45-minute windows, request" in " ".join(proc.stdout.split())
    assert "Suggested deployment windows" in proc.stdout
    assert "1. expected failure probability" in proc.stdout


def test_risk_json_and_indented_tree(cli, env):
    answer = json.loads(cli("risk", "-s", "svc-000", "-e", "production", "--at", "2026-03-30T10:00", "--json",
                            env=env, check=True).stdout)
    assert answer["affected_count"] == 11 and answer["max_distance"] == 4
    text = cli("risk", "-s", "svc-000", "-e", "production", env=env, check=True).stdout
    depth1 = [line for line in text.splitlines() if "distance 1," in line]
    depth4 = [line for line in text.splitlines() if "distance 4," in line]
    assert len(depth1) == 5 and len(depth4) == 2
    assert all(line.index("svc-") > depth1[0].index("svc-") + 8 for line in depth4)   # indented three levels deeper
    assert "deploys/week" in text and "(hard)" in text


def test_risk_from_input_file_with_dependency_overrides(cli, env, tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"service": "svc-011", "environment": "production",
                                   "dependencies": [{"service": "svc-900", "depends_on": "svc-011", "kind": "hard"}]}))
    answer = json.loads(cli("risk", "--input", str(request), "--json", env=env, check=True).stdout)
    assert [(a["service"], a["kind"]) for a in answer["affected"]] == [("svc-900", "hard")]
    answer = json.loads(cli("risk", "--input", "-", "--depends-on", "svc-901:optional", "--json", env=env,
                            input=request.read_text(), check=True).stdout)
    assert {a["service"] for a in answer["affected"]} == {"svc-900"}   # svc-011 depends on 901: not a dependent


def test_estimate_and_forecast(cli, env):
    estimate = json.loads(cli("estimate", "-s", "svc-002", "-e", "production", "-t", "canary", "--change-size", "150",
                              "--json", env=env, check=True).stdout)
    assert 0 < estimate["duration"]["p50"] < estimate["duration"]["p90"]
    assert set(estimate["resources"]) == {"cpu", "memory", "replicas"}
    assert "p90" in cli("estimate", "-s", "svc-002", env=env, check=True).stdout
    forecast = json.loads(cli("forecast", "-s", "svc-001", "-e", "production", "--weeks", "1", "--json",
                              env=env, check=True).stdout)
    assert len(forecast["series"]) == 1 and len(forecast["series"][0]["days"]) == 7
    assert "Expected deployments per week" in cli("forecast", "-e", "staging", env=env, check=True).stdout


@pytest.mark.parametrize("args, message", [
    (("risk",), "params.deployment.service: required"),
    (("suggest-time", "-s", "svc-001", "--business-hours", "nine-to-five"), "--business-hours: expected START-END"),
    (("suggest-time", "-s", "svc-001", "--business-hours", "9am-5pm"), "params.constraints.business_hours.start"),
    (("suggest-time", "-s", "svc-001", "--from", "next tuesday"), "--from: expected an ISO-8601 time"),
    (("forecast", "-s", "svc-404"), "service 'svc-404'"),
    (("risk", "--input", "/nonexistent/request.json"), "--input: cannot read"),
])
def test_errors_exit_1_with_a_precise_message(cli, env, args, message):
    proc = cli(*args, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in " ".join(proc.stderr.split())


def test_bad_input_json_names_line_and_column(cli, env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"service": "svc-001",\n "environment": }')
    proc = cli("estimate", "--input", str(bad), env=env)
    assert proc.returncode == 1 and "line 2, column" in proc.stderr


def test_commands_go_through_the_running_daemon(estimates_home, tmp_path, cli):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(estimates_home / "history.duckdb", home / "history.duckdb")
    endpoint = f"ipc://{home / 'daemon.sock'}"
    env = {"PREDICTOR_HOME": str(home), "PREDICTOR_ENDPOINT": endpoint}
    daemon = subprocess.Popen([sys.executable, "-m", "predictor", "serve", "--endpoint", endpoint],
                              cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + scaled(90)
        while time.monotonic() < deadline:
            assert daemon.poll() is None, "daemon exited"
            if daemon_running(endpoint):
                with Client(endpoint, timeout=5) as client:
                    if client.call("status")["generation"] >= 1:
                        break
            time.sleep(0.2)
        else:
            raise AssertionError("daemon not ready")
        answer = json.loads(cli("risk", "-s", "svc-000", "-e", "production", "--json", env=env, check=True).stdout)
        assert answer["affected_count"] == 11
        # the daemon owns the store: going to it directly is refused, so the answer above came through it
        direct = cli("risk", "-s", "svc-000", "--db", str(home / "history.duckdb"), env=env)
        assert direct.returncode == 1 and "in use by another process" in " ".join(direct.stderr.split())
    finally:
        daemon.terminate()
        daemon.wait(timeout=scaled(30))
