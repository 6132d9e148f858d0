"""``predictor demo``: seed a rich demo history through the real ingest path, train, print the four reports,
then serve the store with the daemon and ask it from Guile (:mod:`predictor.patterns.demo_daemon`).

Each step is its own function so the lead can add more (daemon, Guile) around them. A step whose
part of the product is not there yet is skipped with a printed note, never silently. Running
twice on the same store is idempotent: the demo files are regenerated identically (same seed)
and ingest recognises what it already stored.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from predictor.errors import IngestError
from predictor.patterns.executions import History
from predictor.patterns.report import RENDERERS
from predictor.patterns.runtime import answer
from predictor.store import open_store

#: demo history size: about DAYS x PER_DAY deployments over SERVICES services
DEMO_SERVICES = 16
DEMO_DAYS = 90
DEMO_PER_DAY = 24

#: the four questions the demo asks, with the CLI command a reader would type for each
QUESTIONS: tuple[tuple[str, str, dict], ...] = (
    ("recommendations", "predictor recommendations -e production -r project,database -n 5",
     {"environment": "production", "resources": ["project", "database"], "limit": 5}),
    ("adaptations", "predictor adaptations -s staging -t production",
     {"source_environment": "staging", "target_environment": "production"}),
    ("rollback_scenarios", "predictor rollback-scenarios -e production -n 6",
     {"environment": "production", "limit": 6}),
    ("analytics", "predictor analytics -d 90", {"days": 90}),
)


@dataclass
class DemoRun:
    """What a demo run did: the files ingested, notes on skipped steps, the four answers."""

    store_path: Path
    inputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    answers: dict[str, dict] = field(default_factory=dict)
    trained: Any = None
    seconds: dict[str, float] = field(default_factory=dict)
    daemon: Any = None


def _timed(run: DemoRun, step: str, function: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    try:
        return function()
    finally:
        run.seconds[step] = time.perf_counter() - began


def _note(run: DemoRun, console: Console, text: str) -> None:
    run.notes.append(text)
    console.print(Text(f"note: {text}", style="yellow"))


def generate(seed: int, services: int, days: int, per_day: float) -> Any:
    """Return the shared demo generator's history (raises ImportError when it is not there)."""
    from predictor.demo_data import generate_history

    return generate_history(seed=seed, services=services, days=days, deployments_per_day=per_day)


def write_rollbacks_jsonl(history: Any, path: Path) -> None:
    """Write the history's rollbacks as canonical JSON Lines (``"record": "rollback"``).

    The ledger's formats do not carry a rollback's completion, recovery time or steps; this
    plain-format file does, so the rollback scenarios have measured recovery times to show.
    """
    with path.open("w", encoding="utf-8") as out:
        for rollback in history.rollbacks:
            line = {"record": "rollback", **rollback}
            out.write(json.dumps(line, default=_json_time) + "\n")


def _json_time(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"
    raise TypeError(f"not JSON: {type(value).__name__}")


def write_inputs(history: Any, directory: Path) -> list[Path]:
    """Write the demo history in the ledger's formats (the writers that exist) plus the rollbacks file."""
    import predictor.demo_data as demo_data

    directory.mkdir(parents=True, exist_ok=True)
    wanted = (("write_ledger_sqlite", "ledger.sqlite3"), ("write_sexp_export", "ledger-export.scm"),
              ("write_executions_jsonl", "executions.jsonl"))
    written = []
    for writer_name, filename in wanted:
        writer = getattr(demo_data, writer_name, None)
        if writer is None:
            continue
        path = directory / filename
        if path.exists():
            path.unlink()
        writer(history, path)
        written.append(path)
    if written:
        path = directory / "rollbacks.jsonl"
        write_rollbacks_jsonl(history, path)
        written.append(path)
    return written


def seed_store(run: DemoRun, console: Console, history: Any) -> History | None:
    """Write the demo files and ingest them into the store; return the stored history (None if impossible)."""
    try:
        from predictor.store.ingest import ingest_paths
    except ImportError:
        _note(run, console, "ingest (predictor.store.ingest) is not available yet: the reports below are "
                            "computed from the generated history in memory, nothing was stored")
        return None
    run.inputs = write_inputs(history, run.store_path.parent / "demo-input")
    if not run.inputs:
        _note(run, console, "the demo data writers are not available yet: nothing to ingest")
        return None
    table = Table(title=f"Ingested into {run.store_path}", show_edge=False)
    table.add_column("file")
    table.add_column("result")
    with open_store(run.store_path) as store:
        for path in run.inputs:
            try:
                report = ingest_paths(store, [path], progress=False)[0]
            except IngestError as exc:
                _note(run, console, f"ingest rejected {path.name}, the demo goes on without it: {exc}")
                table.add_row(path.name, "[red]rejected[/red] (see the note above)")
                continue
            table.add_row(path.name, _report_text(report))
        counts = store.counts()
        stored = History.from_store(store)
    console.print(table)
    console.print(f"store now holds {counts['deployments']} deployments, {counts['rollbacks']} rollbacks, "
                  f"{counts['services']} services")
    return stored


def _report_text(report: Any) -> str:
    """Return 'deployments: 2000 inserted, 0 unchanged; ...' from an ingest report."""
    summary = report.summary() if callable(getattr(report, "summary", None)) else None
    if not isinstance(summary, dict):
        return str(report)
    parts = []
    for table, counts in summary.items():
        figures = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        parts.append(f"{table}: {figures or 'nothing new'}")
    return "; ".join(parts) or "nothing"


def train_and_show(run: DemoRun, console: Console) -> None:
    """Train and register the models when the models area provides ``train_and_register``; print the evaluation."""
    try:
        from predictor.models.train import train_and_register
    except ImportError:
        _note(run, console, "model training (predictor.models.train.train_and_register) is not available yet: skipped")
        return
    from predictor.config import default_db_path

    options = {}
    if run.store_path.resolve() != default_db_path().resolve():
        options["artifacts_root"] = run.store_path.parent / "models"
    with open_store(run.store_path) as store:
        run.trained = train_and_register(store, estimates=True, **options)
    console.print(f"trained {getattr(run.trained, 'version', run.trained)} on "
                  f"{getattr(run.trained, 'n_train', '?')} deployments"
                  + (" (champion)" if getattr(run.trained, "champion", False) else ""))
    table = evaluation_table(getattr(run.trained, "metrics", None))
    if table is not None:
        console.print(table)
    from predictor.models.report import estimates_tables

    metrics = getattr(run.trained, "metrics", None) or {}
    for part in estimates_tables(metrics.get("estimates")):
        console.print(part)
    durations = metrics.get("duration_model") or {}
    if durations.get("version"):
        console.print(f"duration model {durations['version']} trained on {durations['n_rows']} deployments")
    elif durations.get("error"):
        _note(run, console, f"duration model not trained: {durations['error']}")


#: evaluation figures shown by the demo, with their direction
EVALUATION_COLUMNS = (("roc_auc", "ROC AUC ↑"), ("pr_auc", "PR AUC ↑"), ("brier", "Brier ↓"), ("ece", "ECE ↓"),
                      ("caught_at_20", "caught @20% ↑"))


def evaluation_table(metrics: Any) -> Table | None:
    """Return a table of the model and its baselines from a model record's metrics, or None."""
    methods = (metrics or {}).get("evaluation", {}).get("methods") if isinstance(metrics, dict) else None
    if not isinstance(methods, dict) or not methods:
        return None
    table = Table(title="Failure model vs baselines (time-ordered evaluation, newest slice)")
    table.add_column("method")
    for _, label in EVALUATION_COLUMNS:
        table.add_column(label, justify="right")
    for name, figures in methods.items():
        if not isinstance(figures, dict):
            continue
        cells = [f"{figures[key]:.3f}" if isinstance(figures.get(key), (int, float)) else "n/a"
                 for key, _ in EVALUATION_COLUMNS]
        table.add_row(name.replace("_", " "), *cells, style="bold" if name == "model" else None)
    return table


def ask_all(run: DemoRun, console: Console, history: History) -> None:
    """Ask the four questions of :data:`QUESTIONS` over HISTORY and print each answer."""
    for method, command, params in QUESTIONS:
        console.print(Rule(Text(f"$ {command}", style="bold")))
        result = _timed(run, method, lambda: answer(history, method, params))
        run.answers[method] = result
        RENDERERS[method](result, console)


def serve_and_ask(run: DemoRun, console: Console) -> None:
    """Start the daemon on the demo store, ask it from Guile, stop it (the store is closed here)."""
    from predictor.patterns.demo_daemon import serve_and_ask_guile

    console.print(Rule(Text("$ predictor serve, then the Guile plugin asks it", style="bold")))
    run.daemon = serve_and_ask_guile(run.store_path, console, lambda text: _note(run, console, text),
                                     lambda step, function: _timed(run, step, function))


def run_demo(store_path: str | Path, console: Console, *, seed: int = 0, services: int = DEMO_SERVICES,
             days: int = DEMO_DAYS, per_day: float = DEMO_PER_DAY, train: bool = True) -> DemoRun:
    """Seed STORE_PATH with a demo history via ingest, train (unless TRAIN is false), print the four reports,
    then serve STORE_PATH with the daemon and ask it from Guile."""
    run = DemoRun(Path(store_path))
    began = time.perf_counter()
    console.print(Rule(Text("ml-predictor demo", style="bold")))
    try:
        generated = _timed(run, "generate", lambda: generate(seed, services, days, per_day))
    except ImportError:
        _note(run, console, "the demo data generator (predictor.demo_data) is not available yet: nothing to show")
        return run
    console.print(f"generated {len(generated.deployments)} deployments and {len(generated.rollbacks)} rollbacks "
                  f"of {services} services over {days} days (seed {seed})")
    history = _timed(run, "ingest", lambda: seed_store(run, console, generated))
    if history is None:
        history = History.from_records(generated.deployments, generated.rollbacks)
    if train and run.inputs:
        console.print(Rule(Text("$ predictor train", style="bold")))
        _timed(run, "train", lambda: train_and_show(run, console))
    ask_all(run, console, history)
    if run.inputs:
        serve_and_ask(run, console)
    run.seconds["total"] = time.perf_counter() - began
    console.print(Rule())
    console.print(Text("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items()), style="dim"))
    return run

