"""The models area's answerer for the daemon: ``predict`` and ``predict_batch``.

``load_answerer(store)`` loads the champion failure model (refusing anything but an audited
skops file), builds the in-memory feature state from the store once, and then answers from
memory; the daemon calls ``observe`` after each ``record`` so new facts count at once.
"""

from __future__ import annotations

from typing import Callable

from predictor.errors import ModelNotReadyError, ValidationError
from predictor.features.serving import FeatureState
from predictor.models import artifacts, registry
from predictor.models.answers import FailurePredictor, plain_deployment, validate_deployment

MAX_BATCH = 1000


class FailureAnswerer:
    """Answers the failure questions of the wire protocol (see protocol/SPEC.md, predict)."""

    def __init__(self, predictor: FailurePredictor) -> None:
        self.predictor = predictor
        self.version = predictor.version
        self.model_version = predictor.version
        #: the compiled whole-request path of ``predict`` and ``predict_batch`` (FailurePredictor.wire), or None
        self.wire = predictor.wire()
        self.methods: dict[str, Callable[[dict], dict]] = {
            "predict": self.predict,
            "predict_batch": self.predict_batch,
        }

    def predict(self, params: dict) -> dict:
        """Answer one ``predict`` request."""
        if not isinstance(params, dict):
            raise ValidationError("params", f"expected a map, found {type(params).__name__}")
        record = validate_deployment(params.get("deployment"), "params.deployment")
        return self.predictor.answer(record, explain=params.get("explain", True) is not False)

    def predict_batch(self, params: dict) -> dict:
        """Answer one ``predict_batch`` request (1 to 1000 deployments, answers in order)."""
        if not isinstance(params, dict):
            raise ValidationError("params", f"expected a map, found {type(params).__name__}")
        items = params.get("deployments")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            found = f"{len(items)} items" if isinstance(items, list) else type(items).__name__
            raise ValidationError("params.deployments", f"expected an array of 1-{MAX_BATCH} deployments, found {found}")
        if params.get("explain", True) is False:
            if plain_deployment is not None and all(plain_deployment(item) and item.get("started") is not None
                                                    for item in items):
                # every map is surely valid and has its start: the batch reads the wire maps as
                # they are (epoch seconds included), no copies, no datetimes
                return {"predictions": self.predictor.answer_many(items)}
            records = [validate_deployment(item, f"params.deployments[{i}]") for i, item in enumerate(items)]
            return {"predictions": self.predictor.answer_many(records)}
        records = [validate_deployment(item, f"params.deployments[{i}]") for i, item in enumerate(items)]
        return {"predictions": [self.predictor.answer(record) for record in records]}

    def observe(self, kind: str, record: dict) -> None:
        """Take in a recorded deployment, rollback or service."""
        self.predictor.observe(kind, record)


def load_predictor(store, version: str | None = None) -> FailurePredictor:
    """Load the champion (or VERSION) and build its feature state from STORE."""
    if version is None:
        record = registry.champion(store, "failure")
        if record is None:
            raise ModelNotReadyError("no trained failure model: run `predictor train` (after `predictor ingest`)")
    else:
        record = registry.get_model(store, version)
    model = artifacts.load_model(record.artifact_dir / artifacts.MODEL_FILE)
    model.meta.setdefault("version", record.version)
    state = FeatureState.from_store(store, model.feature_config)
    return FailurePredictor(model, state)


def load_answerer(store) -> FailureAnswerer:
    """Return the failure answerer of the champion model; ModelNotReadyError when none is trained."""
    return FailureAnswerer(load_predictor(store))
