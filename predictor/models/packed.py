"""The trained ensemble packed into flat numpy arrays, walked without scikit-learn.

Layout (n = total nodes over all trees; every array indexed by ``2 * node + branch``, so the
walk never multiplies):

* ``feature2[2i] = feature2[2i+1]``: the column node *i* splits on (0 at leaves);
* ``threshold2``: the split threshold (+inf at leaves, so they never go right);
* ``children2[2i]``, ``children2[2i+1]``: ``2 * left`` and ``2 * right`` (leaves point to
  themselves, so extra steps are harmless);
* ``value2``: the leaf value (log-odds) at leaves;
* ``path_contribution``: for every node, the Saabas attribution of the path from its tree's
  root to it, one column per feature group (numeric feature, or one categorical feature across
  its one-hot columns): each split credits ``E[child] - E[parent]`` to the parent's feature,
  where ``E`` is the training-count-weighted mean leaf value below a node.

For one row, all split comparisons are made at once (``x[feature2] > threshold2``), then every
tree advances one level per numpy step. The raw score is ``baseline + sum(leaf values)``; the
contributions sum to ``raw - bias`` with ``bias = baseline + sum(E[root])`` (tested). The
probability is ``sigmoid(raw)`` mapped through the isotonic calibration (piecewise linear,
clipped at the ends), exactly what scikit-learn computes (tested to 1e-9).
"""

from __future__ import annotations

import bisect
import math
import os

import numpy as np

try:  # the compiled loops (setup.py builds them); the numpy forms below give the same numbers
    from predictor.models import _kernel
except ImportError:  # no C compiler where this was installed
    _kernel = None
if os.environ.get("PREDICTOR_KERNEL") == "numpy":  # compare the two forms (tests, benchmarks)
    _kernel = None

#: which form of the hot loops this process runs: "compiled" or "numpy"
KERNEL = "compiled" if _kernel is not None else "numpy"

ARRAY_NAMES = ("feature2", "threshold2", "children2", "value2", "roots2", "path_contribution",
               "calibration_x", "calibration_y", "scalars")


class PackedEnsemble:
    """A binary gradient-boosted tree ensemble plus calibration map, as flat arrays."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise ValueError(f"packed model lacks arrays {missing}")
        self.arrays = arrays
        self.feature2 = np.ascontiguousarray(arrays["feature2"], dtype=np.intp)
        self.threshold2 = np.ascontiguousarray(arrays["threshold2"], dtype=np.float64)
        self.children2 = np.ascontiguousarray(arrays["children2"], dtype=np.intp)
        self.value2 = np.ascontiguousarray(arrays["value2"], dtype=np.float64)
        self.roots2 = np.ascontiguousarray(arrays["roots2"], dtype=np.intp)
        self.path_contribution = np.ascontiguousarray(arrays["path_contribution"], dtype=np.float64)
        self.calibration_x = np.asarray(arrays["calibration_x"], dtype=np.float64)
        self.calibration_y = np.asarray(arrays["calibration_y"], dtype=np.float64)
        # the isotonic map as Python lists for calibrate_one (np.interp on one float costs ~2 us,
        # a bisect ~0.3); only when its points strictly increase, as isotonic thresholds do
        strictly = bool(len(self.calibration_x) >= 2 and np.all(np.diff(self.calibration_x) > 0))
        self._interp_points = ((self.calibration_x.tolist(), self.calibration_y.tolist()) if strictly else None)
        baseline, bias, depth, kind, slope, intercept = (float(v) for v in arrays["scalars"])
        self.baseline, self.bias, self.depth = baseline, bias, int(depth)
        #: calibration: 0 isotonic (piecewise linear on the probability), 1 sigmoid (Platt, on the raw score)
        self.calibration_kind, self.slope, self.intercept = int(kind), slope, intercept
        self._levels = range(self.depth)
        self._tree = (self.feature2, self.threshold2, self.children2, self.value2, self.roots2, self.depth)
        self.n_groups = self.path_contribution.shape[1]

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return len(self.roots2)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_sklearn(cls, classifier, calibrator, column_group: np.ndarray, n_groups: int) -> "PackedEnsemble":
        """Pack a fitted binary HistGradientBoostingClassifier and its calibrator: a fitted
        IsotonicRegression (on the probability) or LogisticRegression (on the raw score)."""
        trees = [predictors[0] for predictors in classifier._predictors]
        sizes = [len(tree.nodes) for tree in trees]
        total = sum(sizes)
        feature2 = np.zeros(2 * total, dtype=np.intp)
        threshold2 = np.full(2 * total, np.inf)
        children2 = np.zeros(2 * total, dtype=np.intp)
        value2 = np.zeros(2 * total)
        contribution = np.zeros((total, n_groups))
        roots2 = np.zeros(len(trees), dtype=np.intp)
        bias = float(np.ravel(classifier._baseline_prediction)[0])
        baseline = bias
        depth = 0
        offset = 0
        for t, tree in enumerate(trees):
            nodes = tree.nodes
            if nodes["is_categorical"].any():
                raise ValueError("packed inference does not support categorical splits")
            expectation = _expectations(nodes)
            bias += expectation[0]
            roots2[t] = 2 * offset
            stack = [(0, 0)]
            while stack:
                i, level = stack.pop()
                g = offset + i
                depth = max(depth, level)
                if nodes["is_leaf"][i]:
                    children2[2 * g] = children2[2 * g + 1] = 2 * g
                    value2[2 * g] = value2[2 * g + 1] = nodes["value"][i]
                    continue
                left, right = int(nodes["left"][i]), int(nodes["right"][i])
                column = int(nodes["feature_idx"][i])
                feature2[2 * g] = feature2[2 * g + 1] = column
                threshold2[2 * g] = threshold2[2 * g + 1] = nodes["num_threshold"][i]
                children2[2 * g] = 2 * (offset + left)
                children2[2 * g + 1] = 2 * (offset + right)
                for child in (left, right):
                    contribution[offset + child] = contribution[g]
                    contribution[offset + child, column_group[column]] += expectation[child] - expectation[i]
                    stack.append((child, level + 1))
            offset += len(nodes)
        if hasattr(calibrator, "X_thresholds_"):
            kind, slope, intercept = 0, 0.0, 0.0
            calibration_x = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
            calibration_y = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
        else:
            kind, slope, intercept = 1, float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0])
            calibration_x = calibration_y = np.zeros(0)
        arrays = {
            "feature2": feature2, "threshold2": threshold2, "children2": children2, "value2": value2,
            "roots2": roots2, "path_contribution": contribution,
            "calibration_x": calibration_x, "calibration_y": calibration_y,
            "scalars": np.array([baseline, bias, depth, kind, slope, intercept], dtype=np.float64),
        }
        return cls(arrays)

    # -- one row ----------------------------------------------------------------------------
    def leaves2(self, x: np.ndarray) -> np.ndarray:
        """Return ``2 * leaf`` reached in every tree by row X."""
        goes_right = (x[self.feature2] > self.threshold2).view(np.uint8)  # adds without a cast
        node2 = self.roots2
        children2 = self.children2
        for _ in self._levels:
            node2 = children2[node2 + goes_right[node2]]
        return node2

    def raw_one(self, x: np.ndarray) -> float:
        """Return the raw score (log-odds before calibration) of row X."""
        if _kernel is not None:
            return self.baseline + _kernel.score(x, *self._tree)
        return self.baseline + float(self.value2[self.leaves2(x)].sum())

    def explain_one(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        """Return (calibrated probability, raw score, per-group contributions) for row X."""
        if _kernel is not None:
            contributions = np.empty(self.n_groups)
            raw = self.baseline + _kernel.explain(x, *self._tree, self.path_contribution, contributions)
            return self.calibrate_one(raw), raw, contributions
        node2 = self.leaves2(x)
        raw = self.baseline + float(self.value2[node2].sum())
        contributions = self.path_contribution.take(node2 >> 1, axis=0).sum(axis=0)
        return self.calibrate_one(raw), raw, contributions

    def explainer(self, encoder) -> "object | None":
        """The compiled per-request path for this ensemble and ENCODER's column layout
        (``_kernel.Explainer``: encode a feature dict, walk with contributions, pick the top
        factors, each in one call), or None without the compiled kernel."""
        if _kernel is None:
            return None
        numeric, one_hot = encoder.kernel_plan()
        return _kernel.Explainer(self.feature2, self.threshold2, self.children2, self.value2, self.roots2,
                                 self.depth, self.path_contribution, numeric, one_hot, encoder.n_columns)

    def calibrate_one(self, raw: float) -> float:
        """Map a raw score to the calibrated probability."""
        if self.calibration_kind == 1:
            z = self.slope * raw + self.intercept
            return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        uncalibrated = 1.0 / (1.0 + math.exp(-raw)) if raw > -700 else 0.0
        if self._interp_points is None:
            return float(np.interp(uncalibrated, self.calibration_x, self.calibration_y))
        xs, ys = self._interp_points
        j = bisect.bisect_right(xs, uncalibrated)  # np.interp's formula, for one value
        if j == 0:
            return ys[0]
        if j == len(xs):
            return ys[-1]
        x0, y0 = xs[j - 1], ys[j - 1]
        return (ys[j] - y0) / (xs[j] - x0) * (uncalibrated - x0) + y0

    # -- many rows --------------------------------------------------------------------------
    def raw_many(self, matrix: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
        """Return raw scores for every row of MATRIX (walking all trees level by level)."""
        out = np.empty(len(matrix))
        if _kernel is not None:
            matrix = np.ascontiguousarray(matrix, dtype=np.float64)
            _kernel.score_many(matrix, *self._tree, matrix.shape[1] if matrix.ndim == 2 else 1, out)
            return out + self.baseline
        for start in range(0, len(matrix), chunk):
            block = matrix[start:start + chunk]
            rows = np.arange(len(block))[:, None]
            node2 = np.broadcast_to(self.roots2, (len(block), self.n_trees))
            for _ in self._levels:
                values = block[rows, self.feature2[node2]]
                node2 = self.children2[node2 + (values > self.threshold2[node2])]
            out[start:start + chunk] = self.baseline + self.value2[node2].sum(axis=1)
        return out

    def probability_many(self, matrix: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities for every row of MATRIX."""
        raw = self.raw_many(matrix)
        if self.calibration_kind == 1:
            return 1.0 / (1.0 + np.exp(-(self.slope * raw + self.intercept)))
        return np.interp(1.0 / (1.0 + np.exp(-raw)), self.calibration_x, self.calibration_y)


def _expectations(nodes) -> np.ndarray:
    """Return, per node, the training-count-weighted mean of the leaf values below it."""
    n = len(nodes)
    expectation = np.zeros(n)
    order = []
    stack = [0]
    while stack:
        i = stack.pop()
        order.append(i)
        if not nodes["is_leaf"][i]:
            stack.extend((int(nodes["left"][i]), int(nodes["right"][i])))
    for i in reversed(order):
        if nodes["is_leaf"][i]:
            expectation[i] = nodes["value"][i]
        else:
            left, right = int(nodes["left"][i]), int(nodes["right"][i])
            cl, cr = float(nodes["count"][left]), float(nodes["count"][right])
            total = cl + cr
            expectation[i] = ((cl * expectation[left] + cr * expectation[right]) / total if total > 0
                              else 0.5 * (expectation[left] + expectation[right]))
    return expectation
