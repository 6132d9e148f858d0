"""The compiled kernel refuses arrays it cannot walk safely, with a ValueError, and finds the
same nearest rows as a plain scan (ties to the earlier row)."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.models import packed

kernel = packed._kernel


@pytest.fixture(autouse=True)
def compiled():
    assert kernel is not None, "predictor/models/_kernel.c was not built (see setup.py)"


def stump():
    """One tree: split on column 0 at 0.5, leaves -1 (left) and +2 (right); node slots doubled."""
    feature2 = np.array([0, 0, 0, 0, 0, 0], dtype=np.intp)
    threshold2 = np.array([0.5, 0.5, np.inf, np.inf, np.inf, np.inf])
    children2 = np.array([2, 4, 2, 2, 4, 4], dtype=np.intp)
    value2 = np.array([0.0, 0.0, -1.0, -1.0, 2.0, 2.0])
    roots2 = np.array([0], dtype=np.intp)
    return feature2, threshold2, children2, value2, roots2


def test_scores_a_stump_both_ways():
    tree = stump()
    assert kernel.score(np.array([0.2, 9.0]), *tree, 1) == -1.0
    assert kernel.score(np.array([0.7, 9.0]), *tree, 1) == 2.0
    paths = np.array([[0.0, 0.0], [-1.5, 0.0], [1.5, 0.25]])
    out = np.full(2, 99.0)
    assert kernel.explain(np.array([0.7, 0.0]), *tree, 1, paths, out) == 2.0
    assert out.tolist() == [1.5, 0.25]
    scores = np.empty(3)
    kernel.score_many(np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]]), *tree, 1, 2, scores)
    assert scores.tolist() == [-1.0, 2.0, -1.0]


def test_score_many_walks_rows_side_by_side_to_the_same_sums():
    """score_many walks 8 rows at a time through each tree (and the rest one by one): every
    row's sum is what score gives it alone, for counts around the lane width."""
    rng = np.random.default_rng(8)
    n_trees, depth, width = 30, 3, 4
    nodes = 2 ** (depth + 1) - 1
    feature2, threshold2, children2, value2, roots2 = [], [], [], [], []
    for t in range(n_trees):  # complete trees, node slots doubled as packed.py lays them out
        base = 2 * nodes * t
        roots2.append(base)
        for node in range(nodes):
            leaf = node >= 2 ** depth - 1
            feature2 += [int(rng.integers(0, width))] * 2
            threshold2 += [np.inf if leaf else float(rng.normal())] * 2
            kids = [base + 2 * node, base + 2 * node] if leaf else [base + 2 * (2 * node + 1), base + 2 * (2 * node + 2)]
            children2 += kids
            value2 += [float(rng.normal()) if leaf else 0.0] * 2
    tree = (np.array(feature2, dtype=np.intp), np.array(threshold2), np.array(children2, dtype=np.intp),
            np.array(value2), np.array(roots2, dtype=np.intp))
    for n in (1, 7, 8, 9, 16, 19, 100):
        matrix = rng.normal(size=(n, width))
        scores = np.empty(n)
        kernel.score_many(matrix, *tree, depth, width, scores)
        assert scores.tolist() == [kernel.score(row, *tree, depth) for row in matrix], n


@pytest.mark.parametrize("damage, message", [
    (lambda t: t[0].__setitem__(0, 7), "outside"),           # a split on a column the row lacks
    (lambda t: t[2].__setitem__(1, 40), "outside"),          # a child past the end
    (lambda t: t[2].__setitem__(0, -2), "outside"),          # a negative child
    (lambda t: t[4].__setitem__(0, 6), "outside"),           # a root past the end
])
def test_refuses_indices_outside_the_arrays(damage, message):
    tree = stump()
    damage(tree)
    with pytest.raises(ValueError, match=message):
        kernel.score(np.array([0.7, 0.0]), *tree, 1)
        kernel.score(np.array([0.2, 0.0]), *tree, 1)
    rows = np.tile([[0.2, 0.0], [0.7, 0.0]], (6, 1))  # 12 rows: a group of 8 side by side, 4 alone
    for matrix in (rows, rows[8:]):
        with pytest.raises(ValueError, match=message):
            kernel.score_many(matrix, *tree, 1, 2, np.empty(len(matrix)))


def test_refuses_wrong_types_and_lengths():
    feature2, threshold2, children2, value2, roots2 = stump()
    with pytest.raises(ValueError, match="feature2"):
        kernel.score(np.zeros(2), feature2.astype(np.float64), threshold2, children2, value2, roots2, 1)
    with pytest.raises(ValueError, match="x"):
        kernel.score(np.zeros(2, dtype=np.float32), feature2, threshold2, children2, value2, roots2, 1)
    with pytest.raises(ValueError, match="disagree"):
        kernel.score(np.zeros(2), feature2, threshold2[:4], children2, value2, roots2, 1)
    with pytest.raises(ValueError, match="path_contribution"):
        kernel.explain(np.zeros(2), feature2, threshold2, children2, value2, roots2, 1, np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="writable"):
        out = np.zeros(2)
        out.flags.writeable = False
        kernel.explain(np.zeros(2), feature2, threshold2, children2, value2, roots2, 1, np.zeros((3, 2)), out)
    with pytest.raises(TypeError):
        kernel.score(np.zeros(2), feature2)


def test_nearest_is_a_stable_exact_scan():
    rng = np.random.default_rng(4)
    block = rng.integers(0, 3, size=(500, 6)).astype(float)  # many exact ties
    for _ in range(200):
        query = rng.integers(0, 3, 6).astype(float)
        begin = int(rng.integers(0, 400))
        end = int(rng.integers(begin, 501))
        k = int(rng.integers(1, 8))
        positions, distances = np.empty(k, dtype=np.int64), np.empty(k)
        found = kernel.nearest(block, begin, end, query, k, positions, distances)
        expected_distance = np.sqrt(((block[begin:end] - query) ** 2).sum(axis=1))
        expected = np.argsort(expected_distance, kind="stable")[:k]
        assert found == len(expected)
        assert positions[:found].tolist() == expected.tolist()
        assert distances[:found].tolist() == expected_distance[expected].tolist()
    with pytest.raises(ValueError, match="out of range"):
        kernel.nearest(block, 10, 600, np.zeros(6), 3, np.empty(3, dtype=np.int64), np.empty(3))
    with pytest.raises(ValueError, match="wide"):
        kernel.nearest(block, 0, 10, np.zeros(4), 3, np.empty(3, dtype=np.int64), np.empty(3))


# -- the Explainer: one model's encode, walk and top factors -----------------------------------
def explainer_of(encoder, tree, paths, depth=1):
    numeric, one_hot = encoder.kernel_plan()
    return kernel.Explainer(*tree, depth, paths, numeric, one_hot, encoder.n_columns)


def test_explainer_encodes_exactly_what_the_encoder_values_give():
    from predictor.features import ALL_FEATURES, CATEGORICAL_FEATURES, NUMERIC_FEATURES
    from predictor.models.encoding import FeatureEncoder

    encoder = FeatureEncoder({"environment": ["production", "staging"], "deployment_type": ["canary"],
                              "service_type": [], "version_bump": ["major", "minor", "patch"]})
    tree = stump()
    explainer = explainer_of(encoder, tree, np.zeros((3, len(ALL_FEATURES))))
    rng = np.random.default_rng(5)
    odd = [float("nan"), float("inf"), float("-inf"), 1e300, -0.0, 7, True]
    for trial in range(300):
        features = {name: (odd[trial % len(odd)] if rng.random() < 0.2 else float(rng.normal(0, 100)))
                    for name in NUMERIC_FEATURES}
        for name in CATEGORICAL_FEATURES:
            features[name] = rng.choice(["production", "staging", "canary", "major", "patch", "qa", "other", ""])
        expected = encoder.values(features)
        row = np.full(encoder.n_columns, 42.0)
        explainer.encode(features, row)
        assert row.tolist() == expected
    matrix = np.empty((2, encoder.n_columns))
    explainer.encode_many([features, {**features, "environment": "production"}], matrix)
    assert matrix[0].tolist() == encoder.values(features)
    assert matrix[1].tolist() == encoder.values({**features, "environment": "production"})
    # an unhashable category and a missing feature fail as in values()
    with pytest.raises(TypeError):
        explainer.encode({**features, "environment": ["x"]}, row)
    with pytest.raises(KeyError, match="velocity_trend"):
        explainer.encode({k: v for k, v in features.items() if k != "velocity_trend"}, row)
    with pytest.raises(ValueError, match="one row"):
        explainer.encode(features, np.empty(encoder.n_columns + 1))


def test_explainer_top_factors_equal_a_stable_sort_with_zeros_left_out():
    from predictor.models.encoding import FeatureEncoder

    encoder = FeatureEncoder({})
    groups = len(encoder.groups)
    feature2, threshold2, children2, value2, roots2 = stump()
    rng = np.random.default_rng(8)
    for trial in range(200):
        # node 1 (left leaf) and node 2 (right leaf) carry contributions with ties and zeros
        paths = np.zeros((3, groups))
        paths[1:] = rng.choice([0.0, 0.5, -0.5, 1.25, -2.0, 3.0], size=(2, groups))
        if trial % 7 == 0:
            paths[1:] = 0.0
        explainer = explainer_of(encoder, (feature2, threshold2, children2, value2, roots2), paths)
        x = np.zeros(encoder.n_columns)
        x[0] = rng.choice([0.2, 0.7])
        contributions = paths[2 if x[0] > 0.5 else 1]
        names = tuple(encoder.groups)
        values = {name: float(i) for i, name in enumerate(names)}
        for k in (0, 1, 5, groups, groups + 3):
            raw, factors = explainer.factors(x, k, values, names, {}, lambda name, value, c: f"{name} {c:+}")
            assert raw == (2.0 if x[0] > 0.5 else -1.0)
            order = np.argsort(-np.abs(contributions), kind="stable")[:k]
            top = [(int(values[f["feature"]]), f["contribution"]) for f in factors]
            assert top == [(int(i), float(contributions[i])) for i in order if contributions[i] != 0]
            assert [f["description"] for f in factors] == [f"{f['feature']} {f['contribution']:+}" for f in factors]
        assert explainer.score(x) == raw


def test_explainer_refuses_a_layout_outside_the_row():
    from predictor.models.encoding import FeatureEncoder

    encoder = FeatureEncoder({"environment": ["production"]})
    numeric, one_hot = encoder.kernel_plan()
    tree = stump()
    paths = np.zeros((3, len(encoder.groups)))
    with pytest.raises(ValueError, match="out of range"):
        kernel.Explainer(*tree, 1, paths, numeric, one_hot, len(numeric) + 1)
    with pytest.raises(ValueError, match="path_contribution"):
        kernel.Explainer(*tree, 1, np.zeros((2, 4)), numeric, one_hot, encoder.n_columns)
    explainer = kernel.Explainer(*tree, 1, paths, numeric, one_hot, encoder.n_columns)
    with pytest.raises(ValueError, match="one row"):
        explainer.factors(np.zeros(3), 5, {}, tuple(encoder.groups), {}, str)


# -- features_core: the counting part of the serving features ---------------------------------
def test_features_core_equals_the_python_form_on_random_histories():
    from array import array

    from predictor.features.serving import ServiceHistory, _features_core

    rng = np.random.default_rng(13)
    for trial in range(400):
        history = ServiceHistory()
        n = int(rng.choice([0, 1, 2, 5, 40, 300]))
        history.start_times = array("q", sorted(rng.integers(0, 1000, n).tolist()))
        for i in range(int(rng.choice([0, 1, 3, 50]))):
            history.outcomes.append((int(rng.integers(0, 1000)), f"d{i}", int(rng.random() < 0.4),
                                     None if rng.random() < 0.2 else int(rng.integers(0, 10_000))))
        history.outcomes.sort(key=lambda item: (item[0], item[1]))
        neighbours = tuple(array("q", sorted(rng.integers(0, 1000, int(rng.integers(0, 30))).tolist()))
                           for _ in range(int(rng.integers(0, 4))))
        for t in (int(rng.integers(-10, 1010)), 0, 1000, -(2 ** 62), 2 ** 62):
            spans = (int(rng.integers(0, 300)), int(rng.integers(0, 900)), int(rng.integers(1, 100)))
            args = (history.start_times, *history.outcome_index(), neighbours, t, *spans)
            assert kernel.features_core(*args) == _features_core(*args), (trial, t)


def test_nearest_scales_the_query_itself_when_given_the_scale():
    """nearest(..., scale) finds what nearest finds for query / scale: same rows, same distances."""
    rng = np.random.default_rng(12)
    block = rng.normal(size=(300, 9))
    scale = rng.uniform(0.1, 5.0, size=9)
    for _ in range(50):
        row = rng.normal(size=9) * 3
        begin, end, k = int(rng.integers(0, 100)), int(rng.integers(150, 301)), int(rng.integers(1, 6))
        found = []
        for args in ((row / scale,), (row, )):
            positions, distances = np.empty(k, dtype=np.int64), np.empty(k)
            count = kernel.nearest(block, begin, end, args[0], k, positions, distances,
                                   *([] if len(found) == 0 else [scale]))
            found.append((count, positions[:count].tolist(), distances[:count].tolist()))
        assert found[0] == found[1]
    with pytest.raises(ValueError, match="scale"):
        kernel.nearest(block, 0, 10, np.zeros(9), 3, np.empty(3, dtype=np.int64), np.empty(3), np.ones(8))


def test_nearest_finds_the_same_rows_whatever_order_it_sums_the_columns_in():
    """With a block's column means and variances the scan sums the columns where the query
    differs most first (rows are dropped sooner); the rows found and their order are the same,
    duplicate rows included, and the distances agree to rounding."""
    rng = np.random.default_rng(21)
    for trial in range(60):
        width = int(rng.integers(1, 60))
        block = rng.normal(size=(200, width)) * rng.uniform(0.1, 10, size=width)
        block[50:60] = block[40]  # exact duplicates: ties go to the earlier row either way
        mean, spread = block.mean(axis=0), block.var(axis=0)
        if trial % 3 == 0:  # statistics that say nothing useful change nothing either
            mean, spread = rng.normal(size=width) * 100, rng.uniform(0, 1e6, size=width)
        for _ in range(10):
            query = block[int(rng.integers(0, 200))] + rng.normal(size=width) * float(rng.choice([0.0, 0.01, 1.0]))
            begin, end, k = int(rng.integers(0, 50)), int(rng.integers(100, 201)), int(rng.integers(1, 8))
            found = []
            for extra in ((), (None, mean, spread)):
                positions, distances = np.empty(k, dtype=np.int64), np.empty(k)
                count = kernel.nearest(block, begin, end, query, k, positions, distances, *extra)
                found.append((count, positions[:count].tolist(), distances[:count]))
            assert found[0][:2] == found[1][:2], trial
            assert np.allclose(found[0][2], found[1][2], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="mean and spread"):
        kernel.nearest(block, 0, 10, query, 3, np.empty(3, dtype=np.int64), np.empty(3), None, mean[:-1] if width > 1
                       else np.zeros(2), spread)


def test_features_core_refuses_an_index_of_the_wrong_length():
    from array import array

    index = [array("q", [5]), array("q", [0, 1]), array("q", [0, 7]), array("q", [0, 1]), array("q", [0])]
    with pytest.raises(ValueError, match="streaks"):
        kernel.features_core(array("q", [1, 2]), *index, (), 10, 1, 2, 3)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel.features_core([1, 2], *index[:4], array("q", [0, 1]), (), 10, 1, 2, 3)


def test_a_neighbours_first_deployment_counts_at_once():
    from predictor.features.serving import FeatureState

    state = FeatureState()
    state.observe("service", {"name": "api", "type": "microservice", "dependencies": ["db"]})
    state.observe("deployment", {"id": "a1", "service": "api", "environment": "prod", "started": 1_000_000,
                                 "completed": 1_000_060, "status": "success"})
    probe = {"service": "api", "environment": "prod", "started": 1_000_000 + 3600}
    assert state.features(probe)["concurrent_neighbours"] == 0.0  # db has no history yet (remembered)
    state.observe("deployment", {"id": "d1", "service": "db", "environment": "prod", "started": 1_000_000 + 60,
                                 "completed": 1_000_120, "status": "failure"})
    assert state.features(probe)["concurrent_neighbours"] == 1.0
    state.observe("service", {"name": "api", "type": "microservice", "dependencies": []})
    assert state.features(probe)["concurrent_neighbours"] == 0.0


# -- features_dict: the whole serving feature map in one call ----------------------------------
def pick(rng, options):
    """One of OPTIONS as it is (numpy's choice would turn str into numpy.str_)."""
    return options[int(rng.integers(len(options)))]


VERSIONS = [None, "1.2.3", "v1.2.3", "1.2", "1.2.x", "v2", "01.002.3", "1.2.3-rc1", "10.0.0", "9.99.99", "abc",
            "", "v", "1..2", "00.0.0", "\u0663.1.0", "1.2.\u0664", 7, "99999999999999999999999.1.1"]


def random_state(rng, timezone: str):
    """A FeatureState of a few services with random histories, graph and version reuse."""
    from predictor.features import FeatureConfig
    from predictor.features.serving import FeatureState

    state = FeatureState(FeatureConfig(timezone=timezone, concurrency_hours=float(pick(rng, [0.5, 2.0, 30.0])),
                                       prior_strength=float(pick(rng, [0.5, 5.0])), prior_mean=0.15))
    services = ["api", "db", "web", "batch"]
    for name in services:
        deps = [s for s in services if s != name and rng.random() < 0.4]
        state.observe("service", {"name": name, "type": pick(rng, [None, "", "microservice", "monolith"]),
                                  "dependencies": deps})
    for i in range(int(pick(rng, [0, 5, 80]))):
        started = int(rng.integers(1_600_000_000, 1_600_000_000 + 40 * 86_400))
        done = rng.random() < 0.8
        state.observe("deployment", {
            "id": f"d{i}", "service": pick(rng, services), "environment": pick(rng, ["prod", "staging"]),
            "version": VERSIONS[int(rng.integers(0, 12))], "started": started,
            "completed": started + int(rng.integers(0, 4000)) if done else None,
            "status": pick(rng, ["success", "failure", "rolled-back", "cancelled"]) if done else "pending"})
    return state


def probe(rng) -> dict:
    record = {"service": pick(rng, ["api", "db", "web", "never-seen"]), "environment": pick(rng, ["prod", "staging", "qa"]),
              "started": int(rng.integers(1_600_000_000 - 86_400, 1_600_000_000 + 45 * 86_400)),
              "version": VERSIONS[int(rng.integers(0, len(VERSIONS)))],
              "deployment_type": pick(rng, [None, "", "canary", "big-bang"]),
              "change_size": [None, 0, 12, 3.5, True, "17", float("nan"), float("inf"), 2 ** 70][int(rng.integers(0, 9))]}
    if rng.random() < 0.2:
        record["metadata"] = {"change-size": int(rng.integers(0, 99)), "replicas": pick(rng, [2, "3", None])}
    if rng.random() < 0.1:
        record["configuration"] = {"replicas": 4, "image": "x"}
    return record


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin"])
def test_features_dict_equals_the_python_form(timezone, monkeypatch):
    """The compiled map is the Python map: same keys in the same order, same values and types;
    values it leaves to Python (a text change size, a version of non-ASCII digits) still agree."""
    from predictor.features import serving

    rng = np.random.default_rng(29)
    compared = compiled_answers = 0
    for _ in range(40):
        state = random_state(rng, timezone)
        for _ in range(60):
            record = probe(rng)
            fast = state.features(record)
            constants = state.kernel_constants
            made = kernel.features_dict(*_features_dict_args(state, record), constants)
            compiled_answers += made is not None
            monkeypatch.setattr(serving, "_kernel", None)
            slow = state.features(record)
            monkeypatch.setattr(serving, "_kernel", kernel)
            assert list(fast.items()) == list(slow.items()), record
            assert [type(v) for v in fast.values()] == [type(v) for v in slow.values()], record
            compared += 1
    assert compared == 2400
    assert compiled_answers > 1500  # most maps come from the compiled form, not its fallback


def _features_dict_args(state, record):
    from predictor.features.records import epoch_us, record_numbers, to_utc_naive
    from predictor.features.serving import _NO_HISTORY

    service, environment, version = record["service"], record["environment"], record.get("version")
    started = to_utc_naive(record["started"], "started")
    t = epoch_us(started)
    history = state.histories.get(service) or _NO_HISTORY
    hour = day = -1
    if not state.zone_is_utc:
        local = state.local_time(started, t)
        hour, day = local.hour, local.weekday()
    change = record.get("change_size")
    if record.get("metadata") is not None or record.get("configuration") is not None:
        change = record_numbers(record)
    return (history.start_times, *history.outcome_index(), state.neighbour_starts(service),
            history.env_starts.get(environment), None if version is None else state.versions.get((service, version)),
            state.graph(service), t, hour, day, environment, record.get("deployment_type"),
            state.service_types.get(service), version, change)


def test_features_dict_at_the_edges_of_time():
    """Times before 1970 get the wall time datetime gives; a gap to the previous start that
    does not fit 64 bits makes the compiled form hand over (None), never wrap around."""
    import datetime as dt
    from array import array

    from predictor.features.serving import FeatureState, ServiceHistory

    state = FeatureState()
    history = ServiceHistory()
    history.start_times = array("q", [-(2 ** 62)])

    def made(t):
        return kernel.features_dict(history.start_times, *history.outcome_index(), (), None, None, (0, 0, 0, 0), t,
                                    -1, -1, "prod", None, None, None, None, state.kernel_constants)

    for t in (-86_400_000_000 * 36_524 - 1, -1, 0, 86_400_000_000 * 3 + 3_600_000_000 * 5):
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=t)
        features = made(t)
        assert (features["hour"], features["day_of_week"]) == (float(moment.hour), float(moment.weekday())), t
        assert features["days_since_previous"] == (t + 2 ** 62) / float(86_400_000_000)
    assert made(2 ** 62) is None  # 2**62 - (-(2**62)) = 2**63: the Python form answers


def rows_explainer():
    """An Explainer over a stump whose one-hot groups know some of random_state's categories."""
    from predictor.models.encoding import FeatureEncoder

    encoder = FeatureEncoder({"environment": ["prod", "staging"], "deployment_type": ["canary"],
                              "service_type": ["microservice"], "version_bump": ["first", "same", "patch", "minor"]})
    return encoder, explainer_of(encoder, stump(), np.zeros((3, len(encoder.groups))))


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
def test_encode_many_writes_the_rows_of_the_python_features(timezone, monkeypatch):
    """The batch form (rows written straight from the history, per-service lookups once, no
    feature map) gives each record the row and past_outcomes of its Python feature map,
    including records it hands back to features() (metadata to read) and an error for a bad
    record; in another zone it leaves the batch to the Python form (None)."""
    from predictor.errors import ValidationError
    from predictor.features import serving
    from predictor.features.records import to_utc_naive

    encoder, explainer = rows_explainer()
    rng = np.random.default_rng(31)
    fallbacks = 0
    for _ in range(25):
        state = random_state(rng, timezone)
        records = []
        for _ in range(50):
            record = probe(rng)
            if rng.random() < 0.8:
                record["started"] = to_utc_naive(record["started"], "started")
            elif rng.random() < 0.7:  # epoch seconds with a fraction: halves of a microsecond round to even
                record["started"] += pick(rng, [0.25, 0.0000005, 0.0000015, 0.0000025, 0.123456789, 1e-9])
            records.append(record)
        handed_back = []
        python_form = state.features
        state.features = lambda record: handed_back.append(record) or python_form(record)
        rows = np.full((len(records), encoder.n_columns), 7.0)
        pasts = state.encode_many(records, explainer, rows)
        del state.features
        if timezone != "UTC":
            assert pasts is None
            continue
        fallbacks += len(handed_back)
        monkeypatch.setattr(serving, "_kernel", None)
        expected = [state.features(record) for record in records]
        monkeypatch.setattr(serving, "_kernel", kernel)
        assert pasts == [want["past_outcomes"] for want in expected]
        for row, want, record in zip(rows, expected, records):
            assert row.tolist() == encoder.vector(want).tolist(), record
    if timezone == "UTC":  # the compiled form answered most (epoch-second starts and maps go back)
        assert 0 < fallbacks < 0.6 * 25 * 50, fallbacks  # about half go back by design of probe()
        with pytest.raises(ValidationError, match="environment"):
            state.encode_many([records[0], {**records[1], "environment": ""}], explainer, np.empty((2, encoder.n_columns)))


def test_features_dict_refuses_arguments_it_cannot_read():
    """Wrong argument types are a TypeError naming the function, not a crash or a wrong map."""
    from array import array

    from predictor.features.serving import FeatureState, ServiceHistory

    state = FeatureState()
    history = ServiceHistory()
    good = [history.start_times, *history.outcome_index(), (), None, None, (0, 0, 0, 0), 10, -1, -1, "prod", None,
            None, None, None, state.kernel_constants]
    assert kernel.features_dict(*good)["past_outcomes"] == 0.0
    for index, bad in ((6, [array("q")]), (7, ("not", "a", "list")), (9, (0, 0)), (18, state.kernel_constants[:7])):
        args = list(good)
        args[index] = bad
        with pytest.raises(TypeError, match="features_dict"):
            kernel.features_dict(*args)
    with pytest.raises(TypeError, match="19 arguments"):
        kernel.features_dict(*good[:-1])
    _encoder, explainer = rows_explainer()
    with pytest.raises(TypeError, match="features_rows"):
        explainer.features_rows((), None, None, {}, state.kernel_constants, np.empty(0))
