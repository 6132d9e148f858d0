"""The fast serving path answers exactly what the straightforward path answers.

The reference below is the plain composition the fast path replaced: point-in-time features as
a dict (time zone converted per call), the one-hot row, every split compared, attribution by
fancy indexing, factors described with every template field computed, and the similar
deployments found by an exact distance to every row of the window (``nearest_scan``). The
daemon's ``predict`` handler must give the same map, key for key; numbers agree to the last few
bits (the compiled kernel sums leaf values and distances in another order than numpy, so a sum
may differ in its last bit, and a value rounded for the wire by one unit of its last place).
"""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pytest

from conftest import make_store
from predictor.features import CATEGORICAL_FEATURES, FeatureConfig
from predictor.features.records import epoch_us
from predictor.features.serving import FeatureState
from predictor.models.answers import DESCRIPTIONS, WEEKDAYS, risk_level, validate_deployment
from predictor.models.failure_model import NeighbourPool
from predictor.models.runtime import load_answerer
from predictor.models.train import train_and_register


def reference_description(feature, value, contribution) -> str:
    """describe_factor as first written: every template field computed for every feature."""
    template = DESCRIPTIONS.get(feature, feature + " = {value}")
    numeric = value if isinstance(value, (int, float)) else 0.0
    if numeric < 0 and feature not in CATEGORICAL_FEATURES and feature != "previous_outcome":
        text = f"{feature.replace('_', ' ')} unknown"
    else:
        text = template.format(
            value=value, weekday=WEEKDAYS[int(numeric) % 7], percent=f"{numeric:.0%}",
            previous={-1.0: "is unknown", 0.0: "succeeded", 1.0: "failed"}.get(numeric, "is unknown"),
            maybe="" if numeric else "never ")
    return f"{text[0].upper()}{text[1:]} {'raises' if contribution > 0 else 'lowers'} the risk"


def reference_calibrate(packed, raw: float) -> float:
    """calibrate_one as first written: np.interp on the isotonic points, or Platt's sigmoid."""
    if packed.calibration_kind == 1:
        z = packed.slope * raw + packed.intercept
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    uncalibrated = 1.0 / (1.0 + math.exp(-raw)) if raw > -700 else 0.0
    return float(np.interp(uncalibrated, packed.calibration_x, packed.calibration_y))


def reference_explain(packed, x):
    """Walk every tree with all splits compared at once; attribution by fancy indexing."""
    goes_right = x[packed.feature2] > packed.threshold2
    node2 = packed.roots2
    for _ in range(packed.depth):
        node2 = packed.children2[node2 + goes_right[node2]]
    raw = packed.baseline + float(packed.value2[node2].sum())
    contributions = packed.path_contribution[node2 >> 1].sum(axis=0)
    return reference_calibrate(packed, raw), contributions


def same_answer(got, expected, path: str = "answer") -> None:
    """Assert GOT equals EXPECTED: same keys in the same order, same strings and flags, floats
    within 1e-12 relative (1e-6 absolute for the values rounded for the wire)."""
    assert type(got) is type(expected), (path, got, expected)
    if isinstance(expected, dict):
        assert list(got) == list(expected), path
        for key in expected:
            same_answer(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for i, (mine, theirs) in enumerate(zip(got, expected)):
            same_answer(mine, theirs, f"{path}[{i}]")
    elif isinstance(expected, float):
        rounded = path.endswith((".contribution", ".similarity", ".base_rate"))
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1.0001e-6 if rounded else 1e-15), (path, got, expected)
    else:
        assert got == expected, (path, got, expected)


def reference_answer(predictor, params: dict) -> dict:
    """The straightforward answer to one ``predict`` request."""
    record = validate_deployment(params.get("deployment"), "params.deployment")
    explain = params.get("explain", True) is not False
    model, state = predictor.model, predictor.state
    features = state.features(record)
    local = record["started"].replace(tzinfo=dt.timezone.utc).astimezone(state.zone)
    assert (features["hour"], features["day_of_week"]) == (float(local.hour), float(local.weekday()))
    row = model.encoder.vector(features)
    history = int(features["past_outcomes"])
    started_us = epoch_us(record["started"])
    base = {"deployment_id": record.get("id"), "base_rate": round(model.base_rate, 6),
            "model_version": predictor.version}
    if history < predictor.min_history:
        similar = model.neighbours.nearest_scan(row, record["service"], started_us, 3) if explain else []
        return {**base, "failure_probability": round(model.base_rate, 6), "risk_level": risk_level(model.base_rate),
                "abstained": True,
                "reason": f"insufficient history: {history} past deployments of {record['service']} "
                          f"(need {predictor.min_history})",
                "factors": [], "similar_deployments": similar}
    probability, contributions = reference_explain(model.packed, row)
    if not explain:
        return {**base, "failure_probability": probability, "risk_level": risk_level(probability),
                "abstained": False, "factors": [], "similar_deployments": []}
    factors = []
    for i in np.argsort(-np.abs(contributions), kind="stable")[:5]:
        if contributions[i] == 0:
            continue
        name = model.encoder.groups[int(i)]
        factors.append({"feature": name, "value": features[name], "contribution": round(float(contributions[i]), 6),
                        "description": reference_description(name, features[name], float(contributions[i]))})
    return {**base, "failure_probability": probability, "risk_level": risk_level(probability), "abstained": False,
            "factors": factors,
            "similar_deployments": model.neighbours.nearest_scan(row, record["service"], started_us, 3)}


def _served(tmp_path_factory, timezone: str):
    """A model trained with TIMEZONE on a 6k-deployment history, and its answerer."""
    directory = tmp_path_factory.mktemp("speed")
    store, history = make_store(directory / "history.duckdb", n_deployments=6_000, services=12, days=60, seed=11)
    train_and_register(store, evaluate_first=False, plots=False, promote="always",
                       config=FeatureConfig(timezone=timezone), artifacts_root=directory / "models")
    answerer = load_answerer(store)
    deployments = history["deployments"].to_pylist()
    store.close()
    return answerer, deployments


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A DST-observing time zone: the Python wall-time path, the batch through feature maps."""
    return _served(tmp_path_factory, "Europe/Berlin")


@pytest.fixture(scope="module")
def served_utc(tmp_path_factory):
    """UTC: the compiled wall time, and the batch rows written without feature maps."""
    return _served(tmp_path_factory, "UTC")


def random_deployment(rng: random.Random, deployments: list[dict], i: int) -> dict:
    """A wire-shaped deployment: mostly like stored ones, at stored or random times, some odd."""
    like = rng.choice(deployments)
    started = like["started"].replace(tzinfo=dt.timezone.utc).timestamp()
    started = rng.choice([started, started + rng.uniform(-3 * 86400, 3 * 86400), started + 0.000001,
                          deployments[-1]["started"].replace(tzinfo=dt.timezone.utc).timestamp() + rng.uniform(0, 9e5)])
    deployment = {
        "id": rng.choice([None, like["id"], f"probe-{i}"]),
        "service": rng.choice([like["service"]] * 6 + ["brand-new-service"]),
        "environment": rng.choice([like["environment"]] * 4 + ["production", "qa"]),
        "deployment_type": rng.choice([like["deployment_type"], None, "blue-green", "experimental"]),
        "version": rng.choice([like["version"], None, "9.9.9", "not-a-version"]),
        "started": rng.choice([started, int(started)]),
    }
    if rng.random() < 0.5:
        deployment["change_size"] = rng.choice([0, 3, 120, 4500.5])
    if rng.random() < 0.5:
        deployment["metadata"] = rng.choice([{}, {"lines_changed": rng.randint(1, 900)}, {"change-size": "17"}])
    if rng.random() < 0.5:
        deployment["configuration"] = rng.choice([{}, {"replicas": rng.randint(1, 9)}, {"replicas": "x", "a": 1}])
    return deployment


@pytest.mark.parametrize("zone", ["served", "served_utc"])
def test_predict_handler_equals_the_straightforward_answer(zone, request):
    answerer, deployments = request.getfixturevalue(zone)
    predict = answerer.methods["predict"]
    rng = random.Random(5)
    kinds = {"abstained": 0, "explained": 0, "unexplained": 0}
    for i in range(600):
        params = {"deployment": random_deployment(rng, deployments, i)}
        if i % 7 == 0:
            params["explain"] = False
        expected = reference_answer(answerer.predictor, params)
        got = predict(params)
        same_answer(got, expected, f"answer to {params}")
        kinds["abstained" if got["abstained"] else "explained" if got["factors"] else "unexplained"] += 1
    assert min(kinds.values()) >= 20, kinds  # every branch was exercised


@pytest.mark.parametrize("zone", ["served", "served_utc"])
@pytest.mark.parametrize("explain", [False, True])
def test_predict_batch_equals_the_straightforward_answers_in_order(zone, explain, request):
    """predict_batch (explain=false walks all rows' trees at once; in UTC it writes the rows
    without building feature maps) answers each deployment as the straightforward single
    answer does, in the order given, abstentions included."""
    answerer, deployments = request.getfixturevalue(zone)
    rng = random.Random(21 if explain else 17)
    seen_abstained = seen_answered = 0
    for size in (1, 7, 100, 250):
        items = [random_deployment(rng, deployments, i) for i in range(size)]
        got = answerer.methods["predict_batch"]({"deployments": items, "explain": explain})["predictions"]
        assert len(got) == size
        for item, answer in zip(items, got):
            same_answer(answer, reference_answer(answerer.predictor, {"deployment": item, "explain": explain}))
            seen_abstained += answer["abstained"]
            seen_answered += not answer["abstained"]
    assert seen_abstained >= 5 and seen_answered >= 100, (seen_abstained, seen_answered)


@pytest.mark.parametrize("zone", ["served", "served_utc"])
def test_a_batch_of_plain_maps_is_read_as_it_came(zone, request, monkeypatch):
    """explain=false on maps that are all surely valid: the wire maps go to the batch as they
    are (epoch seconds, no copies, validate_deployment not called) and the answers are still
    the straightforward ones."""
    from predictor.models import runtime

    answerer, deployments = request.getfixturevalue(zone)
    rng = random.Random(23)
    items = []
    while len(items) < 150:
        item = random_deployment(rng, deployments, len(items))
        if item["deployment_type"] != "experimental":  # a type the checks refuse: not plain
            items.append(item)
    kept = [dict(item) for item in items]
    validated = []
    monkeypatch.setattr(runtime, "validate_deployment", lambda *a: validated.append(a) or validate_deployment(*a))
    got = answerer.methods["predict_batch"]({"deployments": items, "explain": False})["predictions"]
    assert not validated  # the fast path served
    assert items == kept  # and left the request's maps as they were
    for item, answer in zip(items, got):
        same_answer(answer, reference_answer(answerer.predictor, {"deployment": item, "explain": False}))
    assert sum(answer["abstained"] for answer in got) < len(got)


def test_answers_stay_equal_after_observed_outcomes(served):
    answerer, deployments = served
    rng = random.Random(9)
    latest = deployments[-1]["started"].replace(tzinfo=dt.timezone.utc).timestamp()
    for i in range(40):  # new finished deployments join the state and the similar-deployments pool
        like = rng.choice(deployments)
        started = latest + 600 * (i + 1) + rng.choice([0, -1e5])  # some out of start order
        answerer.observe("deployment", {
            "id": f"observed-{i}", "service": like["service"], "environment": like["environment"],
            "deployment_type": like["deployment_type"], "version": like["version"], "started": started,
            "completed": started + 300, "status": rng.choice(["success", "failure"])})
        params = {"deployment": {**random_deployment(rng, deployments, i), "started": started + 1}}
        same_answer(answerer.methods["predict"](params), reference_answer(answerer.predictor, params))


def test_nearest_equals_a_full_scan_with_ties_and_duplicates():
    rng = np.random.default_rng(3)
    n, columns = 3000, 12
    matrix = rng.integers(0, 3, size=(n, columns)).astype(float)  # many exact duplicates and ties
    matrix[::5] *= 1e3  # large norms next to small ones
    services = [f"s{i}" for i in rng.integers(0, 4, n)]
    pool = NeighbourPool(matrix, np.ones(columns), [f"d{i}" for i in range(n)], services, ["prod"] * n,
                         ["rolling"] * n, rng.integers(0, 10**6, n).astype(np.int64), np.zeros(n, np.int64),
                         [None] * n, ["success"] * n)
    for step in range(400):
        if step % 50 == 49:  # incremental additions, in start order and not
            pool.add(rng.integers(0, 3, columns).astype(float), f"added-{step}", "s1", "prod", "rolling",
                     int(rng.choice([2 * 10**6, 10])), 0)
        query = rng.integers(0, 3, columns).astype(float) * rng.choice([1.0, 1e3])
        service = rng.choice(["s0", "s1", "s2", "s3", "unknown"])
        before, k = int(rng.integers(0, 3 * 10**6)), int(rng.integers(1, 6))
        for window in (1000, 40):
            assert (pool.nearest(query, service, before, k, max_candidates=window)
                    == pool.nearest_scan(query, service, before, k, max_candidates=window))


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns"])
def test_local_time_cache_matches_zoneinfo(zone):
    state = FeatureState(FeatureConfig(timezone=zone))
    rng = random.Random(1)
    moments = [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=rng.uniform(0, 4.1e9)) for _ in range(20_000)]
    # around every offset change of 2026, minute by minute
    moments += [dt.datetime(2026, 1, 1) + dt.timedelta(minutes=m) for m in range(0, 366 * 24 * 60, 7)]
    for moment in moments:
        expected = moment.replace(tzinfo=dt.timezone.utc).astimezone(state.zone).replace(tzinfo=None)
        assert state.local_time(moment, epoch_us(moment)) == expected, moment


def test_isotonic_calibration_equals_np_interp(served):
    """calibrate_one's bisect interpolation gives np.interp's value at the map's own points,
    between them, at and beyond both ends, for raw scores over the whole range; a map whose
    points do not strictly increase keeps np.interp itself."""
    from predictor.models.packed import PackedEnsemble

    arrays = dict(served[0].predictor.model.packed.arrays)
    scalars = np.asarray(arrays["scalars"], dtype=np.float64).copy()
    scalars[3] = 0  # isotonic
    rng = random.Random(3)
    xs = np.sort(np.asarray(rng.sample(range(1, 1000), 40), dtype=np.float64) / 1000)
    ys = np.sort(np.asarray([rng.random() for _ in xs]))
    for points in ((xs, ys), (np.array([0.1, 0.2, 0.2, 0.7]), np.array([0.0, 0.3, 0.5, 0.9]))):
        packed = PackedEnsemble({**arrays, "scalars": scalars, "calibration_x": points[0], "calibration_y": points[1]})
        assert (packed._interp_points is None) == bool(np.any(np.diff(points[0]) <= 0))
        px = points[0]
        probabilities = [*px.tolist(), *((px[:-1] + px[1:]) / 2).tolist(), px[0] / 2, (1 + px[-1]) / 2]
        raws = [math.log(p / (1 - p)) for p in probabilities]
        raws += [rng.uniform(-12, 12) for _ in range(2000)] + [-800.0, 800.0]
        for raw in raws:
            got, expected = packed.calibrate_one(raw), reference_calibrate(packed, raw)
            assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-15), (raw, got, expected)
