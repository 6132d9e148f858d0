"""CLI commands of the estimates area: suggest-time, risk, estimate, forecast.

Each takes the deployment or service from options or from ``--input`` (a JSON object in the
wire shape of the matching daemon method; options given as well override its keys), calls
one library function and prints a readable answer, or ``--json``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.tree import Tree

from predictor.cli.app import DbOption, EndpointOption, JsonOption, app, console, emit_json
from predictor.errors import ValidationError

InputOption = Annotated[
    Optional[str],
    typer.Option("--input", help="Read the request from this JSON file ('-' for standard input); "
                                  "options given as well override its keys.", show_default=False),
]
ServiceOption = Annotated[Optional[str], typer.Option("--service", "-s", help="Service to deploy.", show_default=False)]
EnvironmentOption = Annotated[Optional[str], typer.Option("--environment", "-e", help="Target environment.",
                                                          show_default=False)]
TypeOption = Annotated[Optional[str], typer.Option("--type", "-t", help="Deployment type (rolling, canary, ...).",
                                                   show_default=False)]
ChangeOption = Annotated[Optional[float], typer.Option("--change-size", help="Lines or files changed.",
                                                       show_default=False)]


# -- shared helpers ---------------------------------------------------------------------------
def _epoch(text: str, option: str) -> float:
    """Parse an ISO-8601 time (UTC unless it says otherwise) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(option, f"expected an ISO-8601 time or epoch seconds, got {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _params(input_path: Optional[str], **options) -> dict:
    """The request: --input's JSON object with the options given laid over it."""
    params: dict = {}
    if input_path is not None:
        try:
            text = sys.stdin.read() if input_path == "-" else Path(input_path).read_text()
        except OSError as exc:
            raise ValidationError("--input", f"cannot read {input_path}: {exc.strerror}") from exc
        try:
            params = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("--input", f"{input_path}: not JSON (line {exc.lineno}, column {exc.colno}: "
                                             f"{exc.msg})") from exc
        if not isinstance(params, dict):
            raise ValidationError("--input", f"{input_path}: expected a JSON object, got {type(params).__name__}")
    for key, value in options.items():
        if value is not None:
            params[key] = value
    return params


DEPLOYMENT_KEYS = ("service", "environment", "deployment_type", "started", "change_size", "version")


def _nest_deployment(params: dict) -> dict:
    """Move top-level deployment fields under "deployment" (the wire shape of analyze_risk and estimate)."""
    deployment = dict(params.get("deployment") or {})
    for key in DEPLOYMENT_KEYS:
        if key in params:
            deployment[key] = params.pop(key)
    params["deployment"] = deployment
    return params


def _answer(db: Optional[Path], endpoint: Optional[str], method: str, params: dict) -> dict:
    """Ask the running daemon (it owns the store then), else answer from the store directly.

    ``--db`` always means the store directly.
    """
    from predictor.client import call, daemon_running

    if db is None and daemon_running(endpoint):
        return call(method, params, endpoint=endpoint)
    from predictor.estimates.runtime import answer
    from predictor.store import open_store

    with open_store(db, read_only=True) as store:
        return answer(store, method, params)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = int(round(value))
    hours, rest = divmod(value, 3600)
    minutes, seconds = divmod(rest, 60)
    return (f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s")


# -- suggest-time -----------------------------------------------------------------------------
@app.command("suggest-time")
def suggest_time_command(
    service: ServiceOption = None,
    environment: EnvironmentOption = None,
    deployment_type: TypeOption = None,
    change_size: ChangeOption = None,
    start: Annotated[Optional[str], typer.Option("--from", help="Start of the range (ISO-8601 or epoch; default now).",
                                                 show_default=False)] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="End of the range (default: 7 days after --from).",
                                               show_default=False)] = None,
    now: Annotated[Optional[str], typer.Option("--now", help="The moment to compare with (default: the real now).",
                                               show_default=False)] = None,
    step: Annotated[Optional[int], typer.Option("--step", help="Minutes between candidate start times (default 15).",
                                                show_default=False)] = None,
    top: Annotated[Optional[int], typer.Option("--top", help="How many windows to return (default 3).",
                                               show_default=False)] = None,
    window_minutes: Annotated[Optional[float], typer.Option(
        "--window-minutes", help="Length of a window (default: the p90 duration estimate).", show_default=False)] = None,
    business_hours: Annotated[Optional[str], typer.Option(
        "--business-hours", help="Allowed local hours, e.g. 09:00-17:00 (Monday to Friday).", show_default=False)] = None,
    timezone: Annotated[Optional[str], typer.Option("--timezone", help="IANA time zone of the business hours.",
                                                    show_default=False)] = None,
    freeze: Annotated[Optional[list[str]], typer.Option(
        "--freeze", help="A freeze window START/END (ISO-8601); repeatable.", show_default=False)] = None,
    exclude_weekday: Annotated[Optional[list[str]], typer.Option(
        "--exclude-weekday", help="A weekday to avoid (mon..sun or 0-6); repeatable.", show_default=False)] = None,
    min_gap: Annotated[Optional[float], typer.Option(
        "--min-gap", help="Minimum minutes after the service's previous deployment.", show_default=False)] = None,
    input_path: InputOption = None,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Suggest the deployment windows with the lowest expected failure probability."""
    params = _params(input_path, service=service, environment=environment, deployment_type=deployment_type,
                     change_size=change_size, step_minutes=step, top_n=top, window_minutes=window_minutes,
                     **{"from": None if start is None else _epoch(start, "--from"),
                        "to": None if end is None else _epoch(end, "--to"),
                        "now": None if now is None else _epoch(now, "--now")})
    constraints = dict(params.get("constraints") or {})
    if business_hours is not None:
        parts = business_hours.split("-")
        if len(parts) != 2:
            raise ValidationError("--business-hours", f"expected START-END like 09:00-17:00, got {business_hours!r}")
        constraints["business_hours"] = {"start": parts[0], "end": parts[1], "timezone": timezone or "UTC"}
    elif timezone is not None:
        constraints["timezone"] = timezone
    if freeze:
        windows = []
        for item in freeze:
            if "/" not in item:
                raise ValidationError("--freeze", f"expected START/END, got {item!r}")
            a, b = item.split("/", 1)
            windows.append({"start": _epoch(a, "--freeze"), "end": _epoch(b, "--freeze"), "reason": "freeze window"})
        constraints["freeze_windows"] = windows
    if exclude_weekday:
        constraints["excluded_weekdays"] = [int(d) if d.isdigit() else d for d in exclude_weekday]
    if min_gap is not None:
        constraints["min_gap_minutes"] = min_gap
    if constraints:
        params["constraints"] = constraints
    result = _answer(db, endpoint, "suggest_time", params)
    if as_json:
        emit_json(result)
        return
    now_info = result["now"]
    console.print(f"[bold]{result['service']}[/bold] to {result['environment']}: "
                  f"{result['candidates_allowed']} of {result['candidates']} start times allowed "
                  f"({result['window_minutes']:.0f}-minute windows, {result['window_basis']}; scorer {result['scorer']})")
    console.print(f"Now ({_when(now_info['start'])}): failure probability {now_info['failure_probability']:.1%} "
                  f"({now_info['risk_level']})" + (f", breaks {', '.join(now_info['violations'])}"
                                                    if now_info["violations"] else ""))
    if result.get("insufficient_history"):
        console.print(f"[yellow]{result['insufficient_history']}[/yellow]")
    if not result["windows"]:
        console.print("[yellow]No start time in the range satisfies the constraints.[/yellow]")
        return
    table = Table(title="Suggested deployment windows")
    for column in ("#", "start", "minutes", "failure p", "level", "vs now"):
        table.add_column(column)
    for rank, window in enumerate(result["windows"], 1):
        table.add_row(str(rank), window["local_start"], f"{(window['end'] - window['start']) / 60:.0f}",
                      f"{window['failure_probability']:.1%}", window["risk_level"],
                      f"{-100 * window['improvement_vs_now']:+.1f} pts")
    console.print(table)
    for rank, window in enumerate(result["windows"], 1):
        console.print(f"{rank}. " + "; ".join(window["reasons"]), highlight=False)


# -- risk -------------------------------------------------------------------------------------
@app.command("risk")
def risk_command(
    service: ServiceOption = None,
    environment: EnvironmentOption = None,
    at: Annotated[Optional[str], typer.Option("--at", help="When the deployment starts (default now).",
                                              show_default=False)] = None,
    depends_on: Annotated[Optional[list[str]], typer.Option(
        "--depends-on", help="Extra or changed dependency of the service, NAME or NAME:KIND; repeatable.",
        show_default=False)] = None,
    failure_probability: Annotated[Optional[float], typer.Option(
        "--failure-probability", help="Use this failure probability instead of the service's history.",
        show_default=False)] = None,
    max_depth: Annotated[Optional[int], typer.Option("--max-depth", help="Stop the walk after this many hops.",
                                                     show_default=False)] = None,
    input_path: InputOption = None,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the blast radius of a failed deployment: who depends on it, how strongly, how critical."""
    params = _params(input_path, service=service, environment=environment, failure_probability=failure_probability,
                     max_depth=max_depth, started=None if at is None else _epoch(at, "--at"))
    if depends_on:
        extra = []
        for item in depends_on:
            name, _, kind = item.partition(":")
            extra.append({"depends_on": name, "kind": kind or "hard"})
        params["dependencies"] = list(params.get("dependencies") or []) + extra
    result = _answer(db, endpoint, "analyze_risk", _nest_deployment(params))
    if as_json:
        emit_json(result)
        return
    console.print(f"Risk of deploying [bold]{result['service']}[/bold]: {result['risk_score']:.2f} "
                  f"([bold]{result['risk_level']}[/bold]); failure probability {result['failure_probability']:.1%}")
    for factor in result["factors"]:
        console.print(f"  {factor['contribution']:+.3f}  {factor['description']}")
    tree = Tree(f"[bold]{result['service']}[/bold] ({result['affected_count']} affected, "
                f"max distance {result['max_distance']})")
    nodes = {result["service"]: tree}
    for item in result["affected"]:   # ordered by distance, so every parent is placed first
        parent = nodes.get(item["via"], tree)
        nodes[item["service"]] = parent.add(
            f"{item['service']} ({item['kind']}) distance {item['distance']}, criticality {item['criticality']:.2f} "
            f"({item['deploys_per_week']:.1f} deploys/week, failure rate {item['failure_rate']:.1%}, "
            f"{item['dependents']} dependents)")
    console.print(tree)
    if result["concurrent_deployments"]:
        console.print("Concurrent deployments of neighbours:")
        for item in result["concurrent_deployments"]:
            console.print(f"  {item['service']} ({item['relation']}) started {_when(item['started'])} "
                          f"in {item['environment']}")


# -- estimate ---------------------------------------------------------------------------------
@app.command("estimate")
def estimate_command(
    service: ServiceOption = None,
    environment: EnvironmentOption = None,
    deployment_type: TypeOption = None,
    change_size: ChangeOption = None,
    input_path: InputOption = None,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate a deployment's duration (p50, p90) and resources (cpu, memory, replicas)."""
    params = _params(input_path, service=service, environment=environment, deployment_type=deployment_type,
                     change_size=change_size)
    result = _answer(db, endpoint, "estimate", _nest_deployment(params))
    if as_json:
        emit_json(result)
        return
    duration = result["duration"]
    console.print(f"[bold]{result['service']}[/bold] to {result['environment']}"
                  + (f" ({result['deployment_type']})" if result["deployment_type"] else ""))
    if duration is None:
        console.print(f"Duration: no estimate ({result['insufficient_history']})")
    else:
        console.print(f"Duration: p50 {_seconds(duration['p50'])}, p90 {_seconds(duration['p90'])} "
                      f"(9 in 10 such deployments finish within the p90; service median "
                      f"{_seconds(duration['service_median'])} over {duration['history_count']} deployments)")
        if result["insufficient_history"]:
            console.print(f"[yellow]{result['insufficient_history']}[/yellow]")
    if result["resources"]:
        table = Table(title="Resources recorded for this service")
        for column in ("resource", "p50", "p90", "unit", "from"):
            table.add_column(column)
        for kind, item in result["resources"].items():
            table.add_row(kind, f"{item['p50']:g}", f"{item['p90']:g}", item["unit"],
                          f"{item['count']} deployments ({item['basis']})")
        console.print(table)
    else:
        console.print("Resources: none recorded in this service's metadata or configuration")


# -- forecast ---------------------------------------------------------------------------------
@app.command("forecast")
def forecast_command(
    service: ServiceOption = None,
    environment: EnvironmentOption = None,
    weeks: Annotated[Optional[int], typer.Option("--weeks", help="How many weeks ahead (default 2).",
                                                 show_default=False)] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="First forecast day (default: after the history).",
                                                 show_default=False)] = None,
    input_path: InputOption = None,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forecast deployments per day and week, per service and environment."""
    params = _params(input_path, service=service, environment=environment, weeks=weeks,
                     **{"from": None if start is None else _epoch(start, "--from")})
    result = _answer(db, endpoint, "forecast", params)
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"Expected deployments per week (80% interval), from {_when(result['from'])[:10]}")
    table.add_column("service")
    table.add_column("environment")
    weeks_list = result["weeks"]
    for week in weeks_list:
        partial = "" if week["days_covered"] == 7 else f" ({week['days_covered']} d)"
        table.add_column(f"week of {week['week']}{partial}")
    table.add_column("trend/week")
    for series in result["series"]:
        table.add_row(series["service"], series["environment"],
                      *[f"{w['expected']:.1f} ({w['low']:.0f}-{w['high']:.0f})" for w in series["weeks"]],
                      f"{series['trend_per_week']:+.1%}")
    if len(result["series"]) > 1:
        table.add_row("[bold]all[/bold]", "", *[f"{w['expected']:.1f} ({w['low']:.0f}-{w['high']:.0f})"
                                               for w in weeks_list], "")
    console.print(table)
