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


def test_the_compiled_predict_path_sees_observed_facts_at_once(served_utc):
    """Recorded deployments, outcomes and services change the next compiled answer exactly as
    they change the Python path's (it reads the live state, nothing cached apart)."""
    from predictor.protocol import encode, request

    answerer, deployments = served_utc
    rng = random.Random(19)
    latest = deployments[-1]["started"].replace(tzinfo=dt.timezone.utc).timestamp()
    service = deployments[-1]["service"]
    answered = 0
    for i in range(30):
        like = rng.choice(deployments)
        started = latest + 900 * (i + 1)
        if i % 10 == 9:
            answerer.observe("service", {"name": service, "type": "microservice",
                                         "dependencies": [{"depends_on": like["service"], "kind": "runtime"}]})
        answerer.observe("deployment", {
            "id": f"wire-observed-{i}", "service": service if i % 2 else like["service"],
            "environment": like["environment"], "deployment_type": like["deployment_type"],
            "version": like["version"], "started": started, "completed": started + 300,
            "status": rng.choice(["success", "failure", "rolled-back"])})
        deployment = {"service": service, "environment": like["environment"], "version": like["version"],
                      "deployment_type": like["deployment_type"], "started": started + 1}
        payload = encode(request("predict", {"deployment": deployment}, id=f"obs-{i}"))
        got = answerer.wire.answer(payload, 0.0)
        assert got is not None
        assert got[1] == python_reply(answerer, payload)
        answered += 1
    assert answered == 30


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


# -- the compiled whole-request path (WirePredict) ---------------------------------------------

def python_reply(answerer, payload: bytes) -> bytes:
    """The reply payload the daemon's Python path sends for PAYLOAD (a valid predict request)."""
    from predictor.daemon.shapes import check_params
    from predictor.protocol import decode_request, encode

    request = decode_request(payload)
    check_params(request.method, request.params)
    return encode({"protocol": 1, "id": request.id, "ok": True, "result": answerer.methods[request.method](request.params)})


def sure(answerer, deployment: dict) -> bool:
    """Whether the compiled path must answer DEPLOYMENT itself: a type the checks know, and
    enough history (no abstention)."""
    if deployment.get("deployment_type") == "experimental":
        return False
    record = validate_deployment(deployment, "params.deployment")
    return answerer.predictor.state.features(record)["past_outcomes"] >= answerer.predictor.min_history


def test_the_compiled_predict_path_sends_the_python_reply_bytes(served_utc):
    """Payload in, reply payload out: byte for byte the reply of the Python path, for every
    request it takes; and it takes every plain request (else the daemon would gain nothing)."""
    from predictor.protocol import encode, request

    answerer, deployments = served_utc
    wire = answerer.wire
    assert wire is not None
    rng = random.Random(31)
    answered = declined = 0
    for i in range(800):
        deployment = random_deployment(rng, deployments, i)
        if i % 2:
            deployment = {key: value for key, value in deployment.items() if key not in ("metadata", "configuration")}
        if i % 3 == 0:  # what the ledger sends besides: its resources, its flags, a nil parent
            deployment.update(resources=["cpu", "memory"], automated=True, parent_id=None, status="in-progress")
        params = {"deployment": deployment}
        if i % 5 == 0:
            params["explain"] = bool(i % 10)
        request_id = f"wire-{i}-é" * rng.choice([1, 9])  # a str8 and a non-ASCII id
        payload = encode(request("predict", params, id=request_id, deadline_ms=rng.choice([None, 2000, 0x7fff])))
        got = wire.answer(payload, 1.5)
        if got is None:
            assert not sure(answerer, deployment), deployment
            declined += 1
            continue
        assert got == (request_id, python_reply(answerer, payload), "predict")
        answered += 1
    assert answered >= 400 and declined >= 100, (answered, declined)


def test_the_compiled_batch_sends_the_python_reply_bytes(served_utc):
    """predict_batch, with and without factors: the same bytes as the Python batch, for every
    batch whose deployments are all plain and answered (no abstention); any other batch is
    left to Python."""
    from predictor.protocol import encode, request

    answerer, deployments = served_utc
    rng = random.Random(37)
    answered = declined = explained = 0
    for round_ in range(36):
        size = rng.choice([1, 2, 7, 8, 9, 100, 250])
        items = [random_deployment(rng, deployments, i) for i in range(size)]
        if round_ % 2:
            items = [item for item in items if sure(answerer, item)][:size] or items[:1]
        params = {"deployments": items, "explain": False} if round_ % 3 else {"deployments": items[:20]}
        if round_ % 6 == 3:
            params["explain"] = True
        payload = encode(request("predict_batch", params, id=f"batch-{round_}"))
        got = answerer.wire.answer(payload, 0.0)
        if got is None:
            assert not all(sure(answerer, item) for item in params["deployments"])
            declined += 1
            continue
        assert got == (f"batch-{round_}", python_reply(answerer, payload), "predict_batch")
        explained += "explain" not in params or params["explain"]
        answered += 1
    assert answered >= 12 and declined >= 8 and explained >= 4, (answered, declined, explained)
    good = [item for item in (random_deployment(rng, deployments, i) for i in range(400)) if sure(answerer, item)]
    assert len(good) > 100

    def batch(**params):
        return encode(request("predict_batch", params, id="b"))

    for name, payload in {
        "explain nil": batch(deployments=good[:3], explain=None),
        "no deployments": batch(deployments=[], explain=False),
        "1001 deployments": batch(deployments=(good * 11)[:1001], explain=False),
        "deployments not an array": batch(deployments=good[0], explain=False),
        "a deployment as well": batch(deployments=good[:2], deployment=good[0], explain=False),
        "one that abstains": batch(deployments=[*good[:5], {**good[0], "service": "never-seen"}], explain=False),
        "one that abstains, explained": batch(deployments=[*good[:5], {**good[0], "service": "never-seen"}]),
        "one without its start": batch(deployments=[*good[:5], {k: v for k, v in good[0].items() if k != "started"}],
                                       explain=False),
        "one the checks refuse": batch(deployments=[*good[:5], {**good[0], "deployment_type": "yolo"}], explain=False),
    }.items():
        assert answerer.wire.answer(payload, 0.0) is None, name
    payload = batch(deployments=(good * 10)[:1000], explain=False)
    assert answerer.wire.answer(payload, 0.0)[1] == python_reply(answerer, payload)


def test_the_compiled_path_takes_no_payload_the_protocol_refuses_for_its_size(served_utc):
    from predictor.models import _kernel
    from predictor.protocol import MAX_MESSAGE_BYTES

    assert _kernel.WIRE_MAX_PAYLOAD == MAX_MESSAGE_BYTES


def test_the_compiled_predict_path_reads_the_other_msgpack_forms(served_utc):
    """Ints, str and maps in their longer forms (which the decoder accepts) read the same."""
    from predictor.protocol import encode, request

    answerer, deployments = served_utc
    deployment = {"service": deployments[-1]["service"], "environment": deployments[-1]["environment"],
                  "started": deployments[-1]["started"].replace(tzinfo=dt.timezone.utc).timestamp() + 60,
                  "change_size": 12}
    payload = encode(request("predict", {"deployment": deployment}, id="forms"))
    expected = python_reply(answerer, payload)
    assert answerer.wire.answer(payload, 0.0) == ("forms", expected, "predict")
    variants = [payload.replace(b"\xa8protocol\x01", b"\xa8protocol\xcc\x01"),
                payload.replace(b"\xa8protocol\x01", b"\xa8protocol\xd3" + (1).to_bytes(8, "big")),
                payload.replace(b"\xa2id", b"\xd9\x02id"),
                payload.replace(b"\xa2id", b"\xda\x00\x02id"),
                payload.replace(b"\xabchange_size\x0c", b"\xabchange_size\xcd\x00\x0c"),
                b"\xde\x00\x04" + payload[1:]]
    for variant in variants:
        assert variant != payload
        assert python_reply(answerer, variant) == expected
        assert answerer.wire.answer(variant, 0.0) == ("forms", expected, "predict"), variant


def test_the_compiled_predict_path_leaves_every_doubtful_request_to_python(served_utc):
    """None (the Python path answers, or words the error) for everything but a plain request:
    a mistake here would answer a request the daemon must refuse."""
    from predictor.protocol import encode, request

    answerer, deployments = served_utc
    wire = answerer.wire
    good = {"service": deployments[-1]["service"], "environment": deployments[-1]["environment"],
            "started": deployments[-1]["started"].replace(tzinfo=dt.timezone.utc).timestamp() + 60}
    payload = encode(request("predict", {"deployment": good}, id="x", deadline_ms=5))
    assert wire.answer(payload, 0.0) is not None

    def envelope(**changes):
        message = {"protocol": 1, "id": "x", "method": "predict", "params": {"deployment": good}}
        message.update(changes)
        return encode({key: value for key, value in message.items() if value is not ...})

    doubtful = {
        "other method": envelope(method="ping", params={}),
        "protocol 2": envelope(protocol=2),
        "an unknown envelope key": envelope(extra=1),
        "no id": envelope(id=...),
        "an empty id": envelope(id=""),
        "an id of 129 chars": envelope(id="i" * 129),
        "an id that is not a str": envelope(id=7),
        "no params": envelope(params=...),
        "a negative deadline": envelope(deadline_ms=-1),
        "a deadline beyond a day": envelope(deadline_ms=86_400_001),
        "a deadline that is a float": envelope(deadline_ms=5.0),
        "explain nil": envelope(params={"deployment": good, "explain": None}),
        "explain 0": envelope(params={"deployment": good, "explain": 0}),
        "an extra params key": envelope(params={"deployment": good, "k": 3}),
        "no deployment": envelope(params={}),
        "a deployment list": envelope(params={"deployment": [good]}),
        "lessons learned (checked by Python)": envelope(params={"deployment": {**good, "lessons_learned": ["a"]}}),
        "resources that are not all str": envelope(params={"deployment": {**good, "resources": ["a", 1]}}),
        "a metadata key twice": envelope(params={"deployment": {**good, "metadata": {"a": 1, "b": 2}}}).replace(
            b"\x82\xa1a\x01\xa1b\x02", b"\x82\xa1a\x01\xa1a\x02"),
        "a metadata key that is not a str": envelope(params={"deployment": {**good, "metadata": {"a": 1}}}).replace(
            b"\x81\xa1a\x01", b"\x81\x07\x01"),
        "metadata nested too deep": envelope(params={"deployment": {**good, "metadata": {"a": [[[[[[[[[1]]]]]]]]]}}}),
        "no start": envelope(params={"deployment": {key: good[key] for key in ("service", "environment")}}),
        "a nil start": envelope(params={"deployment": {**good, "started": None}}),
        "a start in 2200": envelope(params={"deployment": {**good, "started": 7.3e9}}),
        "a blank service": envelope(params={"deployment": {**good, "service": "  "}}),
        "a bool change size": envelope(params={"deployment": {**good, "change_size": True}}),
        "an unknown type": envelope(params={"deployment": {**good, "deployment_type": "yolo"}}),
        "a service with no history": envelope(params={"deployment": {**good, "service": "never-seen"}}),
        "trailing bytes": payload + b"\xc0",
        "a duplicate id key": payload.replace(b"\xa2id\xa1x", b"\xa2id\xa1x\xa2id\xa1y").replace(b"\x85", b"\x86", 1),
        "a float32 start": encode(request("predict", {"deployment": {**good, "started": 1.5}}, id="x")).replace(
            b"\xa7started\xcb" + np.float64(1.5).byteswap().tobytes(), b"\xa7started\xca" + np.float32(1.5).byteswap().tobytes()),
        "a service that is not UTF-8": payload.replace(good["service"].encode(), b"\xff" * len(good["service"])),
    }
    for name, message in doubtful.items():
        assert message != payload, name
        assert wire.answer(message, 0.0) is None, name
    assert wire.answer(payload, 5.0) is None  # its deadline passed while it waited
    for end in range(len(payload)):  # every truncation
        assert wire.answer(payload[:end], 0.0) is None


def test_mutated_requests_get_the_python_reply_or_none(served_utc):
    """Random byte changes to valid requests: whatever the compiled path answers is what the
    Python path answers (it must never accept what Python refuses)."""
    from predictor.errors import PredictorError
    from predictor.protocol import ProtocolError, encode, request

    answerer, deployments = served_utc
    rng = random.Random(41)
    answered = 0
    for i in range(3000):
        deployment = random_deployment(rng, deployments, i)
        if i % 3 == 0:
            deployment["resources"] = ["cpu", "memory"][: i % 4]
        payload = bytearray(encode(request("predict", {"deployment": deployment}, id=f"m{i}", deadline_ms=900)))
        for _ in range(rng.choice([1, 1, 2, 3])):
            payload[rng.randrange(len(payload))] = rng.choice([0x00, 0x01, 0x7f, 0x80, 0xa0, 0xc0, 0xc2, 0xc3, 0xcb,
                                                               0xd9, 0xde, 0xff, rng.randrange(256)])
        got = answerer.wire.answer(bytes(payload), 0.0)
        if got is None:
            continue
        try:
            expected = python_reply(answerer, bytes(payload))
        except (ProtocolError, PredictorError) as exc:
            raise AssertionError(f"the compiled path answered a request Python refuses ({exc}): {bytes(payload)!r}")
        assert got[1] == expected
        answered += 1
    assert answered >= 100, answered


def test_no_compiled_predict_path_outside_utc(served):
    """The wall time of another zone is Python's: the whole-request path is not offered."""
    answerer, _ = served
    assert answerer.wire is None


def test_the_reply_packer_gives_the_bytes_of_the_protocol_encoder():
    """WirePredict's packer against protocol.encode (ormsgpack): every int, str, map and array
    length form at its boundaries, floats, nesting; what it leaves to Python is said (None)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from predictor.models import _kernel
    from predictor.protocol import encode

    edges = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]
    ints = [*edges, *(-v for v in edges if v), -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63]
    for value in [*ints, *("é" * n for n in (0, 15, 16, 31, 32, 127, 128, 32767, 32768)),
                  *("a" * n for n in (31, 32, 255, 256, 65535, 65536)), list(range(15)), list(range(16)),
                  list(range(65536)), {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
                  {str(i): None for i in range(65536)}, 0.1, -0.0, float("inf"), float("nan"), True, False, None]:
        assert _kernel.pack(value) == encode(value), repr(value)[:80]
    for value in (2**63, -2**63 - 1, "\\ud800".encode().decode("unicode_escape"), {1: 2}, (1,), b"x", 1.5j):
        assert _kernel.pack(value) is None, repr(value)

    scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text(max_size=300)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=40), inner, max_size=20),
                          max_leaves=60)

    def depth(value) -> int:
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        return 0 if items is None else 1 + max(map(depth, items), default=0)

    @settings(max_examples=400, deadline=None)
    @given(values)
    def packs_alike(value):
        packed = _kernel.pack(value)
        assert packed == encode(value) or (packed is None and depth(value) > 8)

    packs_alike()


def test_the_daemon_takes_the_compiled_path_unless_other_models_share_predict(served_utc):
    """The daemon's loaded set offers the models area's compiled path; with a challenger or a
    shadow model (whose routing and logging are Python's) it offers none."""
    from predictor.daemon.answerers import AnswererSet, AreaState

    answerer, _ = served_utc
    loaded = AnswererSet({"models": AreaState("models", answerer)}, generation=1)
    assert loaded.predict_wire() == answerer.wire.answer
    loaded.roles["shadow"] = AreaState("models", answerer)
    assert loaded.predict_wire() is None
    assert AnswererSet({"models": AreaState("models", message="no model")}, generation=1).predict_wire() is None


def test_the_kernels_rounding_is_pythons_round():
    """The factors' contributions and the similarities are rounded in C: round(x, digits) to the
    bit, halves to even included (near a half the kernel asks Python itself)."""
    import struct

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from predictor.models import _kernel

    def same(x: float, digits: int) -> None:
        got, expected = _kernel.round_like_python(x, digits), round(x, digits)
        assert struct.pack("<d", got) == struct.pack("<d", expected) or (math.isnan(got) and math.isnan(expected)), (x, digits)

    rng = random.Random(3)
    for _ in range(20000):
        k = rng.randrange(-10**7, 10**7)
        same((k + 0.5) / 10**6, 6)  # decimal halves (not exact in binary)
        same((k + 0.5) / 2 ** rng.randrange(1, 30), rng.choice([4, 6]))  # binary halves, some exact ties
    for x in (0.0078125, -0.0078125, 0.5, 2.5, -0.0, 0.0, 1e300, -1e300, float("inf"), float("nan"), 5e-324, 1e15 + 0.5):
        for digits in (0, 4, 6, 8, 12):
            same(x, digits)

    @settings(max_examples=3000, deadline=None)
    @given(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 9))
    def rounds_alike(x, digits):
        same(x, digits)

    rounds_alike()
