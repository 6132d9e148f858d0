"""Learning while serving: the prediction log with champion, challenger and shadow roles, and
retraining in the background after recorded outcomes (one daemon for both, to keep the run short)."""

from __future__ import annotations

import time

from daemon_helpers import scaled
from predictor.client import Client
from predictor.store import open_store


def _wait_for_retraining(client: Client, end: float) -> dict:
    while time.monotonic() < end:
        retraining = client.call("status")["retraining"]
        if retraining["runs"] >= 1:
            return retraining
        time.sleep(0.2)
    raise AssertionError("no retraining finished in time")


def test_prediction_log_roles_and_retraining_after_outcomes(copy_home, start_daemon, demo):
    facts = demo[1]
    version = facts["model_version"]
    assert version, "the demo store has a trained model"
    daemon = start_daemon(copy_home, "--challenger", version, "--challenger-share", "0.5", "--shadow", version,
                          "--retrain-after", "3")
    deployment = {"service": facts["services"][0], "environment": "production", "started": 1_775_000_000}
    start = facts["last_deployment"]["started"].timestamp() + 3600
    outcomes = [{"id": f"new-{i}", "service": facts["services"][i % 3], "environment": "production",
                 "started": start + i * 900, "completed": start + i * 900 + 300,
                 "status": "failure" if i == 1 else "success", "deployment_type": "canary"} for i in range(3)]
    with Client(daemon.endpoint, timeout=10) as client:
        info = client.call("model_info")
        assert info["challenger"] == version and info["shadow"] == version
        assert client.call("status")["compiled_path"] is False  # the roles' routing and logging are Python's
        estimates_before = info["areas"]["estimates"]
        for number in range(40):
            answer = client.call("predict", {"deployment": {**deployment, "id": f"log-{number}"}})
            assert answer["model_version"] == version
        client.call("predict_batch", {"deployments": [{**deployment, "id": "batch-0"}, {**deployment, "id": "batch-1"}]})

        assert client.call("record", {"deployments": outcomes})["outcomes"] == 3
        end = time.monotonic() + scaled(60)
        retraining = _wait_for_retraining(client, end)
        assert retraining["runs"] == 1, retraining
        last = retraining["last"]
        assert "error" not in last, last
        models = client.call("model_info")["models"]
        assert {m["version"] for m in models} == {version, last["version"]}
        if last["champion"]:  # promoted: the daemon reloads it without a restart
            while time.monotonic() < end and client.call("model_info")["model_version"] != last["version"]:
                time.sleep(0.2)
            assert client.call("model_info")["model_version"] == last["version"]
        else:
            assert client.call("model_info")["model_version"] == version
        assert client.call("status")["outcomes_since_training"] == 0
        # the retraining refit the duration model too, and the daemon reloaded it
        assert last["durations_refit"] is True
        while time.monotonic() < end and client.call("model_info")["areas"]["estimates"] == estimates_before:
            time.sleep(0.2)
        estimates_after = client.call("model_info")["areas"]["estimates"]
        assert estimates_after != estimates_before and "durations:" in str(estimates_after), estimates_after
    assert daemon.stop() == 0

    with open_store(copy_home / "history.duckdb") as store:
        rows = store.con.execute(
            "SELECT role, count(*), min(model_version), max(model_version) FROM predictions GROUP BY role").fetchall()
        batch = store.con.execute(
            "SELECT deployment_id FROM predictions WHERE method = 'predict_batch' AND role = 'shadow' ORDER BY 1").fetchall()
        recorded = store.con.execute("SELECT count(*) FROM deployments WHERE id LIKE 'new-%'").fetchone()[0]
    counts = {role: count for role, count, _, _ in rows}
    assert counts["shadow"] == 42
    assert counts["champion"] + counts["challenger"] == 42
    assert 5 <= counts["challenger"] <= 37  # about half, by a stable hash of the request id
    assert {low for _, _, low, _ in rows} == {version}
    assert batch == [("batch-0",), ("batch-1",)]
    assert recorded == 3
