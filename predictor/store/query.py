"""Read the history back: filtered deployment history and per-service, per-environment stats."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from predictor.errors import ValidationError
from predictor.store import FAILED_STATUSES, STATUSES, Store

HISTORY_COLUMNS = ("id", "service", "version", "environment", "deployment_type", "started", "completed", "status",
                   "initiator", "duration_seconds", "change_size", "parent_id", "metadata")


def parse_time_option(value: str | None, field: str) -> dt.datetime | None:
    """Return VALUE (ISO-8601 date or time, ``Z`` or offset allowed) as naive UTC, or None."""
    if value is None or value == "":
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, f"expected an ISO-8601 date or time such as 2026-11-21 or "
                                     f"2026-11-21T15:30:05Z, got {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def _filters(service: str | None, environment: str | None, status: str | None, since: dt.datetime | None,
             until: dt.datetime | None) -> tuple[str, list[Any]]:
    if status is not None and status not in STATUSES:
        raise ValidationError("status", f"expected one of {', '.join(STATUSES)}, got {status!r}")
    clauses, params = [], []
    for column, value in (("service", service), ("environment", environment), ("status", status)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("started >= ?")
        params.append(since)
    if until is not None:
        clauses.append("started < ?")
        params.append(until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def history(store: Store, *, service: str | None = None, environment: str | None = None, status: str | None = None,
            since: dt.datetime | None = None, until: dt.datetime | None = None,
            limit: int | None = 50) -> list[dict[str, Any]]:
    """Return deployments matching the filters, newest first (metadata as a dict).

    SINCE is inclusive and UNTIL exclusive, both on ``started`` (naive UTC). LIMIT None means all.
    """
    if limit is not None and limit < 0:
        raise ValidationError("limit", f"expected a number >= 0, got {limit}")
    where, params = _filters(service, environment, status, since, until)
    sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM deployments{where} ORDER BY started DESC, id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = store.con.execute(sql, params).fetchall()
    result = []
    for row in rows:
        record = dict(zip(HISTORY_COLUMNS, row))
        record["metadata"] = json.loads(record["metadata"]) if record["metadata"] else {}
        result.append(record)
    return result


def stats(store: Store, *, service: str | None = None, environment: str | None = None,
          since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Return one row per (service, environment): counts, failure and success rates, durations.

    ``failure_rate`` is failed (failure, rolled-back, partial) over finished deployments whose
    outcome counts (success or failed); ``rollbacks`` counts rollback records of the service.
    """
    where, params = _filters(service, environment, None, since, until)
    rows = store.con.execute(
        f"""
        WITH d AS (SELECT * FROM deployments{where})
        SELECT d.service, d.environment, count(*) AS deployments,
               count(*) FILTER (WHERE status = 'success') AS successes,
               count(*) FILTER (WHERE list_contains(?, status)) AS failures,
               count(*) FILTER (WHERE status IN ('pending', 'in-progress')) AS unfinished,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               avg(duration_seconds) AS mean_duration_seconds,
               median(duration_seconds) AS median_duration_seconds,
               min(started) AS first_started, max(started) AS last_started,
               (SELECT count(*) FROM rollbacks r WHERE r.service = d.service) AS rollbacks
        FROM d GROUP BY d.service, d.environment ORDER BY d.service, d.environment
        """,
        [*params, list(FAILED_STATUSES)],
    ).fetchall()
    names = ("service", "environment", "deployments", "successes", "failures", "unfinished", "cancelled",
             "mean_duration_seconds", "median_duration_seconds", "first_started", "last_started", "rollbacks")
    result = []
    for row in rows:
        entry = dict(zip(names, row))
        judged = entry["successes"] + entry["failures"]
        entry["failure_rate"] = entry["failures"] / judged if judged else None
        entry["success_rate"] = entry["successes"] / judged if judged else None
        result.append(entry)
    return result
