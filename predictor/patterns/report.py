"""The four answers printed for people: rich tables and panels from the wire-shaped results."""

from __future__ import annotations

import datetime as dt

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from predictor.patterns.configuration import describe
from predictor.patterns.wording import duration, plural


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _date(epoch: float | None) -> str:
    if epoch is None:
        return "n/a"
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=epoch)).strftime("%Y-%m-%d %H:%M")


def _note(console: Console, result: dict) -> None:
    if result.get("note"):
        console.print(Text(f"note: {result['note']}", style="yellow"))


def render_recommendations(result: dict, console: Console, title: str = "Recommended patterns") -> None:
    """Print the recommendations of RESULT: a ranked table, then each pattern's reasons."""
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("strategy", no_wrap=True)
    table.add_column("resources")
    table.add_column("ok/fail", justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("confidence", justify="right", no_wrap=True)
    table.add_column("last used", no_wrap=True)
    for rank, pattern in enumerate(result["recommendations"], 1):
        table.add_row(str(rank), pattern["strategy"], ", ".join(pattern["resources"]) or "-",
                      f"{pattern['successes']}/{pattern['failures']}", _pct(pattern["success_rate"]),
                      f"[bold]{pattern['confidence']:.2f}[/bold]", _date(pattern["last_used"])[:10])
    console.print(table)
    for rank, pattern in enumerate(result["recommendations"], 1):
        configuration = ", ".join(f"{k}={v}" for k, v in pattern["configuration"].items()) or "(none recorded)"
        console.print(Text.assemble((f"#{rank} ", "bold"), ("configuration: ", "dim"), configuration))
        console.print(Text.assemble("   ", ("why: ", "dim"), "; ".join(pattern["reasons"])))
    console.print(Text(f"  confidence: {result['confidence_method']}", style="dim"))
    _note(console, result)


def render_adaptations(result: dict, console: Console) -> None:
    """Print the adaptations of RESULT: one row per configuration key, then the rules in words."""
    source, target = result["source_environment"], result["target_environment"]
    table = Table(title=f"Adaptations {source} → {target} ({result['pairs']} promotion pairs)",
                  box=box.SIMPLE_HEAVY)
    table.add_column("key", no_wrap=True)
    table.add_column(source)
    table.add_column(target)
    table.add_column("held in", justify="right", no_wrap=True)
    table.add_column("ok with", justify="right")
    table.add_column("ok without", justify="right")
    for item in result["adaptations"]:
        table.add_row(item["key"], describe(item["source_value"]), describe(item["target_value"]),
                      f"{item['consistency']:.0%} of {item['pairs']}",
                      f"{_pct(item['target_success_rate_with'])} ({item['target_runs_with']})",
                      f"{_pct(item['target_success_rate_without'])} ({item['target_runs_without']})")
    console.print(table)
    for item in result["adaptations"]:
        console.print(Text("  • " + item["rule"]))
    _note(console, result)


def render_rollback_scenarios(result: dict, console: Console) -> None:
    """Print the rollback scenarios of RESULT: a summary table, then a panel per top scenario."""
    table = Table(title=f"Rollback scenarios ({plural(result['rollbacks'], 'rollback')})", box=box.SIMPLE_HEAVY)
    table.add_column("failure pattern", ratio=1)
    for column in ("count", "recovery median", "p90", "restored"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("last seen", no_wrap=True)
    for item in result["scenarios"]:
        table.add_row(item["failure_pattern"], str(item["count"]), duration(item["recovery_seconds_median"]),
                      duration(item["recovery_seconds_p90"]), _pct(item["success_rate"]), _date(item["last_seen"])[:10])
    console.print(table)
    for item in result["scenarios"][:3]:
        lines = [Text("when: " + "; ".join(item["trigger_conditions"]))]
        if item["steps"]:
            lines.append(Text("steps: " + " → ".join(item["steps"])))
        if item["deployment_strategies"]:
            lines.append(Text("strategies: " + ", ".join(f"{k} ({v})" for k, v in item["deployment_strategies"].items())))
        lines.append(Text(item["summary"], style="dim"))
        console.print(Panel(Group(*lines), title=item["failure_pattern"], title_align="left", expand=True))
    _note(console, result)


def _trend_text(first: float | None, second: float | None, fmt) -> str:
    if first is None or second is None:
        return "n/a"
    return f"{fmt(first)} → {fmt(second)}"


def _dora_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name == "deployment_frequency":
        return f"{value:.2f}/day"
    if name == "change_failure_rate":
        return f"{value:.1%}"
    return duration(value)


def render_analytics(result: dict, console: Console) -> None:
    """Print the analytics of RESULT: summary figures, the DORA keys, the insights."""
    period = result["period"]
    scope = result.get("environment") or "all environments"
    if result.get("service"):
        scope += f", {result['service']}"
    summary = Table(title=f"Analytics: {scope}, {_date(period['start'])} → {_date(period['end'])}",
                    box=box.SIMPLE_HEAVY)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_column("first half → second half", justify="right")
    summary.add_row("deployments (finished)", f"{result['deployments']} ({result['finished']})", "")
    if "success_rate" in result:
        trend = result["success_rate_trend"]
        summary.add_row("success rate", _pct(result["success_rate"]),
                        _trend_text(trend["first_half"], trend["second_half"], _pct))
    if "failure_rate" in result:
        trend = result["failure_rate_trend"]
        summary.add_row("failure rate", _pct(result["failure_rate"]),
                        _trend_text(trend["first_half"], trend["second_half"], _pct))
    if "rollback_rate" in result:
        summary.add_row("rollback rate", _pct(result["rollback_rate"]), "")
    if "duration" in result:
        d = result["duration"]
        summary.add_row("duration median / p90", f"{duration(d['median_seconds'])} / {duration(d['p90_seconds'])}", "")
    if "mttr_seconds" in result:
        summary.add_row("MTTR (mean time to restore)", duration(result["mttr_seconds"]),
                        f"{result['mttr_measured']} restored, {result['unrestored_failures']} not yet")
    console.print(summary)
    if "dora" in result:
        dora = result["dora"]
        table = Table(title=f"DORA keys ({dora['environment']})", box=box.SIMPLE_HEAVY,
                      caption=f"bands: {dora['bands_source']}")
        for column in ("key", "value", "band", "first half → second half", "trend"):
            table.add_column(column)
        for name, label in (("deployment_frequency", "deployment frequency"), ("lead_time", "lead time for changes"),
                            ("change_failure_rate", "change failure rate"), ("time_to_restore", "time to restore")):
            key = dora[name]
            table.add_row(label, _dora_value(name, key["value"]), key["band"] or "n/a",
                          _trend_text(key["first_half"], key["second_half"], lambda v, n=name: _dora_value(n, v)),
                          key["trend"])
        console.print(table)
    if result.get("insights"):
        console.print(Panel(Group(*(Text("• " + i["text"]) for i in result["insights"])),
                            title="Insights from the data", title_align="left"))
    for path in result.get("plots", []):
        console.print(Text(f"wrote {path}", style="dim"))
    _note(console, result)


RENDERERS = {
    "recommendations": render_recommendations,
    "adaptations": render_adaptations,
    "rollback_scenarios": render_rollback_scenarios,
    "analytics": render_analytics,
}
