"""The failure model: packed inference equals scikit-learn, attribution adds up, calibration,
beating the baselines on a time-ordered split, abstaining, refusing unsafe model files, registry."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from predictor.errors import ModelFileError, ModelNotReadyError, NotFoundError, PredictorError, ValidationError
from predictor.features import FeatureConfig
from predictor.features.training import training_features
from predictor.models import artifacts, registry
from predictor.models.baselines import BASELINES, service_profiles
from predictor.models.evaluation import evaluate_frame
from predictor.models.failure_model import fit_failure_model
from predictor.models.metrics import expected_calibration_error
from predictor.models.runtime import load_answerer
from predictor.models.train import train_and_register


@pytest.fixture(scope="module")
def large_frame(large_history):
    store, _ = large_history
    return training_features(store, FeatureConfig())


@pytest.fixture(scope="module")
def evaluation(large_history, large_frame):
    store, _ = large_history
    ids, profiles = service_profiles(store)
    assert (ids == large_frame.ids).all()
    return evaluate_frame(large_frame, FeatureConfig(), profiles=profiles, folds=2, test_share=0.45)


@pytest.fixture(scope="module", params=["isotonic", "sigmoid"])
def fitted(request, large_frame):
    rows = len(large_frame) * 6 // 10 if request.param == "isotonic" else 3000
    model = fit_failure_model(large_frame.take(np.arange(rows)), FeatureConfig())
    assert type(model.calibrator).__name__ == {"isotonic": "IsotonicRegression",
                                               "sigmoid": "LogisticRegression"}[request.param]
    return model


@pytest.fixture(params=["compiled", "numpy"])
def kernel(request, monkeypatch):
    """Run a test with the compiled loops and again with their numpy form."""
    from predictor.models import failure_model, packed
    if request.param == "numpy":
        monkeypatch.setattr(packed, "_kernel", None)
        monkeypatch.setattr(failure_model, "_kernel", None)
    else:  # scripts/setup builds it: its absence is a failed install, not a reason to skip
        assert packed.KERNEL == "compiled", "predictor/models/_kernel.c was not built (see setup.py)"
    return request.param


def test_packed_inference_equals_scikit_learn(fitted, large_frame, kernel):
    model = fitted
    matrix = model.encoder.matrix(large_frame)
    reference = model.probability_many(matrix)  # scikit-learn's predict_proba + its calibrator
    reference_raw = model.classifier._raw_predict(matrix).ravel()
    assert np.abs(model.packed.probability_many(matrix) - reference).max() <= 1e-9
    assert np.abs(model.packed.raw_many(matrix) - reference_raw).max() <= 1e-9
    for i in range(0, len(matrix), 50):
        probability, raw, contributions = model.packed.explain_one(matrix[i])
        assert abs(probability - reference[i]) <= 1e-9
        assert abs(raw - reference_raw[i]) <= 1e-9
        # path attribution: contributions add up to the raw score minus the bias
        assert abs(contributions.sum() - (raw - model.packed.bias)) <= 1e-9
    # the calibration map is not the identity, so the check above covers it
    assert np.abs(reference - model.classifier.predict_proba(matrix)[:, 1]).max() > 0.01


def test_calibration_error_is_small_on_a_large_held_out_slice(evaluation):
    label, probability = evaluation.test_label, evaluation.test_scores["model"]
    assert len(label) >= 10_000
    assert expected_calibration_error(label, probability) <= 0.03


def test_model_beats_every_baseline_on_roc_auc(evaluation):
    metrics = evaluation.metrics
    assert set(BASELINES) <= set(metrics)
    for baseline in BASELINES:
        assert metrics["model"]["roc_auc"] > metrics[baseline]["roc_auc"] + 0.01, (baseline, metrics[baseline])
    assert metrics["model"]["caught_at_20"] > metrics["previous_outcome"]["caught_at_20"]
    for fold in evaluation.folds:
        assert fold["train_rows"] < fold["train_rows"] + fold["test_rows"]


def test_train_register_serve_abstain_and_rollback(small_history, tmp_path):
    store, _ = small_history
    with pytest.raises(ModelNotReadyError, match="predictor train"):
        load_answerer(store)
    first = train_and_register(store, evaluate_first=False, plots=True, training_data=True,
                               artifacts_root=tmp_path / "models")
    assert first.champion
    for name in ("model.skops", "evaluation-metrics.json", "feature-importance.png", "calibration.png",
                 "risk-heatmap.png", "training-data.csv"):
        assert (first.artifact_dir / name).stat().st_size > 0, name
    answerer = load_answerer(store)
    assert answerer.version == first.version and set(answerer.methods) == {"predict", "predict_batch"}
    known = answerer.methods["predict"]({"deployment": {"id": "d-1", "service": "svc-001",
                                                         "environment": "production", "deployment_type": "big-bang",
                                                         "started": 1_780_000_000, "change_size": 300}})
    assert known["abstained"] is False and 0 < known["failure_probability"] < 1
    assert known["factors"] and known["similar_deployments"]
    assert all(s["service"] == "svc-001" for s in known["similar_deployments"])
    fresh = answerer.methods["predict"]({"deployment": {"service": "brand-new", "environment": "production"}})
    assert fresh["abstained"] is True
    assert fresh["reason"] == "insufficient history: 0 past deployments of brand-new (need 5)"
    assert fresh["failure_probability"] == pytest.approx(fresh["base_rate"])
    # recorded outcomes count at once: after five, the new service gets a real answer
    for i in range(5):
        answerer.observe("deployment", {"id": f"new-{i}", "service": "brand-new", "environment": "production",
                                        "started": 1_780_000_000 + i * 600, "completed": 1_780_000_100 + i * 600,
                                        "status": "success"})
    later = answerer.methods["predict"]({"deployment": {"service": "brand-new", "environment": "production",
                                                        "started": 1_780_010_000}})
    assert later["abstained"] is False
    assert any(s["id"].startswith("new-") for s in later["similar_deployments"])
    batch = answerer.methods["predict_batch"]({"deployments": [{"service": "svc-001", "environment": "staging",
                                                                 "started": 1_780_000_000}] * 3})
    assert len(batch["predictions"]) == 3
    with pytest.raises(ValidationError) as error:
        answerer.methods["predict_batch"]({"deployments": [{"service": "svc-001", "environment": "x"},
                                                            {"service": 7, "environment": "x"}]})
    assert error.value.field == "params.deployments[1].service"
    with pytest.raises(ValidationError) as error:
        answerer.methods["predict"]({"deployment": {"service": "a", "environment": "x", "started": 1e12}})
    assert error.value.field == "params.deployment.started"

    second = train_and_register(store, evaluate_first=False, plots=False, promote="never",
                                artifacts_root=tmp_path / "models")
    assert not second.champion and registry.champion(store).version == first.version
    registry.promote(store, second.version)
    assert registry.champion(store).version == second.version
    back = registry.rollback(store)
    assert back.version == first.version and registry.champion(store).version == first.version
    with pytest.raises(PredictorError, match="nothing to roll back"):
        registry.rollback(store)
    # if-better: same data and seed rank the newest slice as well as the champion, so it is promoted
    third = train_and_register(store, evaluate_first=False, plots=False, artifacts_root=tmp_path / "models")
    newest = third.metrics["newest_slice"]
    assert newest["champion_roc_auc"] == pytest.approx(newest["roc_auc"]) and third.champion
    with pytest.raises(NotFoundError, match="no-such-version"):
        registry.promote(store, "no-such-version")


def test_a_pickle_or_garbage_model_file_is_refused(small_history, tmp_path):
    store, _ = small_history
    record = train_and_register(store, evaluate_first=False, plots=False, artifacts_root=tmp_path / "models")
    model_file = record.artifact_dir / artifacts.MODEL_FILE
    assert artifacts.load_model(model_file).meta["version"] == record.version
    pickled = tmp_path / "evil.skops"
    pickled.write_bytes(pickle.dumps({"classifier": "anything"}))
    with pytest.raises(ModelFileError, match="refusing to load: a pickle file"):
        artifacts.load_model(pickled)
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="garbage.skops"):
        artifacts.load_model(garbage)
    import functools
    import operator

    import skops.io as sio

    sneaky = tmp_path / "sneaky.skops"
    sio.dump({"format": artifacts.FORMAT, "hook": functools.partial(operator.add, 1)}, sneaky)
    with pytest.raises(ModelFileError, match=r"untrusted types \['_operator.add', 'functools.partial'\]"):
        artifacts.load_model(sneaky)
    # a swapped model file makes the answerer refuse to load, with the path in the message
    model_file.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ModelFileError, match="model.skops: refusing to load"):
        load_answerer(store)
