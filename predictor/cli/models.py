"""CLI commands of the models area: train, evaluate, predict, models list|promote|rollback.

``train`` and ``evaluate`` also cover the estimates area's duration model and volume forecast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from predictor.cli.app import DbOption, EndpointOption, JsonOption, app, console, emit_json
from predictor.errors import ValidationError

models_app = typer.Typer(help="List, promote and roll back failure models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

TimezoneOption = Annotated[str, typer.Option("--timezone", help="Time zone for hour-of-day and weekday features.")]


def _store(db: Optional[Path], *, read_only: bool = False):
    from predictor.store import open_store

    return open_store(db, read_only=read_only)


def _config(timezone: str):
    from predictor.features import FeatureConfig

    return FeatureConfig(timezone=timezone)


@app.command("train")
def train_command(
    db: DbOption = None,
    promote: Annotated[str, typer.Option("--promote", help="if-better (default), always or never.")] = "if-better",
    timezone: TimezoneOption = "UTC",
    folds: Annotated[int, typer.Option("--folds", help="Rolling-origin folds evaluated before fitting.")] = 3,
    no_evaluate: Annotated[bool, typer.Option("--no-evaluate", help="Skip the rolling-origin evaluation.")] = False,
    training_data: Annotated[bool, typer.Option("--training-data", help="Also write training-data.csv.")] = False,
    no_estimates: Annotated[bool, typer.Option(
        "--no-estimates", help="Skip the duration model and its evaluation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train the failure and duration models on the stored history, evaluate them against baselines, register them."""
    from predictor.models.report import estimates_tables, evaluation_table
    from predictor.models.train import train_and_register

    with _store(db) as store:
        record = train_and_register(store, promote=promote, progress=not as_json, config=_config(timezone),
                                    folds=folds, evaluate_first=not no_evaluate, training_data=training_data,
                                    estimates=not no_estimates)
    if as_json:
        emit_json(record.to_dict())
        return
    evaluation = record.metrics.get("evaluation")
    if evaluation:
        console.print(evaluation_table(evaluation))
    for part in estimates_tables(record.metrics.get("estimates")):
        console.print(part)
    state = "champion" if record.champion else "registered (not promoted)"
    console.print(f"model [bold]{record.version}[/] {state}; artifacts in {record.artifact_dir}")
    durations = record.metrics.get("duration_model")
    if durations and "error" in durations:
        console.print(f"[yellow]duration model not trained[/]: {durations['error']}")
    elif durations:
        console.print(f"duration model [bold]{durations['version']}[/] trained on {durations['n_rows']} deployments "
                      f"({durations['n_calibration']} for calibration); artifacts in {durations['artifact_dir']}")


@app.command("evaluate")
def evaluate_command(
    db: DbOption = None,
    folds: Annotated[int, typer.Option("--folds", help="Number of rolling-origin test slices.")] = 3,
    test_share: Annotated[float, typer.Option("--test-share", help="Share of the newest rows the test slices cover.")] = 0.3,
    timezone: TimezoneOption = "UTC",
    no_forest: Annotated[bool, typer.Option("--no-forest", help="Skip experiment 001's random forest baseline.")] = False,
    no_estimates: Annotated[bool, typer.Option(
        "--no-estimates", help="Skip the duration and forecast evaluation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Evaluate the failure model, the duration estimates and the volume forecast against their baselines.

    The failure model on a time-ordered rolling-origin split; durations (pinball loss p50/p90,
    p90 coverage, vs the per-service median) on the latest 20%; the forecast (vs seasonal
    naive) on the last two full weeks.
    """
    from predictor.models.report import estimates_tables, evaluation_table
    from predictor.models.train import evaluate_everything

    with _store(db, read_only=True) as store:
        report = evaluate_everything(store, config=_config(timezone), folds=folds, test_share=test_share,
                                     include_forest=not no_forest, progress=not as_json, estimates=not no_estimates)
    if as_json:
        emit_json(report)
        return
    console.print(evaluation_table(report))
    for part in estimates_tables(report.get("estimates")):
        console.print(part)


@app.command("predict")
def predict_command(
    db: DbOption = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Service deployed.", show_default=False)] = None,
    environment: Annotated[Optional[str], typer.Option("--environment", "-e", help="Target environment.", show_default=False)] = None,
    deployment_type: Annotated[Optional[str], typer.Option("--type", help="Deployment type, e.g. canary.", show_default=False)] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="Version deployed.", show_default=False)] = None,
    started: Annotated[Optional[str], typer.Option("--started", help="Start time, ISO-8601 UTC or epoch seconds (default: now).", show_default=False)] = None,
    change_size: Annotated[Optional[int], typer.Option("--change-size", help="Lines changed.", show_default=False)] = None,
    deployment_id: Annotated[Optional[str], typer.Option("--id", help="Deployment id.", show_default=False)] = None,
    deployment_json: Annotated[Optional[str], typer.Option("--deployment", help="The deployment as a JSON object (options above override its keys).", show_default=False)] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", help="Score every deployment of this CSV or JSON Lines file.", show_default=False)] = None,
    output_file: Annotated[Optional[Path], typer.Option("--output", help="Where --input answers go (.csv, else JSON Lines).", show_default=False)] = None,
    model_version: Annotated[Optional[str], typer.Option("--model", help="Model version (default: the champion).", show_default=False)] = None,
    endpoint: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predict the failure probability of a deployment, with its reasons and similar past cases."""
    from predictor.models.report import print_prediction
    from predictor.models.scoring import predict_anywhere, score_file

    if input_file is not None:
        if output_file is None:
            raise ValidationError("--output", "required with --input")
        with _store(db, read_only=True) as store:
            summary = score_file(store, input_file, output_file, version=model_version)
        if as_json:
            emit_json(summary)
        else:
            console.print(f"scored {summary['rows']} deployments ({summary['abstained']} abstained) with "
                          f"{summary['model_version']}; answers in {summary['output']}")
        return
    deployment: dict = {}
    if deployment_json:
        try:
            deployment = json.loads(deployment_json)
        except ValueError as exc:
            raise ValidationError("--deployment", f"not valid JSON: {exc}") from exc
        if not isinstance(deployment, dict):
            raise ValidationError("--deployment", "expected a JSON object")
    options = {"service": service, "environment": environment, "deployment_type": deployment_type,
               "version": version, "started": started, "change_size": change_size, "id": deployment_id}
    deployment.update({key: value for key, value in options.items() if value is not None})
    answer = predict_anywhere(deployment, db=db, endpoint=endpoint, version=model_version)
    if as_json:
        emit_json(answer)
    else:
        print_prediction(answer, console)


@models_app.command("list")
def models_list_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List registered failure models, newest first."""
    from predictor.models.registry import list_models
    from predictor.models.report import models_table

    with _store(db, read_only=True) as store:
        records = list_models(store)
    if as_json:
        emit_json([record.to_dict() for record in records])
    else:
        console.print(models_table(records))


@models_app.command("promote")
def models_promote_command(
    version: Annotated[str, typer.Argument(help="The model version to make champion.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make VERSION the champion failure model."""
    from predictor.models.registry import promote

    with _store(db) as store:
        record = promote(store, version)
    if as_json:
        emit_json(record.to_dict())
    else:
        console.print(f"champion is now [bold]{record.version}[/] (reload the daemon to serve it)")


@models_app.command("rollback")
def models_rollback_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Make the previous champion the champion again."""
    from predictor.models.registry import rollback

    with _store(db) as store:
        record = rollback(store)
    if as_json:
        emit_json(record.to_dict())
    else:
        console.print(f"rolled back: champion is now [bold]{record.version}[/] (reload the daemon to serve it)")
