"""Rollback scenarios: grouped reasons, conditions, steps, and recovery times measured from the data."""

from __future__ import annotations

import pytest

from patterns_planted import PLANTED_RECOVERY, rollback_history
from predictor.patterns.executions import History
from predictor.patterns.rollback_scenarios import ScenarioQuery, normalise_reason, rollback_scenarios


def _scenarios(**query):
    deployments, rollbacks = rollback_history()
    return rollback_scenarios(History.from_records(deployments, rollbacks), ScenarioQuery(**query))


def test_recovery_medians_match_the_planted_ones_within_ten_percent():
    result = _scenarios(environment="production")
    by_pattern = {s["failure_pattern"]: s for s in result["scenarios"]}
    assert set(by_pattern) == {"database migration failed on db- after (job)", "health check timed out after on host",
                               "error rate above threshold: (deploy)"}
    for kind, (median, _) in PLANTED_RECOVERY.items():
        scenario = next(s for p, s in by_pattern.items() if p.startswith(kind))
        assert scenario["count"] == 41
        assert scenario["recovery_measured"] == 41
        assert scenario["recovery_seconds_median"] == pytest.approx(median, rel=0.10)
        assert scenario["recovery_seconds_p90"] > scenario["recovery_seconds_median"]


def test_success_rate_steps_conditions_and_last_seen():
    by_pattern = {s["failure_pattern"]: s for s in _scenarios(environment="production")["scenarios"]}
    database = by_pattern["database migration failed on db- after (job)"]
    assert database["steps"] == ["restore database snapshot", "redeploy previous version"]
    assert database["success_rate"] == 1.0
    assert "deploying database in 41 of 41" in database["trigger_conditions"]
    assert "strategy rolling in 41 of 41" in database["trigger_conditions"]
    assert "initiated automatically in 41 of 41" in database["trigger_conditions"]
    health = by_pattern["health check timed out after on host"]
    assert health["success_rate"] == pytest.approx(32 / 41)  # every fifth failed: i = 0, 5, ..., 40
    assert health["steps"] == []
    assert health["last_seen"] > database["last_seen"] - 86400 * 2


def test_filters_on_environment_and_resources():
    everything = _scenarios()
    assert everything["rollbacks"] == 124
    assert "staging only problem" in [s["failure_pattern"] for s in everything["scenarios"]]
    database = _scenarios(environment="production", resources=["database"])
    assert [s["count"] for s in database["scenarios"]] == [41]
    nothing = _scenarios(environment="qa")
    assert nothing["scenarios"] == [] and nothing["note"] == "no rollback matches these filters"


@pytest.mark.parametrize("text, expected", [
    ("Timeout after 30s on db-7 (deploy 3f2a9c1b7e)", "timeout after on db- (deploy)"),
    ("smoke test regression: p99 latency doubled", "smoke test regression: p99 latency doubled"),
    ("v1.2.3 failed: 500ms over budget", "failed: over budget"),
    ("Job 123e4567-e89b-12d3-a456-426614174000 crashed", "job crashed"),
    ("", "unspecified"),
    (None, "unspecified"),
])
def test_reason_normalisation(text, expected):
    assert normalise_reason(text) == expected
