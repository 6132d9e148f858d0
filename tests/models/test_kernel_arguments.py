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
