"""The Typer application and what every command shares: options, output, error mapping.

Commands live in one module per area (``predictor/cli/<area>.py``) and stay thin: parse
options, call one library function, print. Errors are mapped to exit status 1 in one place,
:func:`main` in ``predictor/cli/__init__.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from predictor import __version__

app = typer.Typer(
    name="predictor",
    help="Learn from deploy-ledger history; predict failure risk, windows, blast radius and more.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="DuckDB store to use (default: $PREDICTOR_HOME/history.duckdb).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
EndpointOption = Annotated[
    Optional[str],
    typer.Option("--endpoint", help="ZeroMQ endpoint of the daemon (default: $PREDICTOR_ENDPOINT or the ipc socket).",
                 show_default=False),
]


def emit_json(value: Any) -> None:
    """Print VALUE as JSON on standard output (times and paths as strings)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=False) + "\n")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"predictor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Learn from deploy-ledger history; predict failure risk, windows, blast radius and more."""
