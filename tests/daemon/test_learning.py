"""The prediction log with champion, challenger and shadow roles; retraining after recorded outcomes."""

from __future__ import annotations

import time

from daemon_helpers import scaled
from predictor.client import Client
from predictor.store import open_store


def test_prediction_log_records_role_and_model_version(copy_home, start_daemon, demo):
    version = demo[1]["model_version"]
    assert version, "the demo store has a trained model"
    daemon = start_daemon(copy_home, "--challenger", version, "--challenger-share", "0.5", "--shadow", version)
    deployment = {"service": demo[1]["services"][0], "environment": "production", "started": 1_775_000_000}
    with Client(daemon.endpoint) as client:
        info = client.call("model_info")
        assert info["challenger"] == version and info["shadow"] == version
        for number in range(40):
            answer = client.call("predict", {"deployment": {**deployment, "id": f"log-{number}"}})
            assert answer["model_version"] == version
        client.call("predict_batch", {"deployments": [{**deployment, "id": "batch-0"}, {**deployment, "id": "batch-1"}]})
    assert daemon.stop() == 0
    with open_store(copy_home / "history.duckdb") as store:
        rows = store.con.execute(
            "SELECT role, count(*), min(model_version), max(model_version) FROM predictions GROUP BY role").fetchall()
        batch = store.con.execute(
            "SELECT deployment_id FROM predictions WHERE method = 'predict_batch' AND role = 'shadow' ORDER BY 1").fetchall()
    counts = {role: count for role, count, _, _ in rows}
    assert counts["shadow"] == 42
    assert counts["champion"] + counts["challenger"] == 42
    assert 5 <= counts["challenger"] <= 37  # about half, by a stable hash of the request id
    assert {low for _, _, low, _ in rows} == {version}
    assert batch == [("batch-0",), ("batch-1",)]


def test_retraining_after_recorded_outcomes_registers_a_model(copy_home, start_daemon, demo):
    facts = demo[1]
    daemon = start_daemon(copy_home, "--retrain-after", "3")
    start = facts["last_deployment"]["started"].timestamp() + 3600
    outcomes = [{"id": f"new-{i}", "service": facts["services"][i % 3], "environment": "production",
                 "started": start + i * 900, "completed": start + i * 900 + 300,
                 "status": "failure" if i == 1 else "success", "deployment_type": "canary"} for i in range(3)]
    with Client(daemon.endpoint, timeout=10) as client:
        assert client.call("record", {"deployments": outcomes})["outcomes"] == 3
        end = time.monotonic() + scaled(60)
        while time.monotonic() < end:
            retraining = client.call("status")["retraining"]
            if retraining["runs"] >= 1:
                break
            time.sleep(0.2)
        assert retraining["runs"] == 1, retraining
        last = retraining["last"]
        assert "error" not in last, last
        models = client.call("model_info")["models"]
        assert {m["version"] for m in models} == {facts["model_version"], last["version"]}
        if last["champion"]:  # promoted: the daemon reloads it without a restart
            while time.monotonic() < end and client.call("model_info")["model_version"] != last["version"]:
                time.sleep(0.2)
            assert client.call("model_info")["model_version"] == last["version"]
        else:
            assert client.call("model_info")["model_version"] == facts["model_version"]
        assert client.call("status")["outcomes_since_training"] == 0
