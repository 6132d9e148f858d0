"""`predictor train` and `predictor evaluate` cover the estimates area (Models II) too, as real processes."""

from __future__ import annotations

import json

from conftest import make_store
from predictor.estimates.durations import DurationModel


def test_train_and_evaluate_include_duration_model_and_forecast(home, cli, tmp_path):
    db = tmp_path / "history.duckdb"
    store, _ = make_store(db, n_deployments=3_000, services=10, days=40, seed=5)
    store.close()

    trained = cli("train", "--db", str(db), "--folds", "2", "--no-evaluate", env={"COLUMNS": "200"})
    assert trained.returncode == 0, trained.stderr
    text = " ".join(trained.stdout.split())
    assert "duration model duration-" in text and "trained on 2" in text  # ~2900 deployments with a duration
    pointer = home / "models" / "durations" / "CURRENT"
    version = pointer.read_text().strip()
    assert version in text
    model = DurationModel.load(home / "models" / "durations" / version)
    assert model.metrics_["store"] == str(db.resolve())
    p50, p90 = model.predict([["web", "rolling", "production", 100.0, 5.5, 6.0, 5.5, 5.5, 50.0, 5.5]])
    assert 0 < p50[0] <= p90[0]

    # with the evaluation: the version's evaluation-metrics.json holds the duration and forecast figures
    again = cli("train", "--db", str(db), "--folds", "2", "--promote", "always", "--json")
    assert again.returncode == 0, again.stderr
    record = json.loads(again.stdout)
    assert pointer.read_text().strip() != version  # a new duration version was saved and made current
    saved = json.loads((home / "models" / record["version"] / "evaluation-metrics.json").read_text())
    for metrics in (saved, record["metrics"]):
        durations = metrics["estimates"]["durations"]
        assert 0.8 <= durations["coverage_p90"] <= 0.97
        assert durations["pinball_p50"] > 0 and durations["pinball_p90"] > 0
        assert durations["baseline_service_median"]["pinball_p50"] > 0
        forecast = metrics["estimates"]["forecast"]
        assert forecast["holdout_weeks"] == 2 and forecast["series"] > 0
        assert forecast["mae_daily"] >= 0 and forecast["baseline_seasonal_naive"]["mae_daily"] >= 0
        assert metrics["duration_model"]["version"] == pointer.read_text().strip()
        assert metrics["evaluation"]["methods"]["model"]["roc_auc"] > 0.5

    evaluated = cli("evaluate", "--db", str(db), "--folds", "2", "--no-forest", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert "model" in report["methods"]
    assert set(report["estimates"]) == {"durations", "forecast"}
    # the same held-out split as the one stored at training time (deterministic on the same store)
    assert report["estimates"]["durations"]["pinball_p50"] == saved["estimates"]["durations"]["pinball_p50"]

    table = cli("evaluate", "--db", str(db), "--folds", "2", "--no-forest", env={"COLUMNS": "220"})
    assert table.returncode == 0, table.stderr
    for expected in ("failure model (HGB, calibrated)", "pinball p50", "p90 coverage", "per-service median",
                     "seasonal naive (same weekday last week)", "MAE per day"):
        assert expected in table.stdout, expected
    assert f"{report['estimates']['durations']['coverage_p90']:.3f}" in table.stdout

    skipped = cli("evaluate", "--db", str(db), "--folds", "2", "--no-forest", "--no-estimates", "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert "estimates" not in json.loads(skipped.stdout)


def test_train_without_enough_durations_still_registers_the_failure_model(home, cli, tmp_path):
    db = tmp_path / "history.duckdb"
    store, _ = make_store(db, n_deployments=3_000, services=10, days=40, seed=6)
    store.con.execute("UPDATE deployments SET duration_seconds = NULL, completed = NULL WHERE id > 'dep-0000150'")
    store.close()

    trained = cli("train", "--db", str(db), "--no-evaluate", "--json")
    assert trained.returncode == 0, trained.stderr
    record = json.loads(trained.stdout)
    assert record["champion"] is True
    assert "need 200" in record["metrics"]["duration_model"]["error"]
    assert not (home / "models" / "durations" / "CURRENT").exists()
