"""The patterns commands through the real ``python -m predictor`` process, on a tmp PREDICTOR_HOME."""

from __future__ import annotations

import json

import duckdb
import pytest

from patterns_planted import promotion_history, rollback_history


def _write_history(path, deployments, rollbacks=()):
    """Write a {"deployments": [...], "rollbacks": [...]} JSON file for ``predictor record --file``."""
    path.write_text(json.dumps({"deployments": deployments, "rollbacks": list(rollbacks)}, default=str))
    return path


def test_record_from_options_then_an_outcome_then_a_rollback(home, cli):
    first = cli("record", "--id", "d1", "--service", "pay", "-e", "production", "--type", "canary",
                "--status", "in-progress", "--started", "2026-03-01T10:00:00Z", "--set", "replicas=3",
                "--set", "ssl_verify=true", "-r", "project,database", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["ids"] == ["d1"]
    outcome = cli("record", "--kind", "outcome", "--id", "d1", "--status", "rolled-back",
                  "--completed", "2026-03-01T10:20:00Z", "--failure-reason", "Health check timed out after 30s",
                  "--rollback-triggered")
    assert outcome.returncode == 0, outcome.stderr
    assert "recorded 1 deployment(s), 0 rollback(s), 0 service(s) via the store: d1" in " ".join(outcome.stdout.split())
    rollback = cli("record", "--kind", "rollback", "--id", "r1", "--service", "pay", "--deployment-id", "d1",
                   "--started", "2026-03-01T10:25:00Z", "--recovery-seconds", "600", "--status", "success",
                   "--step", "switch traffic back", "--step", "verify health checks")
    assert rollback.returncode == 0, rollback.stderr
    con = duckdb.connect(str(home / "history.duckdb"), read_only=True)
    row = con.execute("SELECT status, configuration, resources, completed FROM deployments WHERE id = 'd1'").fetchone()
    con.close()
    assert row[0] == "rolled-back" and json.loads(row[1]) == {"replicas": 3, "ssl_verify": True}
    assert json.loads(row[2]) == ["project", "database"] and str(row[3]) == "2026-03-01 10:20:00"
    recommendations = json.loads(cli("recommendations", "-e", "production", "-r", "database", "--json",
                                     check=True).stdout)
    pattern = recommendations["recommendations"][0]
    assert (pattern["strategy"], pattern["successes"], pattern["failures"], pattern["rolled_back"]) == (
        "canary", 0, 1, 1)
    scenarios = json.loads(cli("rollback-scenarios", "-e", "production", "--json", check=True).stdout)
    assert scenarios["scenarios"][0]["failure_pattern"] == "health check timed out after"
    assert scenarios["scenarios"][0]["steps"] == ["switch traffic back", "verify health checks"]
    assert scenarios["scenarios"][0]["recovery_seconds_median"] == 600


@pytest.mark.parametrize("args, message", [
    (("record", "--kind", "outcome", "--id", "nope", "--status", "success"), "deployment 'nope' is not in the store"),
    (("record", "--kind", "outcome", "--id", "d1"), "--status: an outcome needs --id and --status"),
    (("record", "--kind", "rollback", "--service", "pay", "-e", "production"),
     "--environment: does not apply to a rollback record"),
    (("record", "--service", "pay", "-e", "production", "--status", "success", "--config", "{nope"),
     "--config: not valid JSON"),
    (("analytics", "-m", "velocity"), "params.metrics: unknown metric 'velocity'"),
])
def test_user_errors_exit_1_with_a_precise_message(home, cli, args, message):
    proc = cli(*args)
    assert proc.returncode == 1
    assert message in " ".join(proc.stderr.split())


def test_four_reports_as_json_and_as_tables_with_plots(home, cli, tmp_path):
    deployments = promotion_history()
    more, rollbacks = rollback_history(per_kind=5)
    source = _write_history(tmp_path / "history.json", deployments + more, rollbacks)
    cli("record", "--file", str(source), check=True)
    adaptations = json.loads(cli("adaptations", "-s", "staging", "-t", "production", "--json", check=True).stdout)
    ssl = next(a for a in adaptations["adaptations"] if a["key"] == "ssl_verify")
    assert (ssl["source_value"], ssl["target_value"], ssl["pairs_changed"]) == (False, True, 20)
    scenarios = json.loads(cli("rollback-scenarios", "-e", "production", "-r", "database,project", "--json",
                               check=True).stdout)
    assert sum(s["count"] for s in scenarios["scenarios"]) == 15
    plots = tmp_path / "plots"
    analytics = json.loads(cli("analytics", "-e", "production", "-d", "120", "-m", "duration,success_rate,dora",
                               "--plot", str(plots), "--json", check=True).stdout)
    assert set(analytics["metrics"]) == {"duration", "success_rate", "dora"} and "insights" not in analytics
    assert [p.rsplit("/", 1)[1] for p in analytics["plots"]] == ["deployments.png", "durations.png", "dora.png"]
    assert (plots / "dora.png").read_bytes()[:4] == b"\x89PNG"
    text = " ".join(cli("analytics", "-e", "production", "-d", "120", check=True).stdout.split())
    assert "DORA keys (production)" in text and "change failure rate" in text


def test_empty_store_reports_say_so(home, cli):
    table = cli("rollback-scenarios", check=True)
    assert "no deployment history yet" in table.stdout


def test_demo_runs_end_to_end_and_twice(home, cli):
    first = cli("demo", timeout=180)
    assert first.returncode == 0, first.stderr
    text = " ".join(first.stdout.split())
    for expected in ("$ predictor recommendations -e production -r project,database -n 5",
                     "Recommended patterns", "Adaptations staging → production", "set ssl_verify to true",
                     "Rollback scenarios", "recovery median", "DORA keys (production)", "Insights from the data",
                     "Failure model vs baselines", "inserted"):
        assert expected in text, expected
    assert "note:" not in text  # every part of the product was there
    con = duckdb.connect(str(home / "history.duckdb"), read_only=True)
    counts = con.execute("SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM rollbacks)").fetchone()
    con.close()
    assert counts[0] >= 50 and counts[1] >= 10
    second = cli("demo", "--no-train", timeout=180)
    assert second.returncode == 0, second.stderr
    con = duckdb.connect(str(home / "history.duckdb"), read_only=True)
    again = con.execute("SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM rollbacks)").fetchone()
    con.close()
    assert again == counts
    assert "inserted" not in " ".join(second.stdout.split())
