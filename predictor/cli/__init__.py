"""The ``predictor`` command line. Each area registers its commands on the shared app."""

from __future__ import annotations

import sys

from rich.text import Text

from predictor.cli.app import app, err_console
from predictor.errors import PredictorError

# Importing an area module registers its commands on ``app``; each area owns its module.
from predictor.cli import (  # noqa: F401,E402
    history,      # ingest, history, stats
    demo_data,    # demo-data
    models,       # train, evaluate, predict, models
    estimates,    # suggest-time, risk, estimate, forecast
    patterns,     # record, recommendations, adaptations, rollback-scenarios, analytics, demo
    daemon,       # serve, ping, status, keys
    scheme,       # scheme-path
)


def main() -> None:
    """Run the CLI; a :class:`PredictorError` becomes a one-line message and exit status 1."""
    try:
        app()
    except PredictorError as exc:
        err_console.print(Text.assemble(("error: ", "bold red"), str(exc)))
        sys.exit(1)
