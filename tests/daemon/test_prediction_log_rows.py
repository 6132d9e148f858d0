"""The prediction log writes what was answered as JSON DuckDB can query, whatever the values."""

from __future__ import annotations

import logging
import math

import numpy as np

from predictor.daemon.prediction_log import PredictionLog
from predictor.store import open_store


def test_rows_hold_queryable_json_for_odd_values(tmp_path):
    with open_store(tmp_path / "history.duckdb") as store:
        log = PredictionLog(store, logging.getLogger("test"), enabled=True)
        deployment = {"id": "dep-1", "service": "zoë-api", "environment": "production", "started": 1.7e9}
        answer = {"model_version": "failure-1", "failure_probability": np.float64(0.25), "base_rate": math.nan,
                  "factors": [{"feature": "hour", "value": 3.0, "description": "Déploiement à 3:00"}],
                  "features": {"hour": 3.0, "count": np.int64(7)}}
        log.add("req-1", "predict", 1_700_000_000.5, "champion", deployment, answer)
        log.add("req-1", "predict", 1_700_000_000.6, "champion", deployment, answer)  # a reused id: kept once
        log.add("req-2", "predict_batch", 1_700_000_001.0, "shadow", deployment, {"model_version": "failure-2"})
        assert log.flush(store.con) == 2
        rows = store.con.execute(
            "SELECT request_id, role, model_version, request->>'$.service', CAST(answer->'$.failure_probability' AS DOUBLE), "
            "answer->'$.base_rate', answer->'$.factors[0].description'->>'$', features->>'$.count', "
            "epoch(requested_at) FROM predictions ORDER BY request_id").fetchall()
    assert rows[0][:3] == ("req-1", "champion", "failure-1")
    assert rows[0][3] == "zoë-api" and rows[0][4] == 0.25
    assert rows[0][5] == "null"                      # NaN is stored as JSON null, not an invalid token
    assert rows[0][6] == "Déploiement à 3:00" and rows[0][7] == "7"
    assert rows[0][8] == 1_700_000_000.5
    assert rows[1][:3] == ("req-2", "shadow", "failure-2")
