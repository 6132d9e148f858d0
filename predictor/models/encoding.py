"""Turn feature dicts or a :class:`FeatureFrame` into the numeric matrix the trees see.

Numeric features pass through (NaN becomes -1, the "unknown" value every feature already uses);
each categorical feature becomes one-hot columns for the categories seen often enough in
training, plus an ``other`` column that takes unseen and rare values (new services, new
environments, new deployment types all work).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from predictor.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

OTHER = "other"


class FeatureEncoder:
    """Fixed column layout learned from training rows; stored with the model as plain data."""

    def __init__(self, vocabulary: dict[str, list[str]]) -> None:
        self.vocabulary = {name: list(values) for name, values in vocabulary.items()}
        self.columns: list[str] = list(NUMERIC_FEATURES)
        #: for each column, the index of the feature it belongs to in ALL features order
        groups: list[int] = list(range(len(NUMERIC_FEATURES)))
        self._offsets: dict[str, int] = {}
        self._lookup: dict[str, dict[str, int]] = {}
        for group, name in enumerate(CATEGORICAL_FEATURES, start=len(NUMERIC_FEATURES)):
            self._offsets[name] = len(self.columns)
            values = self.vocabulary.get(name, [])
            self._lookup[name] = {value: i for i, value in enumerate(values)}
            self.columns.extend(f"{name}={value}" for value in [*values, OTHER])
            groups.extend([group] * (len(values) + 1))
        self.column_group = np.asarray(groups, dtype=np.intp)
        self.groups: list[str] = list(NUMERIC_FEATURES) + list(CATEGORICAL_FEATURES)
        #: (feature, category -> column, column of "other") per categorical feature, for :meth:`vector`
        self._one_hot = [(name, {value: self._offsets[name] + i for value, i in self._lookup[name].items()},
                          self._offsets[name] + len(self._lookup[name])) for name in CATEGORICAL_FEATURES]
        self._one_hot_zeros = [0.0] * (len(self.columns) - len(NUMERIC_FEATURES))

    def kernel_plan(self) -> tuple[tuple[str, ...], tuple[tuple[str, dict[str, int], int], ...]]:
        """(numeric feature names in column order, (feature, category -> column, column of
        "other") per categorical feature): the layout the compiled Explainer encodes with."""
        return tuple(NUMERIC_FEATURES), tuple((name, dict(column_of), other) for name, column_of, other in self._one_hot)

    @classmethod
    def fit(cls, frame, *, min_count: int = 20, max_categories: int = 30) -> "FeatureEncoder":
        """Learn the categories of FRAME's categorical columns (seen at least MIN_COUNT times)."""
        vocabulary = {}
        for name in CATEGORICAL_FEATURES:
            counts = Counter(frame.columns[name].tolist())
            kept = [value for value, count in counts.most_common(max_categories)
                    if count >= min_count and value != OTHER and value is not None]
            vocabulary[name] = sorted(kept)
        return cls(vocabulary)

    @property
    def n_columns(self) -> int:
        """Number of matrix columns."""
        return len(self.columns)

    def matrix(self, frame) -> np.ndarray:
        """Return the float64 matrix (rows of FRAME, :attr:`columns` order)."""
        n = len(frame)
        out = np.zeros((n, self.n_columns), dtype=np.float64)
        for j, name in enumerate(NUMERIC_FEATURES):
            out[:, j] = frame.columns[name]
        np.nan_to_num(out[:, : len(NUMERIC_FEATURES)], copy=False, nan=-1.0)
        rows = np.arange(n)
        for name in CATEGORICAL_FEATURES:
            lookup, offset = self._lookup[name], self._offsets[name]
            other = len(lookup)
            index = np.fromiter((lookup.get(value, other) for value in frame.columns[name]), dtype=np.intp, count=n)
            out[rows, offset + index] = 1.0
        return out

    def vector(self, features: dict) -> np.ndarray:
        """Return the matrix row of one feature dict."""
        return np.array(self.values(features), dtype=np.float64)

    def values(self, features: dict) -> list[float]:
        """The matrix row of one feature dict as a list (what :meth:`vector` makes an array of)."""
        values = [features[name] for name in NUMERIC_FEATURES]
        total = sum(values)
        if total - total != 0.0:  # a NaN or an infinity: mend as matrix() does (NaN -> -1, inf -> max float)
            values = np.nan_to_num(np.array(values, dtype=np.float64), nan=-1.0).tolist()
        values.extend(self._one_hot_zeros)
        for name, column_of, other in self._one_hot:
            values[column_of.get(features[name], other)] = 1.0
        return values
