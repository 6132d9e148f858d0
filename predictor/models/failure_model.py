"""The failure model: encoder, gradient-boosted trees, isotonic calibration, packed form,
and the in-memory pool of past deployments used to show similar cases.

Fitting uses time order only: the trees learn from the earlier part of the rows, the isotonic
map is fitted on the later part (a later time slice), never on rows the trees saw.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from predictor.features import FeatureConfig
from predictor.features.training import FeatureFrame
from predictor.models.encoding import FeatureEncoder
from predictor.models.packed import PackedEnsemble, _kernel

#: chosen by measurement (see bench/models.py and the closing note): 100 trees of at most 15
#: leaves and depth 5 rank as well as larger ensembles on generated histories, train in
#: seconds, and keep the packed single-row walk near 20 microseconds.
TREE_PARAMS = {"max_iter": 100, "max_leaf_nodes": 15, "max_depth": 5, "learning_rate": 0.1,
               "min_samples_leaf": 40, "l2_regularization": 1.0, "early_stopping": False, "random_state": 0}
CALIBRATION_SHARE = 0.2
MAX_NEIGHBOURS = 50_000
#: calibration slices at least this large get isotonic calibration, smaller ones sigmoid (Platt)
ISOTONIC_MIN_ROWS = 2000


def training_threads() -> int:
    """Threads for tree fitting (``PREDICTOR_TRAIN_THREADS``, default 1). One is the default
    because OpenMP workers spin-wait: on a shared 2-core machine two threads fitted 10x slower."""
    try:
        return max(1, int(os.environ.get("PREDICTOR_TRAIN_THREADS", "1")))
    except ValueError:
        return 1


#: bound of the relative rounding error of the distance estimate in :meth:`_ServiceBlock.closest`
#: (a float64 dot product over ~50 encoded columns errs by about 1e-14 of ``|b|^2 + |x|^2``)
ESTIMATE_ERROR = 1e-9


class _ServiceBlock:
    """Pool rows of one service (or of all) in start order, ready for distance queries.

    The arrays are views of buffers with spare room, so that appending the newest finished
    deployment (what the daemon's ``observe`` does) does not copy the whole block.
    """

    FIELDS = ("index", "starts", "block", "half_norms")

    def __init__(self, index: np.ndarray, starts: np.ndarray, block: np.ndarray, half_norms: np.ndarray) -> None:
        self.size = len(index)
        self._positions = np.empty(8, dtype=np.int64)  # the compiled scan's output buffers (k <= 8)
        self._distances = np.empty(8)
        self._buffers = {}
        for name, array in zip(self.FIELDS, (index, starts, block, half_norms)):
            buffer = np.empty((self.size + max(64, self.size // 4), *array.shape[1:]), dtype=array.dtype)
            buffer[: self.size] = array
            self._buffers[name] = buffer
        self.max_norm = 2 * float(half_norms.max(initial=0.0))  # the largest squared norm
        #: each column's mean and variance over the block as built: the compiled scan sums first the
        #: columns where a query differs most (rows appended later do not move them: the order
        #: decides only how soon a row is dropped, never which rows are kept)
        self.column_mean = block.mean(axis=0) if len(block) else np.zeros(block.shape[1])
        self.column_spread = block.var(axis=0) if len(block) else np.zeros(block.shape[1])
        self.start_list: list[int] = starts.tolist()  # the same times as a list: bisect beats searchsorted on one value
        self.index_list: list[int] = index.tolist()
        self._expose()

    def _expose(self) -> None:
        self.index = self._buffers["index"][: self.size]            # pool row numbers
        self.starts = self._buffers["starts"][: self.size]          # start times (epoch us), ascending
        self.block = self._buffers["block"][: self.size]            # scaled feature rows, contiguous
        self.half_norms = self._buffers["half_norms"][: self.size]  # half their squared norms

    @classmethod
    def of(cls, index: np.ndarray, started_us: np.ndarray, matrix: np.ndarray) -> "_ServiceBlock":
        index = np.asarray(index, dtype=np.intp)
        block = np.ascontiguousarray(matrix[index], dtype=np.float64)
        return cls(index, np.asarray(started_us[index], dtype=np.int64), block,
                   np.einsum("ij,ij->i", block, block) / 2)

    def append(self, position: int, started_us: int, scaled: np.ndarray) -> None:
        """Add one row at the end (a deployment that started after every row here)."""
        if self.size == len(self._buffers["index"]):
            room = max(64, 2 * self.size)
            for name, buffer in self._buffers.items():
                grown = np.empty((room, *buffer.shape[1:]), dtype=buffer.dtype)
                grown[: self.size] = buffer[: self.size]
                self._buffers[name] = grown
        norm = float(scaled @ scaled)
        row = self.size
        self._buffers["index"][row] = position
        self._buffers["starts"][row] = started_us
        self._buffers["block"][row] = scaled
        self._buffers["half_norms"][row] = norm / 2
        self.max_norm = max(self.max_norm, norm)
        self.size += 1
        self.start_list.append(int(started_us))
        self.index_list.append(int(position))
        self._expose()

    def closest(self, scaled: np.ndarray, begin: int, end: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (window positions, exact distances) of the K rows of ``[begin, end)`` nearest
        to SCALED, nearest first, ties to the earlier row: exactly what a full scan gives.

        One matrix-vector product ranks the window by ``|b|^2 / 2 - b.x`` (half the squared
        distance minus a constant); only rows within a generous rounding bound of the K-th
        best can be among the K nearest, and only they get the exact (full-scan) distance.
        """
        if _kernel is not None:  # one exact pass in C: the full-scan answer directly
            positions = np.empty(k, dtype=np.int64)
            distances = np.empty(k)
            found = _kernel.nearest(self.block, begin, end, np.ascontiguousarray(scaled, dtype=np.float64),
                                    k, positions, distances)
            return positions[:found], distances[:found]
        return self._closest_numpy(scaled, begin, end, k)

    def _closest_numpy(self, scaled: np.ndarray, begin: int, end: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`closest` without the compiled kernel (bounded matrix-vector ranking)."""
        block = self.block[begin:end]
        if end - begin <= 8 * k:
            candidates = np.arange(end - begin)
        else:
            score = self.half_norms[begin:end] - block @ scaled
            slack = ESTIMATE_ERROR * (self.max_norm + float(scaled @ scaled) + 1.0)
            sample = score[::16]  # its K-th smallest bounds the K-th smallest of all from above
            bound = np.partition(sample, k - 1)[k - 1] if len(sample) >= k else np.inf
            candidates = np.flatnonzero(score <= bound + 2 * slack)
            if len(candidates) > 64:  # a loose sampled bound: narrow down before exact distances
                kept = score[candidates]
                candidates = candidates[kept <= np.partition(kept, k - 1)[k - 1] + 2 * slack]
        difference = block[candidates] - scaled
        distance = np.sqrt(np.einsum("ij,ij->i", difference, difference))
        best = np.argsort(distance, kind="stable")[:k]
        return candidates[best], distance[best]


@dataclass
class NeighbourPool:
    """Past finished deployments in a scaled feature space, for "similar past deployments"."""

    matrix: np.ndarray            # rows scaled by 1 / scale
    scale: np.ndarray
    ids: list[str]
    services: list[str]
    environments: list[str]
    deployment_types: list[str]
    started_us: np.ndarray
    failed: np.ndarray
    versions: list[str | None]
    statuses: list[str]
    _by_service: dict | None = field(default=None, repr=False)
    _described: dict = field(default_factory=dict, repr=False)  # pool row -> its fixed wire fields
    _spare: np.ndarray | None = field(default=None, repr=False)  # buffer behind matrix, with room to add

    @classmethod
    def build(cls, frame: FeatureFrame, matrix: np.ndarray, limit: int = MAX_NEIGHBOURS) -> "NeighbourPool":
        """Keep the newest LIMIT labelled rows of FRAME (MATRIX is its encoded form)."""
        keep = slice(max(0, len(frame) - limit), len(frame))
        scale = matrix.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        return cls(matrix[keep] / scale, scale, list(frame.ids[keep]), list(frame.services[keep]),
                   list(frame.columns["environment"][keep]), list(frame.columns["deployment_type"][keep]),
                   frame.started_us[keep].astype(np.int64), frame.label[keep].astype(np.int64),
                   list(frame.versions[keep]) if frame.versions is not None else [None] * (keep.stop - keep.start),
                   list(frame.statuses[keep]) if frame.statuses is not None
                   else ["failure" if x else "success" for x in frame.label[keep]])

    def add(self, row: np.ndarray, deployment_id: str, service: str, environment: str, deployment_type: str,
            started_us: int, failed: int, version: str | None = None, status: str | None = None) -> None:
        """Append one finished deployment (its encoded features as of its start)."""
        scaled = row / self.scale
        position = len(self.ids)
        if self._spare is None or len(self._spare) == position or self.matrix.base is not self._spare:
            self._spare = np.empty((max(1024, 2 * position), self.matrix.shape[1]))
            self._spare[:position] = self.matrix
        self._spare[position] = scaled
        self.matrix = self._spare[: position + 1]  # rows beyond stay spare room for the next ones
        self.ids.append(deployment_id)
        self.services.append(service)
        self.environments.append(environment)
        self.deployment_types.append(deployment_type)
        self.started_us = np.append(self.started_us, started_us)
        self.failed = np.append(self.failed, failed)
        self.versions.append(version)
        self.statuses.append(status or ("failure" if failed else "success"))
        if self._by_service is not None:
            for name in (service, None):
                group = self._by_service.get(name)
                if group is not None and len(group.starts) and group.starts[-1] > started_us:
                    self._by_service = None  # out of start order: rebuild the groups on the next query
                    return
            for name in (service, None):
                group = self._by_service.get(name)
                if group is None:
                    self._by_service[name] = _ServiceBlock.of(np.array([position]), self.started_us, self.matrix)
                else:
                    group.append(position, started_us, scaled)

    def prepare(self) -> "NeighbourPool":
        """Build the per-service blocks and the room to add rows now, not on the first query."""
        n = len(self.ids)
        if self._spare is None:
            self._spare = np.empty((n + max(1024, n // 4), self.matrix.shape[1]))
            self._spare[:n] = self.matrix
            self.matrix = self._spare[:n]
        self._groups()
        return self

    def _groups(self) -> dict:
        """Per service (and None for all), the pool rows in start order with their scaled
        features and squared norms (built once, kept up to date by :meth:`add`)."""
        if self._by_service is None:
            order = np.argsort(self.started_us, kind="stable")
            services = np.asarray(self.services, dtype=object)[order]
            groups = {None: _ServiceBlock.of(order, self.started_us, self.matrix)}
            for name in dict.fromkeys(services.tolist()):
                groups[name] = _ServiceBlock.of(order[services == name], self.started_us, self.matrix)
            self._by_service = groups
        return self._by_service

    def _window(self, service: str, before_us: int, k: int, max_candidates: int):
        """The candidate rows for :meth:`nearest` as (service block, begin, end), or None when empty."""
        groups = self._groups()
        group = groups.get(service, groups[None])
        end = bisect.bisect_left(group.start_list, before_us)
        if end < k:
            group = groups[None]
            end = bisect.bisect_left(group.start_list, before_us)
        if end == 0:
            return None
        return group, max(0, end - max_candidates), end

    def nearest(self, row: np.ndarray, service: str, before_us: int, k: int = 3,
                max_candidates: int = 1000) -> list[dict]:
        """Return the K nearest deployments that started before BEFORE_US: from the same
        service when it has at least K of them (its latest MAX_CANDIDATES), else from all.

        Ties go to the earlier row of the window. Same answer as :meth:`nearest_scan` (tested),
        faster: one matrix-vector product ranks the whole window by ``|b|^2 / 2 - b.x`` (half the
        squared distance minus a constant), and only rows within a generous rounding bound of
        the K-th best get their exact distance.
        """
        if k <= 0:
            return []
        window = self._window(service, before_us, k, max_candidates)
        if window is None:
            return []
        group, begin, end = window
        if _kernel is not None and k <= len(group._positions):  # the scan and the maps in one call
            return _kernel.similar(group.block, begin, end, row, k, group._positions, group._distances, self.scale,
                                   group.column_mean, group.column_spread, group.index_list, self._described,
                                   self._similar_base)
        positions, distances = group.closest(row / self.scale, begin, end, k)
        return [self._similar(group.index_list[begin + j], d) for j, d in zip(positions.tolist(), distances.tolist())]

    def nearest_scan(self, row: np.ndarray, service: str, before_us: int, k: int = 3,
                     max_candidates: int = 1000) -> list[dict]:
        """The straightforward form of :meth:`nearest` (exact distance to every row of the
        window, stable sort); the reference the fast form is tested against."""
        if k <= 0:
            return []
        window = self._window(service, before_us, k, max_candidates)
        if window is None:
            return []
        group, begin, end = window
        difference = group.block[begin:end] - row / self.scale
        distance = np.sqrt(np.einsum("ij,ij->i", difference, difference))
        best = np.argsort(distance, kind="stable")[:k]
        return [self._similar(int(group.index[begin + j]), float(distance[j])) for j in best]

    def _similar_base(self, i: int) -> dict:
        """The fixed part of pool row I's wire map (made once, kept in ``_described``)."""
        described = self._described.get(i)
        if described is None:
            described = self._described[i] = {
                "id": self.ids[i], "service": self.services[i], "version": self.versions[i],
                "environment": self.environments[i], "deployment_type": self.deployment_types[i],
                "status": self.statuses[i], "started": int(self.started_us[i]) / 1e6}
        return described

    def _similar(self, i: int, distance: float) -> dict:
        """The wire map of pool row I at DISTANCE from the query."""
        described = self._similar_base(i)
        similar = described.copy()  # a copy of a small map clones its table: cheaper than {**described, ...}
        similar["similarity"] = round(1.0 / (1.0 + distance), 4)
        return similar

    def to_dict(self) -> dict:
        """Plain data for the skops file: numpy arrays only (text as fixed-width unicode arrays,
        which skops stores without pickle and loads 200x faster than lists of str)."""
        def text(values) -> np.ndarray:
            return np.asarray(["" if v is None else str(v) for v in values], dtype=str)

        return {"matrix": self.matrix, "scale": self.scale, "ids": text(self.ids), "services": text(self.services),
                "environments": text(self.environments), "deployment_types": text(self.deployment_types),
                "started_us": self.started_us, "failed": self.failed, "versions": text(self.versions),
                "statuses": text(self.statuses)}

    @classmethod
    def from_dict(cls, data: dict) -> "NeighbourPool":
        """Inverse of :meth:`to_dict`."""
        def text(name: str) -> list[str]:
            return [str(v) for v in np.asarray(data[name]).tolist()]

        return cls(np.asarray(data["matrix"], float), np.asarray(data["scale"], float), text("ids"),
                   text("services"), text("environments"), text("deployment_types"),
                   np.asarray(data["started_us"], np.int64), np.asarray(data["failed"], np.int64),
                   [v or None for v in text("versions")], text("statuses"))


@dataclass
class FailureModel:
    """Everything needed to score a deployment; saved and loaded by :mod:`predictor.models.artifacts`."""

    classifier: HistGradientBoostingClassifier
    calibrator: IsotonicRegression | LogisticRegression
    encoder: FeatureEncoder
    packed: PackedEnsemble
    feature_config: FeatureConfig
    base_rate: float
    neighbours: NeighbourPool
    meta: dict = field(default_factory=dict)

    def probability_many(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated failure probabilities with scikit-learn (batch work and the reference)."""
        with threadpool_limits(limits=training_threads()):
            if isinstance(self.calibrator, IsotonicRegression):
                return self.calibrator.predict(self.classifier.predict_proba(matrix)[:, 1])
            raw = self.classifier.decision_function(matrix).reshape(-1, 1)
            return self.calibrator.predict_proba(raw)[:, 1]

    def probability_frame(self, frame: FeatureFrame) -> np.ndarray:
        """Calibrated failure probabilities of every row of FRAME."""
        return self.probability_many(self.encoder.matrix(frame))


def fit_failure_model(frame: FeatureFrame, config: FeatureConfig, *, calibration_share: float = CALIBRATION_SHARE,
                      tree_params: dict | None = None) -> FailureModel:
    """Fit on the labelled rows of FRAME (in start order): trees on the earlier part,
    calibration (isotonic, or sigmoid below ISOTONIC_MIN_ROWS rows) on the later ``calibration_share``."""
    labelled = frame.take(~np.isnan(frame.label))
    n = len(labelled)
    if n < 50 or np.nansum(labelled.label) < 5 or np.nansum(1 - labelled.label) < 5:
        from predictor.errors import ModelNotReadyError

        raise ModelNotReadyError(
            f"not enough finished deployments to train: {n} with {int(np.nansum(labelled.label))} failures "
            "(need at least 50 with 5 failures and 5 successes)")
    cut = int(n * (1 - calibration_share))
    fit_part, calibration_part = labelled.take(np.arange(cut)), labelled.take(np.arange(cut, n))
    encoder = FeatureEncoder.fit(fit_part)
    fit_matrix = encoder.matrix(fit_part)
    classifier = HistGradientBoostingClassifier(**(tree_params or TREE_PARAMS))
    calibration_matrix = encoder.matrix(calibration_part)
    with threadpool_limits(limits=training_threads()):
        classifier.fit(fit_matrix, fit_part.label)
        uncalibrated = classifier.predict_proba(calibration_matrix)[:, 1]
        raw = classifier.decision_function(calibration_matrix).reshape(-1, 1)
    if n - cut >= ISOTONIC_MIN_ROWS:
        calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        calibrator.fit(uncalibrated, calibration_part.label)
    else:  # isotonic steps overfit small slices (a top bin of five failures says "100%"): Platt instead
        calibrator = LogisticRegression(C=1e4).fit(raw, calibration_part.label)
    packed = PackedEnsemble.from_sklearn(classifier, calibrator, encoder.column_group, len(encoder.groups))
    pool_rows = labelled.take(np.arange(max(0, n - MAX_NEIGHBOURS), n))
    pool_matrix = (calibration_matrix if n - cut >= len(pool_rows)
                   else np.vstack([fit_matrix[len(fit_matrix) - (len(pool_rows) - (n - cut)):], calibration_matrix]))
    return FailureModel(
        classifier=classifier, calibrator=calibrator, encoder=encoder, packed=packed, feature_config=config,
        base_rate=float(labelled.label.mean()),
        neighbours=NeighbourPool.build(pool_rows, pool_matrix[len(pool_matrix) - len(pool_rows):]),
        meta={"n_train": cut, "n_calibration": n - cut,
              "data_from_us": int(labelled.started_us[0]), "data_to_us": int(labelled.started_us[-1])},
    )
