"""Plain words for numbers: counts, lists, durations, ratios."""

from __future__ import annotations

import datetime as dt
from typing import Sequence


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """Return '1 time' / '3 times'."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def and_list(items: Sequence[str]) -> str:
    """Return 'a', 'a and b', 'a, b and c'."""
    items = [str(item) for item in items]
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def duration(seconds: float | None) -> str:
    """Return SECONDS as '45 s', '12 min', '3.5 h' or '2.1 days' ('unknown' for None)."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ago(delta: dt.timedelta) -> str:
    """Return DELTA as 'at the latest recorded time' or '3 days before the latest recorded time'."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return "at the latest recorded time"
    return f"{duration(seconds)} before the latest recorded time"


def ratio_phrase(ratio: float) -> str:
    """Return a rate ratio as '3.2× as often' or '55% less often'."""
    if ratio >= 1:
        return f"{ratio:.1f}× as often as"
    return f"{(1 - ratio) * 100:.0f}% less often than"
