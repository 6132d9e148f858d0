"""The demo files go through the real ingest path into a real DuckDB store, nothing lost."""

from __future__ import annotations

import json

from predictor.demo import generate_history
from predictor.demo.writers import write_demo_files
from predictor.store import open_store
from predictor.store.ingest import ingest_paths


def test_ledger_files_and_executions_ingest_to_the_same_deployments(tmp_path):
    out = tmp_path / "demo"
    result = write_demo_files(out, ["sqlite", "sexp", "executions", "rollbacks"], seed=8, days=15)
    history = generate_history(seed=8, days=15)
    paths = {f["path"].rsplit("/", 1)[1]: f["path"] for f in result["files"]}
    with open_store(tmp_path / "history.duckdb") as store:
        (first,) = ingest_paths(store, [paths["ledger.db"]], progress=False)
        assert first.tables["deployments"]["inserted"] == len(history.deployments)
        assert first.tables["rollbacks"]["inserted"] == len(history.rollbacks)
        assert first.tables["services"]["inserted"] == len(history.services)
        (again,) = ingest_paths(store, [paths["ledger-export.scm"]], progress=False)
        assert again.tables["deployments"]["unchanged"] == len(history.deployments)
        assert again.tables["rollbacks"]["unchanged"] == len(history.rollbacks)
        ingest_paths(store, [paths["executions.jsonl"]], progress=False)
        ingest_paths(store, [paths["rollbacks.jsonl"]], progress=False)
        counts = store.counts()
        assert counts["deployments"] == len(history.deployments)
        assert counts["rollbacks"] == len(history.rollbacks)
        rows = store.con.execute(
            "SELECT id, change_size, configuration, strategy, resources, status FROM deployments ORDER BY id"
        ).fetchall()
        recovery = store.con.execute("SELECT id, recovery_seconds, steps FROM rollbacks ORDER BY id").fetchall()
    for row, record in zip(recovery, history.rollbacks):
        assert (row[0], row[1], json.loads(row[2])) == (record["id"], record["recovery_seconds"], record["steps"])
    for row, record in zip(rows, history.deployments):
        assert row[0] == record["id"] and row[1] == record["change_size"] and row[5] == record["status"]
        assert json.loads(row[2]) == record["configuration"]
        assert row[3] == record["strategy"] and json.loads(row[4]) == record["resources"]
