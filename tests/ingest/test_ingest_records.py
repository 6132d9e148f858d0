"""ingest_records: what the daemon's `record` calls, per record, in insert and upsert mode."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ledger_files import snapshot
from predictor.errors import IngestError
from predictor.store.ingest import ingest_records

STARTED = dt.datetime(2026, 11, 21, 15, 30, 5)


def _deployment(**changes) -> dict:
    record = {"id": "dep-live-1", "service": "api", "version": "2.0.0", "environment": "production",
              "deployment_type": "canary", "started": STARTED, "completed": None, "status": "in-progress",
              "initiator": "ci", "metadata": {"change-size": 40, "strategy": "canary-10"}, "parent_id": None}
    record.update(changes)
    return record


def test_new_deployment_then_outcome_update(store):
    report = ingest_records(store, deployments=[_deployment()], mode="upsert")
    assert report.count("deployments", "inserted") == 1 and report.format == "record"
    row = store.con.execute("SELECT status, completed, change_size, strategy, metadata FROM deployments").fetchone()
    assert row[:4] == ("in-progress", None, 40, "canary-10")
    assert json.loads(row[4]) == {"change-size": 40, "strategy": "canary-10"}
    finished = STARTED + dt.timedelta(minutes=12)
    update = {"id": "dep-live-1", "service": "api", "environment": "production", "started": STARTED,
              "status": "failure", "completed": finished.replace(tzinfo=dt.timezone.utc).timestamp(),
              "failure_reasons": ["health check timeout"], "rollback_triggered": True}
    report = ingest_records(store, deployments=[update], mode="upsert")
    assert report.count("deployments", "updated") == 1
    row = store.con.execute("SELECT status, completed, duration_seconds, failure_reasons, rollback_triggered, version "
                            "FROM deployments").fetchone()
    assert row == ("failure", finished, 720.0, '["health check timeout"]', True, "2.0.0")
    sources = store.con.execute("SELECT path, format FROM sources").fetchall()
    assert sources == [("daemon:record", "record")]            # one source row for every live record


def test_insert_mode_refuses_a_changed_record(store):
    ingest_records(store, deployments=[_deployment()])
    before = snapshot(store)
    with pytest.raises(IngestError) as caught:
        ingest_records(store, deployments=[_deployment(status="success")])
    assert caught.value.field == "status" and caught.value.line == 1
    assert "already stored from daemon:record" in str(caught.value)
    assert snapshot(store) == before
    again = ingest_records(store, deployments=[_deployment()])
    assert again.count("deployments", "unchanged") == 1 and snapshot(store) == before


@pytest.mark.parametrize("changes, field", [
    ({"status": "exploded"}, "status"),
    ({"deployment_type": "yolo"}, "deployment_type"),
    ({"started": "yesterday"}, "started"),
    ({"started": 0}, "started"),
    ({"service": ""}, "service"),
    ({"completed": STARTED - dt.timedelta(hours=1)}, "completed"),
    ({"change_size": "lots"}, "change_size"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_records_name_the_field(store, changes, field):
    before = snapshot(store)
    with pytest.raises(IngestError) as caught:
        ingest_records(store, deployments=[_deployment(id="ok-1"), _deployment(**changes)], mode="upsert")
    assert caught.value.field == field and caught.value.line == 2, str(caught.value)
    assert snapshot(store) == before


def test_times_as_epoch_iso_and_aware_datetimes(store):
    zone = dt.timezone(dt.timedelta(hours=2))
    records = [_deployment(id="a", started=STARTED.replace(tzinfo=dt.timezone.utc).timestamp()),
               _deployment(id="b", started="2026-11-21T17:30:05+02:00"),
               _deployment(id="c", started=(STARTED + dt.timedelta(hours=2)).replace(tzinfo=zone)),
               _deployment(id="d", started="2026-11-21T15:30:05Z")]
    ingest_records(store, deployments=records)
    assert set(store.con.execute("SELECT started FROM deployments").fetchall()) == {(STARTED,)}


def test_rollbacks_and_services_with_dependencies(store):
    report = ingest_records(
        store,
        rollbacks=[{"id": "rb-1", "service": "api", "from_version": "2.0.0", "to_version": "1.9.0",
                    "reason": "errors", "started": STARTED, "completed": STARTED + dt.timedelta(minutes=3),
                    "deployment_id": "dep-live-1", "steps": ["drain", "switch"]}],
        services=[{"name": "api", "type": "microservice", "team": "core", "owners": ["ana"],
                   "dependencies": [{"depends_on": "db", "kind": "hard"}, {"depends_on": "cache", "kind": "optional"}]}],
        mode="upsert",
    )
    assert report.summary()["rollbacks"]["inserted"] == 1 and report.summary()["service_dependencies"]["inserted"] == 2
    assert store.con.execute("SELECT recovery_seconds, steps FROM rollbacks").fetchone() == (180.0, '["drain", "switch"]')
    report = ingest_records(store, services=[{"name": "api", "type": "microservice",
                                              "dependencies": [{"depends_on": "cache", "kind": "soft"}]}], mode="upsert")
    assert report.summary()["service_dependencies"] == {"inserted": 0, "updated": 1, "unchanged": 0, "skipped": 0}
    assert store.con.execute("SELECT kind FROM service_dependencies WHERE depends_on = 'cache'").fetchone() == ("soft",)
    with pytest.raises(IngestError) as caught:
        ingest_records(store, services=[{"name": "api", "type": "mainframe"}])
    assert caught.value.field == "type"


def test_outcome_update_may_carry_only_what_changed(store):
    ingest_records(store, deployments=[_deployment()], mode="upsert")
    finished = STARTED + dt.timedelta(minutes=3)
    report = ingest_records(store, deployments=[{"id": "dep-live-1", "status": "success", "completed": finished}],
                            mode="upsert")
    assert report.count("deployments", "updated") == 1
    assert store.con.execute("SELECT service, status, completed, duration_seconds, change_size FROM deployments"
                             ).fetchone() == ("api", "success", finished, 180.0, 40)
    with pytest.raises(IngestError) as caught:
        ingest_records(store, deployments=[{"id": "dep-live-1", "completed": STARTED - dt.timedelta(minutes=1)}],
                       mode="upsert")
    assert caught.value.field == "completed"
    with pytest.raises(IngestError) as caught:
        ingest_records(store, deployments=[{"id": "dep-unknown", "status": "success"}], mode="upsert")
    assert caught.value.field == "service"
