"""train, evaluate, predict (one and a file) and models list|promote|rollback as real processes."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import make_store
from predictor.errors import IngestError
from predictor.models.scoring import score_file


def test_cli_train_evaluate_predict_and_registry(home, cli, tmp_path):
    db = tmp_path / "history.duckdb"
    store, _ = make_store(db, n_deployments=3_000, services=10, days=40, seed=11)
    store.close()

    trained = cli("train", "--db", str(db), "--folds", "2", env={"COLUMNS": "200"})
    assert trained.returncode == 0, trained.stderr
    for text in ("ROC AUC", "previous outcome", "service failure rate", "env+strategy", "exp. 001", "champion"):
        assert text in trained.stdout, text
    assert "computing point-in-time features" in trained.stderr  # the progress bars

    evaluated = cli("evaluate", "--db", str(db), "--folds", "2", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    methods = json.loads(evaluated.stdout)["methods"]
    assert set(methods) == {"model", "previous_outcome", "service_failure_rate", "environment_strategy_rule",
                            "experiment_001_forest"}
    assert 0.5 < methods["model"]["roc_auc"] <= 1

    one = cli("predict", "--db", str(db), "--service", "svc-001", "-e", "production", "--type", "big-bang",
              "--started", "2026-02-10T22:00:00", "--change-size", "400", "--id", "dep-x", "--json")
    assert one.returncode == 0, one.stderr
    answer = json.loads(one.stdout)
    assert answer["deployment_id"] == "dep-x" and 0 < answer["failure_probability"] < 1
    assert answer["abstained"] is False and answer["factors"]
    readable = cli("predict", "--db", str(db), "--deployment",
                   '{"service": "brand-new", "environment": "production", "started": 1770000000}')
    assert readable.returncode == 0 and "abstained" in readable.stdout and "insufficient history" in readable.stdout

    rows = [{"id": "a-1", "service": "svc-002", "environment": "staging", "deployment_type": "canary",
             "started": "2026-01-20T10:00:00", "metadata": '{"change_size": 40}'},
            {"id": "a-2", "service": "svc-003", "environment": "production", "deployment_type": "big-bang",
             "started": "2026-02-12T23:00:00", "metadata": ""},
            {"id": "a-3", "service": "nobody", "environment": "production", "deployment_type": "",
             "started": "1770000000", "metadata": ""}]
    source = tmp_path / "in.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out_csv = tmp_path / "out.csv"
    scored = cli("predict", "--db", str(db), "--input", str(source), "--output", str(out_csv))
    assert scored.returncode == 0, scored.stderr
    with open(out_csv) as handle:
        answers = {row["deployment_id"]: row for row in csv.DictReader(handle)}
    assert set(answers) == {"a-1", "a-2", "a-3"}
    assert answers["a-3"]["abstained"] == "true" and answers["a-2"]["abstained"] == "false"
    assert float(answers["a-2"]["failure_probability"]) > 0
    again = cli("train", "--db", str(db), "--no-evaluate", "--promote", "never", "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["version"]
    listed = json.loads(cli("models", "list", "--db", str(db), "--json", check=True).stdout)
    assert [m["champion"] for m in listed] == [False, True] and listed[0]["version"] == second
    assert cli("models", "promote", second, "--db", str(db), check=True).returncode == 0
    rolled = cli("models", "rollback", "--db", str(db), "--json", check=True)
    assert json.loads(rolled.stdout)["version"] == listed[1]["version"]


def test_scoring_a_json_lines_file_and_refusing_a_bad_one(small_history, tmp_path):
    from predictor.models.train import train_and_register

    store, _ = small_history
    train_and_register(store, evaluate_first=False, plots=False, artifacts_root=tmp_path / "models")
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": "j-1", "service": "svc-002", "environment": "staging", "started": "2026-01-20T10:00:00Z",
             "metadata": {"change_size": 40}},
            {"id": "j-2", "service": "svc-003", "environment": "production", "started": 1_770_000_000}]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = score_file(store, source, target)
    assert summary["rows"] == 2
    answers = [json.loads(line) for line in target.read_text().splitlines()]
    assert [a["deployment_id"] for a in answers] == ["j-1", "j-2"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + '{"service": "svc-001", "environment": "production", "started": "soon"}\n')
    with pytest.raises(IngestError, match=r"bad.jsonl:2: deployment.started: expected a time"):
        score_file(store, bad, tmp_path / "x.jsonl")
