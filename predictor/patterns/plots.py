"""PNG charts of an analytics result (matplotlib, Agg backend: no display needed).

The charts are drawn from the wire-shaped result alone, so they work the same whether the
analytics came from the store or from the daemon.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_DORA = (
    ("deployment_frequency", "deployments / day", 1.0),
    ("lead_time", "lead time (h)", 1 / 3600),
    ("change_failure_rate", "change failure rate (%)", 100.0),
    ("time_to_restore", "time to restore (h)", 1 / 3600),
)


def _days(result: dict) -> list[dt.datetime]:
    return [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=d["day"]) for d in result.get("daily", [])]


def _deployments_chart(result: dict, path: Path) -> None:
    daily = result.get("daily", [])
    days = _days(result)
    fig, left = plt.subplots(figsize=(9, 4))
    successes = [d["deployments"] - d["failures"] for d in daily]
    failures = [d["failures"] for d in daily]
    left.bar(days, successes, color="#4c9a5f", label="succeeded")
    left.bar(days, failures, bottom=successes, color="#c8553d", label="failed")
    left.set_ylabel("finished deployments")
    right = left.twinx()
    rates = [d["failures"] / d["deployments"] * 100 if d["deployments"] else None for d in daily]
    right.plot([t for t, r in zip(days, rates) if r is not None], [r for r in rates if r is not None],
               color="#333333", marker=".", linewidth=1, label="failure rate")
    right.set_ylabel("failure rate (%)")
    left.legend(loc="upper left")
    left.set_title("Deployments and failures per day")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _duration_chart(result: dict, path: Path) -> None:
    daily = result.get("daily", [])
    points = [(t, d["median_duration_seconds"] / 60) for t, d in zip(_days(result), daily)
              if d.get("median_duration_seconds") is not None]
    fig, axis = plt.subplots(figsize=(9, 3.5))
    if points:
        axis.plot([t for t, _ in points], [m for _, m in points], marker="o", color="#3d6fc8")
    axis.set_ylabel("median duration (min)")
    axis.set_title("Deployment duration per day")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _dora_chart(result: dict, path: Path) -> None:
    dora = result["dora"]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.5))
    for axis, (name, label, scale) in zip(axes, _DORA):
        key = dora[name]
        values = [key["first_half"], key["second_half"]]
        heights = [v * scale if v is not None else 0 for v in values]
        axis.bar(["first half", "second half"], heights, color=["#999999", "#3d6fc8"])
        axis.set_title(f"{label}\n{key['band'] or 'n/a'}, {key['trend']}", fontsize=9)
    fig.suptitle(f"DORA keys in {dora['environment']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _insights_chart(result: dict, path: Path) -> None:
    insights = result["insights"]
    fig, axis = plt.subplots(figsize=(9, 0.6 * len(insights) + 1.5))
    labels = [i["segment"] for i in insights]
    axis.barh(labels, [i["ratio"] for i in insights],
              color=["#c8553d" if i["ratio"] >= 1 else "#4c9a5f" for i in insights])
    axis.axvline(1.0, color="#333333", linewidth=1)
    axis.set_xscale("log")
    axis.set_xlabel("failure rate relative to the rest (log scale)")
    axis.set_title("Segments that stand out")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plots(result: dict, directory: str | Path) -> list[Path]:
    """Write the charts of analytics RESULT as PNG files in DIRECTORY (created); return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    charts = [("deployments.png", _deployments_chart, True),
              ("durations.png", _duration_chart, "duration" in result),
              ("dora.png", _dora_chart, "dora" in result),
              ("insights.png", _insights_chart, bool(result.get("insights")))]
    for name, draw, wanted in charts:
        if wanted:
            draw(result, directory / name)
            written.append(directory / name)
    return written
