"""CLI commands of this area (see predictor/cli/__init__.py for the map)."""

from predictor.cli.app import app  # noqa: F401
