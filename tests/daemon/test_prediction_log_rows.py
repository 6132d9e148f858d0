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


def test_payload_entries_give_the_rows_the_maps_give(tmp_path):
    """The daemon queues the wire payloads (no maps kept alive); decoded at flush time they make
    exactly the rows that queuing the maps makes, a row per deployment of a batch."""
    from predictor.protocol import encode, ok_reply, request

    deployments = [{"id": f"dep-{i}", "service": "api", "environment": "production", "started": 1.7e9 + i,
                    "metadata": {"ticket": "OPS-1", "n": i}} for i in range(3)]
    answers = [{"deployment_id": f"dep-{i}", "model_version": "failure-9", "failure_probability": 0.1 * i,
                "factors": [{"feature": "hour", "value": 3.0, "description": "Déploiement"}],
                "similar_deployments": []} for i in range(3)]
    with open_store(tmp_path / "history.duckdb") as store:
        log = PredictionLog(store, logging.getLogger("test"), enabled=True)
        log.add_payloads("p-1", "predict", 1_700_000_000.5, "champion",
                         encode(request("predict", {"deployment": deployments[0]}, id="p-1")),
                         encode(ok_reply("p-1", answers[0])))
        log.add_payloads("b-1", "predict_batch", 1_700_000_001.0, "challenger",
                         encode(request("predict_batch", {"deployments": deployments}, id="b-1")),
                         encode(ok_reply("b-1", {"predictions": answers})))
        log.add("m-1", "predict", 1_700_000_000.5, "champion", deployments[0], answers[0])
        for index in range(3):
            log.add(f"mb-1#{index}", "predict_batch", 1_700_000_001.0, "challenger", deployments[index], answers[index])
        assert log.flush(store.con, yield_every=2) == 8
        rows = store.con.execute(
            "SELECT request_id, deployment_id, method, epoch(requested_at), model_version, role, request, answer "
            "FROM predictions ORDER BY request_id").fetchall()
    by_id = {row[0]: row[1:] for row in rows}
    assert sorted(by_id) == ["b-1#0", "b-1#1", "b-1#2", "m-1", "mb-1#0", "mb-1#1", "mb-1#2", "p-1"]
    assert by_id["p-1"] == by_id["m-1"]
    for index in range(3):
        assert by_id[f"b-1#{index}"] == by_id[f"mb-1#{index}"]
        assert by_id[f"b-1#{index}"][0] == f"dep-{index}" and by_id[f"b-1#{index}"][4] == "challenger"


def test_payloads_waiting_are_bounded_in_bytes(tmp_path):
    """Payload entries beyond the byte bound are dropped and counted; a flush frees the room."""
    with open_store(tmp_path / "history.duckdb") as store:
        log = PredictionLog(store, logging.getLogger("test"), enabled=True, capacity_bytes=1000)
        from predictor.protocol import encode, ok_reply, request

        def add(i):
            log.add_payloads(f"p-{i}", "predict", 1.7e9, "champion",
                             encode(request("predict", {"deployment": {"id": f"d-{i}", "pad": "x" * 150}}, id=f"p-{i}")),
                             encode(ok_reply(f"p-{i}", {"model_version": "m", "pad": "y" * 150})))

        for i in range(6):
            add(i)
        assert len(log.pending) == 2 and log.dropped == 4       # each entry is about 400 bytes
        assert log.flush(store.con) == 2
        add(9)
        assert len(log.pending) == 1 and log.dropped == 4


def test_the_writer_waits_for_a_lull_unless_the_backlog_passes_half_a_bound(tmp_path):
    """While requests keep arriving the writer writes nothing; once none has come for QUIET the
    rows are written; a backlog past half the entries bound is written even mid-burst."""
    import threading
    import time

    from predictor.protocol import encode, ok_reply, request

    payload = encode(request("predict", {"deployment": {"id": "d", "service": "api", "environment": "prod"}}, id="x"))
    reply = encode(ok_reply("x", {"deployment_id": "d", "model_version": "failure-1", "failure_probability": 0.2}))
    with open_store(tmp_path / "history.duckdb") as store:
        latest = [time.monotonic()]
        burst = threading.Event()

        def requests_arriving():
            while not burst.is_set():
                latest[0] = time.monotonic()
                time.sleep(0.0005)

        log = PredictionLog(store, logging.getLogger("test"), interval=0.05, capacity=100,
                            last_request=lambda: latest[0])
        arrivals = threading.Thread(target=requests_arriving)
        arrivals.start()
        log.start()
        try:
            for i in range(10):
                log.add_payloads(f"r{i}", "predict", 1.7e9, "champion", payload, reply)
            time.sleep(0.5)  # ten intervals: requests kept arriving, nothing written
            assert log.written == 0 and len(log.pending) == 10
            for i in range(10, 60):  # 60 waiting of a bound of 100: written although requests arrive
                log.add_payloads(f"r{i}", "predict", 1.7e9, "champion", payload, reply)
            deadline = time.monotonic() + 10
            while log.written < 60 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert log.written == 60
            log.add_payloads("r60", "predict", 1.7e9, "champion", payload, reply)
            time.sleep(0.3)
            assert log.written == 60
        finally:
            burst.set()
            arrivals.join()
        deadline = time.monotonic() + 10  # the lull: the last one is written
        while log.written < 61 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.written == 61
        log.close()
        assert store.con.execute("SELECT count(*) FROM predictions").fetchone()[0] == 61


def test_the_writer_looks_a_few_times_a_second_during_a_long_burst(tmp_path):
    """Under a steady stream of requests the waiting writer backs off (5 ms, 10 ms, ... up to
    MAX_WAIT): a second of requests sees it look about ten times, not two hundred."""
    import threading
    import time

    from predictor.daemon.prediction_log import MAX_WAIT, QUIET
    from predictor.protocol import encode, ok_reply, request

    payload = encode(request("predict", {"deployment": {"id": "d", "service": "api", "environment": "prod"}}, id="x"))
    reply = encode(ok_reply("x", {"deployment_id": "d", "model_version": "failure-1", "failure_probability": 0.2}))
    with open_store(tmp_path / "history.duckdb") as store:
        burst = threading.Event()
        latest = [time.monotonic()]
        looks = []

        def requests_arriving():
            while not burst.is_set():
                latest[0] = time.monotonic()
                time.sleep(0.0005)

        def last_request():
            looks.append(time.monotonic())
            return latest[0]

        log = PredictionLog(store, logging.getLogger("test"), interval=0.01, capacity=1000, last_request=last_request)
        arrivals = threading.Thread(target=requests_arriving)
        arrivals.start()
        log.add_payloads("r0", "predict", 1.7e9, "champion", payload, reply)
        log.start()
        try:
            time.sleep(1.2)
            assert log.written == 0
            in_the_last_second = [t for t in looks if t > looks[-1] - 1.0]
            assert 3 <= len(in_the_last_second) <= 1.0 / MAX_WAIT + 3, len(in_the_last_second)
        finally:
            burst.set()
            arrivals.join()
        deadline = time.monotonic() + 5
        while log.written < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.written == 1 and QUIET < MAX_WAIT
        log.close()
