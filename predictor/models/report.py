"""Rich renderings for people: the side-by-side evaluation tables, a prediction, the registry."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

METHOD_TITLES = {
    "model": "failure model (HGB, calibrated)",
    "previous_outcome": "previous outcome",
    "service_failure_rate": "service failure rate",
    "environment_strategy_rule": "env+strategy confidence rule",
    "experiment_001_forest": "exp. 001 random forest",
}
COLUMNS = (("roc_auc", "ROC AUC", True), ("pr_auc", "PR AUC", True), ("log_loss", "log loss", False),
           ("brier", "Brier", False), ("ece", "ECE", False), ("caught_at_5", "caught@5%", True),
           ("caught_at_10", "@10%", True), ("caught_at_20", "@20%", True), ("caught_at_50", "@50%", True))


def evaluation_table(evaluation: dict, title: str = "Rolling-origin evaluation (pooled test slices)") -> Table:
    """Return the side-by-side table of the model and every baseline."""
    methods = evaluation["methods"]
    table = Table(title=title)
    table.add_column("method")
    for _key, heading, _ in COLUMNS:
        table.add_column(heading, justify="right")
    for key, heading, higher_better in COLUMNS:
        values = [m[key] for m in methods.values() if m.get(key) == m.get(key)]
        methods_best = (max if higher_better else min)(values) if values else None
        for name in methods:
            methods[name].setdefault("_best", set())
            if methods[name].get(key) == methods_best:
                methods[name]["_best"].add(key)
    for name, metrics in methods.items():
        best = metrics.pop("_best", set())
        cells = [f"[bold green]{metrics[k]:.3f}[/]" if k in best else f"{metrics[k]:.3f}" for k, _h, _ in COLUMNS]
        table.add_row(METHOD_TITLES.get(name, name), *cells)
    any_method = next(iter(methods.values()))
    folds = evaluation.get("folds", [])
    table.caption = (f"{len(folds)} folds, {any_method['rows']} test deployments, failure rate "
                     f"{any_method['failure_rate']:.1%}; best per column in green")
    return table


def _figure(value, style: str = "{:.3f}") -> str:
    return style.format(value) if isinstance(value, (int, float)) else "n/a"


def estimates_tables(estimates: dict | None) -> list:
    """Return the duration and forecast side-by-side tables (model vs baseline), or notes.

    ESTIMATES is ``evaluate_estimates``'s dict: ``durations`` (pinball losses in seconds,
    coverages) and ``forecast`` (mean absolute errors); a part with too little history
    becomes a one-line note instead of a table.
    """
    out: list = []
    if not estimates:
        return out
    durations = estimates.get("durations") or {}
    if "insufficient_history" in durations:
        out.append(f"[yellow]duration estimates not evaluated[/]: {durations['insufficient_history']}")
    elif durations:
        table = Table(title=f"Duration estimates, held-out latest {durations.get('n_test', '?')} deployments "
                            f"(trained on {durations.get('n_train', '?')})")
        table.add_column("method")
        for heading in ("pinball p50 (s) ↓", "pinball p90 (s) ↓", "p90 coverage →0.9", "p50 coverage →0.5"):
            table.add_column(heading, justify="right")
        baseline = durations.get("baseline_service_median") or {}
        model_p50, base_p50 = durations.get("pinball_p50"), baseline.get("pinball_p50")
        model_p90, base_p90 = durations.get("pinball_p90"), baseline.get("pinball_p90")

        def cell(value, other):
            text = _figure(value, "{:.1f}")
            return f"[bold green]{text}[/]" if isinstance(value, float) and isinstance(other, float) \
                and value <= other else text

        table.add_row("duration model (CQR)", cell(model_p50, base_p50), cell(model_p90, base_p90),
                      _figure(durations.get("coverage_p90")), _figure(durations.get("coverage_p50")))
        table.add_row("per-service median/p90", cell(base_p50, model_p50), cell(base_p90, model_p90),
                      _figure(baseline.get("coverage_p90")), "")
        out.append(table)
    forecast = estimates.get("forecast") or {}
    if "insufficient_history" in forecast:
        out.append(f"[yellow]volume forecast not evaluated[/]: {forecast['insufficient_history']}")
    elif forecast:
        table = Table(title=f"Volume forecast, held-out {forecast.get('holdout_weeks', '?')} weeks from "
                            f"{forecast.get('holdout_from', '?')} ({forecast.get('series', '?')} series)")
        table.add_column("method")
        table.add_column("MAE per day ↓", justify="right")
        table.add_column("MAE per week ↓", justify="right")
        naive = forecast.get("baseline_seasonal_naive") or {}
        for name, figures, other in (("forecast (trend + weekday)", forecast, naive),
                                     ("seasonal naive (same weekday last week)", naive, forecast)):
            cells = []
            for key in ("mae_daily", "mae_weekly"):
                text = _figure(figures.get(key))
                better = isinstance(figures.get(key), float) and isinstance(other.get(key), float) \
                    and figures[key] <= other[key]
                cells.append(f"[bold green]{text}[/]" if better else text)
            table.add_row(name, *cells)
        out.append(table)
    return out


def print_prediction(answer: dict, console: Console) -> None:
    """Print one answer readably."""
    probability = answer["failure_probability"]
    colour = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}[answer["risk_level"]]
    who = answer.get("deployment_id") or "deployment"
    console.print(f"{who}: failure probability [bold]{probability:.1%}[/] "
                  f"([{colour}]{answer['risk_level']}[/]); base rate {answer['base_rate']:.1%}; "
                  f"model {answer['model_version']}")
    if answer["abstained"]:
        console.print(f"[yellow]abstained[/]: {answer['reason']}; the probability shown is the base rate")
    if answer["factors"]:
        table = Table(title="Top contributing factors (log-odds)")
        table.add_column("factor")
        table.add_column("value", justify="right")
        table.add_column("contribution", justify="right")
        for factor in answer["factors"]:
            table.add_row(factor["description"], str(factor["value"]), f"{factor['contribution']:+.3f}")
        console.print(table)
    if answer["similar_deployments"]:
        table = Table(title="Similar past deployments")
        for heading in ("id", "service", "version", "environment", "started (UTC)", "status", "similarity"):
            table.add_column(heading)
        for item in answer["similar_deployments"]:
            started = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=item["started"])
            table.add_row(item["id"], item["service"], str(item["version"]), item["environment"],
                          started.strftime("%Y-%m-%d %H:%M"), item["status"], f"{item['similarity']:.3f}")
        console.print(table)


def models_table(records: list) -> Table:
    """Return the registry as a table."""
    table = Table(title="Failure models")
    for heading in ("version", "champion", "created (UTC)", "data range", "rows", "ROC AUC (eval)", "newest-slice AUC"):
        table.add_column(heading)
    for record in records:
        evaluation = (record.metrics or {}).get("evaluation") or {}
        auc = evaluation.get("methods", {}).get("model", {}).get("roc_auc")
        newest = (record.metrics or {}).get("newest_slice", {}).get("roc_auc")
        span = (f"{record.data_from:%Y-%m-%d} .. {record.data_to:%Y-%m-%d}" if record.data_from and record.data_to
                else "")
        table.add_row(record.version, "yes" if record.champion else "", f"{record.created_at:%Y-%m-%d %H:%M}", span,
                      str(record.n_train or ""), "" if auc is None else f"{auc:.3f}",
                      "" if newest is None else f"{newest:.3f}")
    return table
