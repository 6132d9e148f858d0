"""``predictor demo-data``: write a synthetic ledger history with planted structure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from predictor.cli.app import JsonOption, app, console, emit_json
from predictor.demo.writers import FILE_NAMES, WRITERS, write_demo_files
from predictor.errors import ValidationError


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the files into (created if missing).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes the same history.")] = 0,
    services: Annotated[int, typer.Option("--services", help="Number of services.")] = 20,
    days: Annotated[int, typer.Option("--days", help="Days of history.")] = 120,
    per_day: Annotated[float, typer.Option("--per-day", help="Average deployments per day.")] = 40,
    start: Annotated[Optional[str], typer.Option(
        "--start", help="First day of the history, ISO date in UTC (default 2026-01-05).")] = None,
    formats: Annotated[str, typer.Option(
        "--formats", help=f"Comma-separated formats to write, of {','.join(WRITERS)}, or 'all'.")] = "sqlite,sexp",
    force: Annotated[bool, typer.Option("--force", help="Replace files that already exist.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Write a synthetic deploy-ledger history (SQLite ledger, sexp export, ...) with planted structure."""
    first_day = None
    if start is not None:
        try:
            first_day = dt.datetime.fromisoformat(start)
        except ValueError:
            raise ValidationError("--start", f"expected an ISO date like 2026-01-05, got {start!r}") from None
    names = list(WRITERS) if formats.strip() == "all" else [f.strip() for f in formats.split(",") if f.strip()]
    result = write_demo_files(out_dir, names, seed=seed, services=services, days=days,
                              deployments_per_day=per_day, start=first_day, overwrite=force)
    if json_output:
        emit_json(result)
        return
    info = result["history"]
    console.print(f"demo history (seed {info['seed']}): {info['deployments']} deployments, "
                  f"{info['rollbacks']} rollbacks, {info['services']} services, {info['start']} to {info['end']}")
    console.print(f"written to {Path(out_dir).resolve()}:")
    table = Table("format", "file", "deployments", "rollbacks", "services")
    for summary in result["files"]:
        table.add_row(summary["format"], Path(summary["path"]).name, *(str(summary.get(key, "")) for key in
                                                            ("deployments", "rollbacks", "services")))
    console.print(table)
    console.print(f"ingest them with: predictor ingest {' '.join(str(Path(out_dir) / FILE_NAMES[n]) for n in names[:1])}")
