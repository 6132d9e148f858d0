"""CLI commands of the patterns area: record, recommendations, adaptations, rollback-scenarios, analytics, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from predictor.cli.app import DbOption, EndpointOption, JsonOption, app, console, emit_json
from predictor.errors import ValidationError


def _split(values: Optional[list[str]]) -> list[str]:
    """Return repeated and comma-separated option values as one list."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _show(method: str, result: dict, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    from predictor.patterns.report import RENDERERS

    RENDERERS[method](result, console)


@app.command("record")
def record_command(
    kind: Annotated[str, typer.Option("--kind", "-k", help="What to record: execution, outcome, rollback or service.")] = "execution",
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="JSON file ('-' for stdin): a record, a list, or {\"deployments\": [...], \"rollbacks\": [...], \"services\": [...]}.", show_default=False)] = None,
    id: Annotated[Optional[str], typer.Option("--id", help="Deployment or rollback id (generated for a new one when absent).", show_default=False)] = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Service name.", show_default=False)] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="Version deployed.", show_default=False)] = None,
    environment: Annotated[Optional[str], typer.Option("--environment", "-e", help="Target environment, e.g. production.", show_default=False)] = None,
    deployment_type: Annotated[Optional[str], typer.Option("--type", help="Deployment type: blue-green, canary, rolling, big-bang, feature-flag, a-b-test.", show_default=False)] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", "-s", help="Strategy used (defaults to the deployment type when learning).", show_default=False)] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="success, failure, rolled-back, partial, cancelled, pending or in-progress (rollbacks: their own status).", show_default=False)] = None,
    started: Annotated[Optional[str], typer.Option("--started", help="Start time, ISO-8601 UTC or epoch seconds (default: now).", show_default=False)] = None,
    completed: Annotated[Optional[str], typer.Option("--completed", help="End time, ISO-8601 UTC or epoch seconds (outcomes default to now).", show_default=False)] = None,
    commit_time: Annotated[Optional[str], typer.Option("--commit-time", help="Time of the change's first commit (for DORA lead time).", show_default=False)] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Configuration used, as a JSON object.", show_default=False)] = None,
    set_values: Annotated[Optional[list[str]], typer.Option("--set", help="One configuration value KEY=VALUE (VALUE parsed as JSON when it can be); repeatable.", show_default=False)] = None,
    resources: Annotated[Optional[list[str]], typer.Option("--resources", "-r", help="Resources deployed, comma-separated or repeated.", show_default=False)] = None,
    failure_reasons: Annotated[Optional[list[str]], typer.Option("--failure-reason", help="A failure reason; repeatable.", show_default=False)] = None,
    rollback_triggered: Annotated[Optional[bool], typer.Option("--rollback-triggered/--no-rollback-triggered", help="Whether a rollback was triggered.", show_default=False)] = None,
    rollback_successful: Annotated[Optional[bool], typer.Option("--rollback-successful/--rollback-failed", help="Whether the rollback restored service.", show_default=False)] = None,
    automated: Annotated[Optional[bool], typer.Option("--automated/--manual", help="Whether the deployment ran unattended.", show_default=False)] = None,
    initiator: Annotated[Optional[str], typer.Option("--initiator", help="Who or what started it.", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Execution name (or the service name with --kind service).", show_default=False)] = None,
    source_environment: Annotated[Optional[str], typer.Option("--source-environment", help="Environment promoted from.", show_default=False)] = None,
    target_host: Annotated[Optional[str], typer.Option("--target-host", help="Host deployed to.", show_default=False)] = None,
    log_excerpt: Annotated[Optional[str], typer.Option("--log-excerpt", help="A short excerpt of the deployment log.", show_default=False)] = None,
    performance: Annotated[Optional[str], typer.Option("--performance", help="Performance figures as a JSON object of numbers.", show_default=False)] = None,
    lessons: Annotated[Optional[list[str]], typer.Option("--lesson", help="A lesson learned; repeatable.", show_default=False)] = None,
    deployment_id: Annotated[Optional[str], typer.Option("--deployment-id", help="Rollbacks: the deployment undone.", show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Rollbacks: why.", show_default=False)] = None,
    from_version: Annotated[Optional[str], typer.Option("--from-version", help="Rollbacks: version rolled back from.", show_default=False)] = None,
    to_version: Annotated[Optional[str], typer.Option("--to-version", help="Rollbacks: version restored.", show_default=False)] = None,
    recovery_seconds: Annotated[Optional[float], typer.Option("--recovery-seconds", help="Rollbacks: time to restore service.", show_default=False)] = None,
    steps: Annotated[Optional[list[str]], typer.Option("--step", help="Rollbacks: one step taken; repeatable, in order.", show_default=False)] = None,
    service_type: Annotated[Optional[str], typer.Option("--service-type", help="Services: monolith, microservice, serverless, batch-job, edge-function.", show_default=False)] = None,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an execution, an outcome, a rollback or a service (through the daemon when it runs)."""
    from predictor.patterns.ask import parse_records, record, records_from_options

    if file is not None:
        text = sys.stdin.read() if file == "-" else _read(file)
        records = parse_records(text, kind, "--file")
    else:
        records = records_from_options(kind, {
            "id": id, "service": service, "version": version, "environment": environment,
            "deployment_type": deployment_type, "strategy": strategy, "status": status, "started": started,
            "completed": completed, "commit_time": commit_time, "config": config, "set": set_values or [],
            "resources": _split(resources), "failure_reasons": failure_reasons or [],
            "rollback_triggered": rollback_triggered, "rollback_successful": rollback_successful,
            "automated": automated, "initiator": initiator, "name": name,
            "source_environment": source_environment, "target_host": target_host, "log_excerpt": log_excerpt,
            "performance": performance, "lessons_learned": lessons or [], "deployment_id": deployment_id,
            "reason": reason, "from_version": from_version, "to_version": to_version,
            "recovery_seconds": recovery_seconds, "steps": steps or [], "service_type": service_type,
        })
    result = record(records, db=db, endpoint=endpoint)
    if as_json:
        emit_json({**result, "ids": [r.get("id") or r.get("name") for items in records.values() for r in items]})
    else:
        ids = ", ".join(str(r.get("id") or r.get("name")) for items in records.values() for r in items)
        console.print(f"recorded {result['deployments']} deployment(s), {result['rollbacks']} rollback(s), "
                      f"{result['services']} service(s) via the {result['via']}: {ids}")


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError("--file", f"{path}: {exc.strerror or exc}") from None


@app.command("recommendations")
def recommendations_command(
    environment: Annotated[Optional[str], typer.Option("--environment", "-e", help="Only runs in this environment.", show_default=False)] = None,
    resources: Annotated[Optional[list[str]], typer.Option("--resources", "-r", help="Resources the pattern must deploy, comma-separated.", show_default=False)] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", "-s", help="Only this strategy, e.g. blue-green.", show_default=False)] = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Only runs of this service.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many patterns to show.")] = 5,
    min_confidence: Annotated[float, typer.Option("--min-confidence", help="Hide patterns whose confidence (lower bound) is below this.")] = 0.0,
    min_support: Annotated[int, typer.Option("--min-support", help="Hide patterns used fewer times than this.")] = 1,
    half_life: Annotated[float, typer.Option("--half-life", help="Days after which a run weighs half (0: no recency weighting).")] = 90.0,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recommend deployment patterns that worked, ranked by an honest confidence."""
    from predictor.patterns.ask import ask

    params = {"environment": environment, "resources": _split(resources), "strategy": strategy, "service": service,
              "limit": limit, "min_confidence": min_confidence, "min_support": min_support,
              "half_life_days": half_life}
    _show("recommendations", ask("recommendations", params, db=db, endpoint=endpoint), as_json)


@app.command("adaptations")
def adaptations_command(
    source: Annotated[str, typer.Option("--source", "-s", help="Environment promoted from.")] = "staging",
    target: Annotated[str, typer.Option("--target", "-t", help="Environment promoted to.")] = "production",
    service: Annotated[Optional[str], typer.Option("--service", help="Only this service.", show_default=False)] = None,
    min_pairs: Annotated[int, typer.Option("--min-pairs", help="Hide changes seen in fewer promotions than this.")] = 2,
    min_consistency: Annotated[float, typer.Option("--min-consistency", help="Hide changes made in a smaller share of promotions.")] = 0.3,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the configuration changes successful promotions made between two environments."""
    from predictor.patterns.ask import ask

    params = {"source_environment": source, "target_environment": target, "service": service,
              "min_pairs": min_pairs, "min_consistency": min_consistency}
    _show("adaptations", ask("adaptations", params, db=db, endpoint=endpoint), as_json)


@app.command("rollback-scenarios")
def rollback_scenarios_command(
    environment: Annotated[Optional[str], typer.Option("--environment", "-e", help="Only rollbacks of deployments to this environment.", show_default=False)] = None,
    resources: Annotated[Optional[list[str]], typer.Option("--resources", "-r", help="Only failed deployments touching one of these resources.", show_default=False)] = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Only this service.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many scenarios to show.")] = 10,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show how past rollbacks happened and how long recovery took."""
    from predictor.patterns.ask import ask

    params = {"environment": environment, "resources": _split(resources), "service": service, "limit": limit}
    _show("rollback_scenarios", ask("rollback_scenarios", params, db=db, endpoint=endpoint), as_json)


@app.command("analytics")
def analytics_command(
    environment: Annotated[Optional[str], typer.Option("--environment", "-e", help="Only this environment (DORA keys use it; default production).", show_default=False)] = None,
    days: Annotated[float, typer.Option("--days", "-d", help="Length of the window, ending at the latest recorded deployment.")] = 30.0,
    metrics: Annotated[Optional[list[str]], typer.Option("--metrics", "-m", help="Comma-separated: success_rate, failure_rate, duration, rollback_rate, mttr, dora, insights (default: all).", show_default=False)] = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Only this service.", show_default=False)] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write PNG charts into this directory.", show_default=False)] = None,
    db: DbOption = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show success and failure rates, durations, MTTR, the DORA keys and insights."""
    from predictor.patterns.ask import analytics_report

    params = {"environment": environment, "days": days, "metrics": _split(metrics) or None, "service": service}
    _show("analytics", analytics_report(params, db=db, endpoint=endpoint, plot_dir=plot), as_json)


@app.command("demo")
def demo_command(
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated demo history.")] = 0,
    days: Annotated[int, typer.Option("--days", help="Days of demo history to generate.", min=7)] = 90,
    per_day: Annotated[float, typer.Option("--per-day", help="Deployments per day in the demo history.", min=1)] = 24,
    train: Annotated[bool, typer.Option("--train/--no-train", help="Train the models after seeding.")] = True,
    db: DbOption = None,
) -> None:
    """Seed a demo history through the real ingest path, train, print the four pattern reports,
    then start the daemon on it, ask it from Guile, and stop it."""
    from predictor.config import default_db_path
    from predictor.patterns.demo import run_demo

    run_demo(db or default_db_path(), console, seed=seed, days=days, per_day=per_day, train=train)
