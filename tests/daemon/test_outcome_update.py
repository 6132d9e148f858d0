"""An outcome update names a deployment by id and status only; the daemon completes it from
the stored row, stores it durably and the served answers see it."""

from __future__ import annotations

import pytest

from predictor.client import Client
from predictor.errors import RemoteError
from predictor.store import open_store


def test_outcome_update_by_id_and_status(copy_home, start_daemon, demo):
    facts = demo[1]
    start = facts["last_deployment"]["started"].timestamp() + 7200
    new = {"id": "upd-1", "service": facts["services"][0], "environment": "staging", "started": start,
           "status": "in-progress", "deployment_type": "rolling"}
    daemon = start_daemon(copy_home)
    with Client(daemon.endpoint, timeout=10) as client:
        assert client.call("record", {"deployments": [new]})["deployments"] == 1
        result = client.call("record", {"deployments": [{"id": "upd-1", "status": "failure",
                                                         "completed": start + 600}]})
        assert result["outcomes"] == 1
        with pytest.raises(RemoteError) as refused:
            client.call("record", {"deployments": [{"id": "no-such-deployment", "status": "success"}]})
        assert refused.value.code == "not_found"
        assert "no-such-deployment" in str(refused.value)
    assert daemon.stop() == 0
    with open_store(copy_home / "history.duckdb", read_only=True) as store:
        row = store.con.execute("SELECT service, environment, status, deployment_type, epoch(completed) "
                                "FROM deployments WHERE id = 'upd-1'").fetchone()
    assert row == (facts["services"][0], "staging", "failure", "rolling", pytest.approx(start + 600))
