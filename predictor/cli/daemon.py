"""CLI commands of the daemon area: serve, ping, status, reload, keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from predictor.cli.app import DbOption, EndpointOption, JsonOption, app, console, emit_json

keys_app = typer.Typer(help="CurveZMQ key pairs for an encrypted daemon.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the daemon's answer.")]
ServerKeyOption = Annotated[
    Optional[Path],
    typer.Option("--curve-server-key", help="The daemon's public key file (.key), when it runs with CurveZMQ.",
                 show_default=False),
]
ClientKeyOption = Annotated[
    Optional[Path],
    typer.Option("--curve-client-key", help="This client's secret key file (.key_secret), when the daemon runs with CurveZMQ.",
                 show_default=False),
]


@app.command()
def serve(
    db: DbOption = None,
    endpoint: EndpointOption = None,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow tcp endpoints on non-loopback addresses.")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="Least severe log lines written: debug (one line per request), info, warning, error.")] = "info",
    log_file: Annotated[Optional[Path], typer.Option("--log-file", help="Write the JSON log lines to this file instead of standard error.", show_default=False)] = None,
    curve_secret_key: Annotated[Optional[Path], typer.Option("--curve-secret-key", help="The daemon's secret key file (.key_secret): turns CurveZMQ encryption on.", show_default=False)] = None,
    allow_client_keys: Annotated[Optional[Path], typer.Option("--allow-client-keys", help="Directory of allowed client public keys (.key files); others get no answer.", show_default=False)] = None,
    max_message_bytes: Annotated[int, typer.Option("--max-message-bytes", help="Largest request accepted, in bytes.")] = 4 * 1024 * 1024,
    high_water_mark: Annotated[int, typer.Option("--high-water-mark", help="Messages queued per connection before ZeroMQ pushes back.")] = 1000,
    log_predictions: Annotated[bool, typer.Option("--log-predictions/--no-log-predictions", help="Store every prediction in the predictions table.")] = True,
    retrain_after: Annotated[int, typer.Option("--retrain-after", help="Retrain in the background after this many recorded outcomes (0: never).")] = 0,
    retrain_every: Annotated[float, typer.Option("--retrain-every", help="Retrain in the background every this many seconds (0: never).")] = 0.0,
    challenger: Annotated[Optional[str], typer.Option("--challenger", help="Failure model version answering a share of predictions (A/B).", show_default=False)] = None,
    challenger_share: Annotated[float, typer.Option("--challenger-share", help="Share of prediction requests (0 to 1) the challenger answers.", min=0.0, max=1.0)] = 0.1,
    shadow: Annotated[Optional[str], typer.Option("--shadow", help="Failure model version that also answers every prediction, logged only (role 'shadow').", show_default=False)] = None,
) -> None:
    """Serve predictions over ZeroMQ until SIGTERM or SIGINT (the daemon becomes the store's only writer)."""
    from predictor.daemon import ServeOptions, serve as run_daemon
    from predictor.daemon.security import KeyFileError

    from predictor.daemon.journal import LEVELS
    from predictor.errors import ValidationError

    if curve_secret_key is not None and allow_client_keys is None:
        raise KeyFileError("--curve-secret-key needs --allow-client-keys DIR (the public keys of allowed clients)")
    if allow_client_keys is not None and curve_secret_key is None:
        raise KeyFileError("--allow-client-keys needs --curve-secret-key FILE (the daemon's own key pair)")
    if log_level not in LEVELS:
        raise ValidationError("--log-level", f"expected one of {', '.join(LEVELS)}, found {log_level!r}")
    options = ServeOptions(
        db=db, endpoint=endpoint, allow_remote=allow_remote, log_level=log_level, log_file=log_file,
        curve_secret_key=curve_secret_key, allow_client_keys=allow_client_keys, max_message_bytes=max_message_bytes,
        high_water_mark=high_water_mark, log_predictions=log_predictions, retrain_after=retrain_after,
        retrain_every=retrain_every, challenger=challenger, challenger_share=challenger_share if challenger else 0.0,
        shadow=shadow,
    )
    raise typer.Exit(run_daemon(options))


@app.command()
def ping(
    endpoint: EndpointOption = None,
    timeout: TimeoutOption = 2.0,
    curve_server_key: ServerKeyOption = None,
    curve_client_key: ClientKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check that the daemon answers, and show the round trip."""
    from predictor.client import Client

    with Client(endpoint, timeout=timeout, server_public_key=curve_server_key, client_secret_key=curve_client_key) as client:
        seconds = client.ping()
    if json_output:
        emit_json({"endpoint": client.endpoint, "ok": True, "round_trip_ms": round(seconds * 1000, 3)})
    else:
        console.print(f"pong from {client.endpoint} in {seconds * 1000:.2f} ms")


@app.command()
def status(
    endpoint: EndpointOption = None,
    timeout: TimeoutOption = 2.0,
    curve_server_key: ServerKeyOption = None,
    curve_client_key: ClientKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the daemon's endpoint, uptime, model version, requests served and queue depth."""
    from rich.table import Table

    from predictor.client import Client

    with Client(endpoint, timeout=timeout, server_public_key=curve_server_key, client_secret_key=curve_client_key) as client:
        result = client.call("status", {})
    if json_output:
        emit_json(result)
        return
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in ("endpoint", "pid", "version", "protocol", "uptime_seconds", "model_version", "generation",
                "requests_served", "errors", "queue_depth", "prediction_log_pending", "outcomes_since_training", "store",
                "compiled_path"):
        table.add_row(key.replace("_", " "), str(result.get(key)))
    console.print(table)


@keys_app.command("generate")
def keys_generate(
    directory: Annotated[Path, typer.Argument(help="Directory to write NAME.key (public) and NAME.key_secret into.")],
    name: Annotated[str, typer.Option("--name", help="Base name of the key files, e.g. server or the client's name.")] = "server",
    json_output: JsonOption = False,
) -> None:
    """Write a CurveZMQ key pair (public NAME.key, secret NAME.key_secret readable by you only)."""
    from predictor.daemon.security import generate_keys

    public, secret = generate_keys(directory, name)
    if json_output:
        emit_json({"public": str(public), "secret": str(secret)})
    else:
        console.print(f"public key: {public}\nsecret key: {secret}")


@app.command()
def reload(
    endpoint: EndpointOption = None,
    timeout: TimeoutOption = 120.0,
    json_output: JsonOption = False,
) -> None:
    """Make the running daemon load the newest promoted models, without dropping a request."""
    from predictor.client import Client

    with Client(endpoint, timeout=timeout, retries=0) as client:
        result = client.call("reload", {})
    if json_output:
        emit_json(result)
        return
    ready = ", ".join(name for name, area in result["areas"].items() if area["ready"]) or "none"
    console.print(f"generation {result['generation']}: model {result['model_version'] or 'none'}; ready areas: {ready}")
