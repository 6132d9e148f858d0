"""The failure model: training, calibration, packed inference, attribution, evaluation, registry.

Public entry points:

* :func:`predictor.models.train.train_and_register` (``predictor train``, the daemon's retraining),
* :func:`predictor.models.train.evaluate` (``predictor evaluate``),
* :func:`predictor.models.runtime.load_answerer` (the daemon: ``predict``, ``predict_batch``),
* :func:`predictor.models.runtime.load_predictor` -> :class:`predictor.models.answers.FailurePredictor`
  (``answer(record)`` for one validated deployment; other areas may score candidates with it),
* :func:`predictor.models.scoring.predict_deployment` / ``score_file`` (``predictor predict``),
* :mod:`predictor.models.registry` (``predictor models list|promote|rollback``).
"""
