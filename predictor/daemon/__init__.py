"""The predictor daemon: serves the protocol of protocol/SPEC.md on a ZeroMQ ROUTER socket.

* :mod:`predictor.daemon.server` -- the loop, dispatch, builtin methods, shutdown;
* :mod:`predictor.daemon.shapes` -- checks of the shared param shapes (deployment, rollback, service);
* :mod:`predictor.daemon.answerers` -- loading the areas' answerers and routing methods to them;
* :mod:`predictor.daemon.prediction_log` -- the batched prediction log;
* :mod:`predictor.daemon.retraining` -- background retraining and promotion;
* :mod:`predictor.daemon.security` -- endpoints, socket file permissions, CurveZMQ keys;
* :mod:`predictor.daemon.journal` -- structured JSON-line logs.
"""

from predictor.daemon.server import Daemon, ServeOptions, serve

__all__ = ["Daemon", "ServeOptions", "serve"]
