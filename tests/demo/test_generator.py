"""The demo history: deterministic, canonical record shapes, and the planted structure visible."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pytest

from predictor.demo import generate_history, planted_recovery_median, true_risk
from predictor.demo import planted as P
from predictor.demo.history import STATUS_NAMES
from predictor.errors import NotFoundError, ValidationError
from predictor.store import DEPENDENCY_KINDS, DEPLOYMENT_TYPES, FAILED_STATUSES, SERVICE_TYPES, STATUSES

DEPLOYMENT_KEYS = {
    "id", "service", "version", "environment", "deployment_type", "started", "completed", "status",
    "initiator", "metadata", "parent_id", "duration_seconds", "change_size", "configuration", "commit_time",
    "name", "strategy", "source_environment", "target_host", "resources", "failure_reasons",
    "rollback_triggered", "rollback_successful", "automated", "log_excerpt", "performance", "lessons_learned",
}
ROLLBACK_KEYS = {"id", "service", "from_version", "to_version", "reason", "started", "completed", "status",
                 "initiator", "impact", "deployment_id", "recovery_seconds", "steps"}
SERVICE_KEYS = {"name", "type", "description", "team", "owners", "repository", "documentation_url",
                "health_check", "tags", "active", "created", "updated", "dependencies"}


def failed_and_done(history):
    """Boolean arrays: the deployment failed; the deployment has an outcome (not cancelled)."""
    status = history.columns["status"]
    failed = np.isin(status, [STATUS_NAMES.index(s) for s in FAILED_STATUSES])
    return failed, status != STATUS_NAMES.index("cancelled")


def rate(failed, mask):
    """Failure rate among MASK, asserting the sample is large enough not to flake."""
    assert mask.sum() >= 1000, f"sample too small: {mask.sum()}"
    return failed[mask].mean()


# -- determinism and shapes ---------------------------------------------------------------------------

def test_same_seed_same_history_and_other_seed_differs():
    first = generate_history(seed=5, days=20)
    second = generate_history(seed=5, days=20)
    assert first.deployments == second.deployments
    assert first.rollbacks == second.rollbacks
    assert first.services == second.services
    assert first.true_failure_probability == second.true_failure_probability
    other = generate_history(seed=6, days=20)
    assert [d["started"] for d in other.deployments] != [d["started"] for d in first.deployments]


def test_records_have_the_canonical_shapes(small_history):
    history = small_history
    assert len(history.deployments) == len(history.true_failure_probability) == len(history)
    assert 0.8 * 120 * 40 < len(history) < 1.2 * 120 * 40
    ids = {d["id"] for d in history.deployments}
    assert len(ids) == len(history.deployments)
    by_id = {d["id"]: d for d in history.deployments}
    for record in history.deployments:
        assert set(record) == DEPLOYMENT_KEYS
        assert record["status"] in STATUSES and record["deployment_type"] in DEPLOYMENT_TYPES
        assert record["environment"] in ("dev", "staging", "production")
        assert isinstance(record["started"], dt.datetime) and record["started"].tzinfo is None
        assert record["completed"] - record["started"] == dt.timedelta(seconds=record["duration_seconds"])
        assert record["commit_time"] < record["started"]
        assert record["metadata"]["change-size"] == record["change_size"]
        assert record["metadata"]["configuration"] == record["configuration"]
        assert record["strategy"] == record["deployment_type"]
        assert record["automated"] == record["initiator"].endswith("-bot")
        assert record["rollback_triggered"] == (record["rollback_successful"] is not None)
        assert bool(record["failure_reasons"]) == (record["status"] in FAILED_STATUSES)
        if record["parent_id"] is not None:
            parent = by_id[record["parent_id"]]
            assert (parent["service"], parent["version"]) == (record["service"], record["version"])
            assert parent["started"] < record["started"]
            assert record["source_environment"] == parent["environment"]
    assert all(history.start <= d["started"] < history.end + dt.timedelta(days=1) for d in history.deployments)
    for rollback in history.rollbacks:
        assert set(rollback) == ROLLBACK_KEYS
        deployment = by_id[rollback["deployment_id"]]
        assert deployment["status"] in ("rolled-back", "failure") and deployment["rollback_triggered"]
        assert rollback["from_version"] == deployment["version"] != rollback["to_version"]
        assert rollback["started"] >= deployment["completed"]
        assert rollback["completed"] - rollback["started"] == dt.timedelta(seconds=rollback["recovery_seconds"])
        assert rollback["reason"] in deployment["failure_reasons"]
        assert rollback["status"] == ("success" if deployment["status"] == "rolled-back" else "failure")
    names = {s["name"] for s in history.services}
    for service in history.services:
        assert set(service) == SERVICE_KEYS
        assert service["type"] in SERVICE_TYPES
        for edge in service["dependencies"]:
            assert edge["depends_on"] in names and edge["kind"] in DEPENDENCY_KINDS


def test_statuses_and_overall_failure_rate_are_plausible():
    for seed in (0, 1, 2):
        history = generate_history(seed=seed)
        failed, done = failed_and_done(history)
        assert 0.10 <= failed[done].mean() <= 0.20, seed
        counts = {name: int((history.columns["status"] == i).sum()) for i, name in enumerate(STATUS_NAMES)}
        assert counts["rolled-back"] > 0 and counts["partial"] > 0
        assert 0 < counts["cancelled"] < 0.05 * len(history)


def test_dependency_graph_is_a_dag_with_hubs(large_history):
    history = large_history
    position = {s["name"]: i for i, s in enumerate(history.services)}
    for service in history.services:
        assert all(position[e["depends_on"]] < position[service["name"]] for e in service["dependencies"])
    assert history.hubs == ["auth", "config", "database-proxy"]
    for hub in history.hubs:
        dependents = history.dependents(hub)
        assert len(dependents) >= len(history.services) // 2, hub
    # auth's dependents include config at distance 1 and database-proxy at distance 2 (via config)
    assert history.dependents("auth")["config"] == 1
    assert history.dependents("auth")["database-proxy"] <= 2
    with pytest.raises(NotFoundError):
        history.dependents("no-such-service")


# -- the planted failure model --------------------------------------------------------------------------

def test_true_risk_reproduces_each_deployments_probability(large_history):
    history = large_history
    c = history.columns
    rng = np.random.default_rng(0)
    for i in rng.choice(len(history), 300, replace=False).tolist():
        record = history.deployments[i]
        expected = true_risk(
            history, record["service"], record["environment"], record["deployment_type"], record["started"],
            change_size=record["change_size"], concurrent=int(c["concurrent"][i]),
            major=bool(c["bump"][i] == 0), staging_failed=bool(c["staging_failed"][i]),
            configuration=record["configuration"],
        )
        assert expected == pytest.approx(history.true_failure_probability[i], abs=1e-12)


def test_true_risk_rejects_unknown_inputs(small_history):
    with pytest.raises(NotFoundError, match="nope"):
        true_risk(small_history, "nope", "production", "canary", dt.datetime(2026, 1, 6, 10))
    with pytest.raises(ValidationError, match="environment"):
        true_risk(small_history, "auth", "qa", "canary", dt.datetime(2026, 1, 6, 10))
    with pytest.raises(ValidationError, match="deployment_type"):
        true_risk(small_history, "auth", "production", "yolo", dt.datetime(2026, 1, 6, 10))


def test_true_risk_orders_the_planted_factors(small_history):
    h = small_history
    tuesday_10 = dt.datetime(2026, 1, 6, 10)
    friday_17 = dt.datetime(2026, 1, 9, 17)
    saturday_03 = dt.datetime(2026, 1, 10, 3)
    risk = lambda **kw: true_risk(h, **{"service": "payments", "environment": "production",  # noqa: E731
                                        "deployment_type": "rolling", "started": tuesday_10, **kw})
    assert risk(started=friday_17) > risk()
    assert risk(started=saturday_03) > risk()
    assert risk(deployment_type="big-bang") > risk() > risk(deployment_type="canary")
    assert risk(change_size=1000) > risk() > risk(change_size=10)
    assert risk(concurrent=3) > risk(concurrent=1) > risk()
    assert risk(major=True) > risk() and risk(staging_failed=True) > risk()
    assert risk(environment="production") > risk(environment="dev")
    # the services with more dependencies are riskier, all else equal
    bases = h.catalog.base_logit
    n_deps = [len(d) for d in h.catalog.dependencies]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    for name in ("orders", "search"):
        i = h.catalog.index[name]
        expected = P.DEPENDENCY_EFFECT * n_deps[i] + bases[i]
        j = h.catalog.index["payments"]
        got = logit(risk(service=name)) - logit(risk()) + P.DEPENDENCY_EFFECT * n_deps[j] + bases[j]
        assert got == pytest.approx(expected, abs=1e-9)


def test_realised_failures_follow_the_planted_probabilities(large_history):
    failed, done = failed_and_done(large_history)
    probability = np.asarray(large_history.true_failure_probability)
    assert abs(failed[done].mean() - probability[done].mean()) < 0.006
    # calibration by decile of the planted probability
    edges = np.quantile(probability[done], np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, probability[done], "right") - 1, 0, 9)
    for b in range(10):
        mask = bins == b
        assert abs(failed[done][mask].mean() - probability[done][mask].mean()) < 0.02


def test_planted_effects_are_visible_in_the_data(large_history):
    c = large_history.columns
    failed, done = failed_and_done(large_history)
    hour = (c["started"] // 3600) % 24
    weekday = (c["started"] // 86400 + 3) % 7
    friday_evening = done & (weekday == 4) & (hour >= 15) & (hour < 20)
    tuesday_morning = done & (weekday == 1) & (hour >= 9) & (hour < 12)
    assert rate(failed, friday_evening) > rate(failed, tuesday_morning) + 0.08
    # busy hours bring concurrency (its own effect): compare hours at equal concurrency
    calm = done & (c["concurrent"] == 0)
    assert rate(failed, calm & (hour < 6)) > rate(failed, calm & (hour >= 9) & (hour < 17)) + 0.05
    types = {t: done & (c["type"] == i) for i, t in enumerate(P.DEPLOYMENT_TYPES)}
    assert rate(failed, types["big-bang"]) > rate(failed, types["rolling"]) > rate(failed, types["canary"])
    assert rate(failed, types["blue-green"]) < rate(failed, types["rolling"])
    assert rate(failed, done & (c["change_size"] >= 400)) > rate(failed, done & (c["change_size"] <= 30)) + 0.1
    assert rate(failed, done & (c["bump"] == 0)) > rate(failed, done & (c["bump"] == 2)) + 0.05
    assert rate(failed, done & (c["concurrent"] >= 3)) > rate(failed, done & (c["concurrent"] == 0)) + 0.05
    production = done & (c["env"] == 2)
    assert rate(failed, production & c["staging_failed"]) > rate(failed, production & ~c["staging_failed"]) + 0.1
    assert rate(failed, done & c["best_template"]) < rate(failed, done & ~c["best_template"]) - 0.03


def test_volume_has_daily_and_weekly_seasonality(large_history):
    started = large_history.columns["started"]
    hour = (started // 3600) % 24
    weekday = (started // 86400 + 3) % 7
    days_per_weekday = np.bincount(np.arange(120) % 7, minlength=7)  # the history starts on a Monday
    per_weekday = np.bincount(weekday, minlength=7) / days_per_weekday
    assert per_weekday[:5].min() > 3 * per_weekday[5:].max()
    per_hour = np.bincount(hour, minlength=24)
    assert per_hour[9:17].min() > 3 * per_hour[0:5].max()
    # the planted growth: the last four weeks are busier than the first four by about 30% x 92/119
    week = (started - started.min()) // (7 * 86400)
    per_week = np.bincount(week)
    assert 1.15 < per_week[-5:-1].sum() / per_week[:4].sum() < 1.35


# -- releases: environments and versions ---------------------------------------------------------------

def test_staging_usually_shortly_precedes_production(large_history):
    staging_start = {}
    for d in large_history.deployments:
        if d["environment"] == "staging":
            staging_start[(d["service"], d["version"])] = d["started"]
    production = [d for d in large_history.deployments if d["environment"] == "production"]
    preceded = [d for d in production if (d["service"], d["version"]) in staging_start]
    assert len(preceded) >= 0.8 * len(production)
    gaps = np.array([(d["started"] - staging_start[(d["service"], d["version"])]).total_seconds() for d in preceded])
    assert (gaps > 0).all()
    assert 1.5 * 3600 < np.median(gaps) < 4 * 3600


def test_versions_increase_with_major_minor_patch_bumps(large_history):
    by_service = defaultdict(list)
    for d in large_history.deployments:
        if d["environment"] == "production":
            by_service[d["service"]].append(d)
    kinds = defaultdict(int)
    for deployments in by_service.values():
        versions = [tuple(int(x) for x in d["version"].split(".")) for d in deployments]
        assert versions == sorted(versions)
        for old, new in zip(versions, versions[1:]):
            kind = "major" if new[0] > old[0] else "minor" if new[1] > old[1] else "patch"
            kinds[kind] += 1
    assert kinds["patch"] > kinds["minor"] > kinds["major"] > 100


# -- configurations and adaptations ----------------------------------------------------------------------

def test_best_configuration_succeeds_more_often_in_each_environment(large_history):
    records = large_history.deployments
    for environment in ("staging", "production"):
        groups = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for d in records:
            if d["environment"] != environment or d["status"] == "cancelled":
                continue
            template = (d["configuration"]["replicas"], d["configuration"]["health_check_grace"])
            counts = groups[tuple(d["resources"])][template]
            counts[0] += d["status"] == "success"
            counts[1] += 1
        resources, templates = max(groups.items(), key=lambda item: sum(n for _, n in item[1].values()))
        best = large_history.best_configuration(environment, resources)
        success = {t: s / n for t, (s, n) in templates.items()}
        assert max(success, key=success.get) == (best["replicas"], best["health_check_grace"])


def test_production_applies_the_planted_adaptations(large_history):
    staging = {}
    for d in large_history.deployments:
        if d["environment"] == "staging":
            staging[(d["service"], d["version"])] = d["configuration"]
    pairs = [(staging[(d["service"], d["version"])], d["configuration"]) for d in large_history.deployments
             if d["environment"] == "production" and d["status"] == "success"
             and (d["service"], d["version"]) in staging]
    assert len(pairs) > 10000
    for key, before, after in P.ADAPTATIONS:
        adapted = sum(s[key] == before and p[key] == after for s, p in pairs) / len(pairs)
        assert adapted > 0.7, key
    assert large_history.best_configuration("production", ["project"])["ssl_verify"] is True
    assert large_history.best_configuration("staging", ["project"])["timeout_seconds"] == 30


# -- rollbacks ------------------------------------------------------------------------------------------

def test_rollback_recovery_medians_match_the_planted_ones(large_history):
    recovery = defaultdict(list)
    for rollback, cause in zip(large_history.rollbacks, large_history.rollback_causes):
        deployment = large_history.deployments[int(rollback["deployment_id"].split("-")[1]) - 1]
        assert deployment["id"] == rollback["deployment_id"]
        assert P.REASON_CAUSE[rollback["reason"]] == cause
        recovery[(cause, deployment["environment"])].append(rollback["recovery_seconds"])
    checked = 0
    for (cause, environment), values in recovery.items():
        if len(values) >= 300:
            assert np.median(values) == pytest.approx(planted_recovery_median(cause, environment), rel=0.1)
            checked += 1
    assert checked >= 12
    production = {cause: np.median(v) for (cause, env), v in recovery.items() if env == "production"}
    assert max(production, key=production.get) == "database-migration"
    assert large_history.rollbacks and len(large_history.rollbacks) > 0.05 * len(large_history)
