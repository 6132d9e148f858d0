"""CLI commands of the history area: ``ingest``, ``history`` and ``stats``.

Thin: each parses its options, calls one library function, and prints a table or ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from predictor.cli.app import DbOption, JsonOption, app, console, emit_json, err_console
from predictor.store import open_store
from predictor.store.ingest import ingest_paths
from predictor.store.query import history as query_history
from predictor.store.query import parse_time_option, stats as query_stats


@app.command("ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Ledger files: SQLite db, sexp/JSON/CSV export, feature "
                                                     "lines, or plain CSV/JSON Lines/Parquet (detected by content).")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Skip and report invalid records instead of "
                                                                      "rejecting the whole file.")] = False,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Ingest deploy-ledger history into the store (idempotent, one transaction per file)."""
    with open_store(db) as store:
        reports = ingest_paths(store, paths, skip_invalid=skip_invalid, progress=not json_output)
    if json_output:
        emit_json([report.to_dict() for report in reports])
        return
    table = Table(title="ingest summary")
    for column in ("file", "format", "table", "inserted", "updated", "unchanged", "skipped"):
        numeric = column in ("inserted", "updated", "unchanged", "skipped")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for report in reports:
        first = True
        for name, counts in (report.summary() or {"-": {}}).items():
            table.add_row(Path(report.path).name if first else "", report.format if first else "", name,
                          *(str(counts.get(k, 0)) for k in ("inserted", "updated", "unchanged", "skipped")))
            first = False
    console.print(table)
    for report in reports:
        for error in report.skipped:
            err_console.print(f"skipped: {error}", markup=False, highlight=False)


@app.command("history")
def history_command(
    service: Annotated[Optional[str], typer.Option(help="Only this service.")] = None,
    environment: Annotated[Optional[str], typer.Option(help="Only this environment.")] = None,
    status: Annotated[Optional[str], typer.Option(help="Only this status (success, failure, ...).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Started at or after this ISO-8601 date or time (UTC).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Started before this ISO-8601 date or time (UTC).")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many deployments, newest first (0: all).")] = 50,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show deployment history, newest first, filtered."""
    with open_store(db) as store:
        rows = query_history(store, service=service, environment=environment, status=status,
                             since=parse_time_option(since, "--since"), until=parse_time_option(until, "--until"),
                             limit=limit or None)
    if json_output:
        emit_json(rows)
        return
    table = Table(title=f"deployments ({len(rows)})")
    for column in ("id", "service", "version", "environment", "type", "started", "status", "duration"):
        table.add_column(column)
    for row in rows:
        duration = "" if row["duration_seconds"] is None else f"{row['duration_seconds']:.0f}s"
        table.add_row(row["id"], row["service"], row["version"] or "", row["environment"], row["deployment_type"] or "",
                      row["started"].strftime("%Y-%m-%d %H:%M:%S"), row["status"], duration)
    console.print(table)


@app.command("stats")
def stats_command(
    service: Annotated[Optional[str], typer.Option(help="Only this service.")] = None,
    environment: Annotated[Optional[str], typer.Option(help="Only this environment.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Started at or after this ISO-8601 date or time (UTC).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Started before this ISO-8601 date or time (UTC).")] = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show deployment counts and failure rates per service and environment."""
    with open_store(db) as store:
        rows = query_stats(store, service=service, environment=environment,
                           since=parse_time_option(since, "--since"), until=parse_time_option(until, "--until"))
    if json_output:
        emit_json(rows)
        return
    table = Table(title="deployments per service and environment")
    for column in ("service", "environment", "deployments", "successes", "failures", "failure rate", "mean duration",
                   "rollbacks", "last started"):
        table.add_column(column, justify="left" if column in ("service", "environment", "last started") else "right")
    for row in rows:
        rate = "-" if row["failure_rate"] is None else f"{row['failure_rate']:.1%}"
        duration = "-" if row["mean_duration_seconds"] is None else f"{row['mean_duration_seconds']:.0f}s"
        table.add_row(row["service"], row["environment"], str(row["deployments"]), str(row["successes"]),
                      str(row["failures"]), rate, duration, str(row["rollbacks"]),
                      row["last_started"].strftime("%Y-%m-%d %H:%M"))
    console.print(table)
