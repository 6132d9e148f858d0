"""Asking the pattern learner from the command line: through the daemon when it runs, else on the store.

While ``predictor serve`` runs it owns the DuckDB file, so the CLI sends its questions and its
``record`` writes to it over the protocol. Otherwise the CLI opens the store itself and calls
the same library functions (:mod:`predictor.patterns.runtime`, and ``ingest_records`` for writes).
An explicit ``--db`` always means "this file, directly".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from predictor.errors import NotFoundError, ValidationError
from predictor.patterns.executions import History, to_datetime, to_epoch
from predictor.patterns.runtime import answer
from predictor.store import open_store, utcnow

#: seconds to wait for the daemon's answer (analytics over a long history take a moment)
REMOTE_TIMEOUT = 30.0

RECORD_KINDS = {"deployment": "deployments", "execution": "deployments", "outcome": "deployments",
                "rollback": "rollbacks", "service": "services"}


def _daemon_running(endpoint: str | None) -> bool:
    """True when a daemon answers ``ping`` at ENDPOINT (default endpoint when None)."""
    from predictor.client import daemon_running

    return daemon_running(endpoint)


def _remote(method: str, params: dict, endpoint: str | None) -> dict:
    """Call METHOD on the daemon through :mod:`predictor.client`."""
    from predictor.client import call

    given = {key: value for key, value in params.items() if value is not None and value != []}
    return call(method, given, endpoint=endpoint, timeout=REMOTE_TIMEOUT)


def ask(method: str, params: dict, *, db: Path | None = None, endpoint: str | None = None) -> dict:
    """Answer wire METHOD with PARAMS: via the daemon when one runs (and no --db), else on the store."""
    if db is None and _daemon_running(endpoint):
        return _remote(method, params, endpoint)
    with open_store(db) as store:
        history = History.from_store(store)
    return answer(history, method, params)


def analytics_report(params: dict, *, db: Path | None = None, endpoint: str | None = None,
                     plot_dir: Path | None = None) -> dict:
    """Return the analytics of PARAMS, with PNG charts written to PLOT_DIR when given (paths under 'plots')."""
    result = ask("analytics", params, db=db, endpoint=endpoint)
    if plot_dir is not None:
        from predictor.patterns.plots import write_plots

        result["plots"] = [str(path) for path in write_plots(result, plot_dir)]
    return result


def parse_records(text: str, kind: str | None, where: str) -> dict[str, list[dict]]:
    """Parse JSON TEXT into {"deployments": [...], "rollbacks": [...], "services": [...]}.

    Accepted: an object with those keys; a list of records; one record. A bare record or list
    is of KIND (deployment when not given).
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError(where, f"not valid JSON: {exc}") from None
    if isinstance(value, dict) and set(value) & {"deployments", "rollbacks", "services"}:
        records = {name: value.get(name) or [] for name in ("deployments", "rollbacks", "services")}
        for name, items in records.items():
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise ValidationError(f"{where}.{name}", "expected a list of objects")
        return records
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) for item in items):
        raise ValidationError(where, "expected an object, a list of objects, or {\"deployments\": [...], ...}")
    table = RECORD_KINDS.get(kind or "deployment")
    if table is None:
        raise ValidationError("--kind", f"expected one of {', '.join(RECORD_KINDS)}, got {kind!r}")
    return {"deployments": [], "rollbacks": [], "services": [], table: items}


def _report_dict(report: Any) -> dict:
    if hasattr(report, "to_dict"):
        return report.to_dict()
    if dataclasses.is_dataclass(report):
        return json.loads(json.dumps(dataclasses.asdict(report), default=str))
    if hasattr(report, "as_dict"):
        return report.as_dict()
    if isinstance(report, dict):
        return report
    return {"report": str(report)}


_REQUIRED = ("service", "environment", "started", "status")


def complete_outcome(store: Any, record: dict) -> dict:
    """Return RECORD, an outcome update lacking required keys, merged over the stored deployment of its id."""
    if all(record.get(key) is not None for key in _REQUIRED):
        return record
    columns = CANONICAL_KEYS["deployments"]
    row = store.con.execute("SELECT " + ", ".join(columns) + " FROM deployments WHERE id = ?",
                            [record.get("id")]).fetchone()
    if row is None:
        missing = next(key for key in _REQUIRED if record.get(key) is None)
        raise NotFoundError(f"deployment {record.get('id')!r} is not in the store, so {missing!r} is needed: "
                            "record the execution first, or give --service, --environment and --started")
    stored = {}
    for key, value in zip(columns, row):
        if key in ("metadata", "configuration", "resources", "failure_reasons", "performance", "lessons_learned") \
                and isinstance(value, str):
            value = json.loads(value)
        stored[key] = to_epoch(value) if isinstance(value, dt.datetime) else value
    return {**{k: v for k, v in stored.items() if v is not None}, **record}


def record(records: dict[str, list[dict]], *, db: Path | None = None, endpoint: str | None = None) -> dict:
    """Store RECORDS (upsert): through the daemon when one runs (and no --db), else directly in the store."""
    total = sum(len(records.get(name, [])) for name in ("deployments", "rollbacks", "services"))
    if total == 0:
        raise ValidationError("records", "nothing to record: give options or --file")
    params = _wire_times({name: records.get(name, []) for name in ("deployments", "rollbacks", "services")})
    if db is None and _daemon_running(endpoint):
        # the daemon completes outcome updates (id + status) from the stored row itself
        result = _remote("record", params, endpoint)
        return {"via": "daemon", **result}
    from predictor.store.ingest import ingest_records

    with open_store(db) as store:
        params["deployments"] = [complete_outcome(store, item) for item in params["deployments"]]
        report = ingest_records(store, deployments=params["deployments"], rollbacks=params["rollbacks"],
                                services=params["services"], source="record", mode="upsert")
    return {"via": "store", "deployments": len(params["deployments"]), "rollbacks": len(params["rollbacks"]),
            "services": len(params["services"]), "report": _report_dict(report)}


#: canonical keys of each record kind (see the team brief / protocol section 7)
CANONICAL_KEYS = {
    "deployments": ("id", "service", "version", "environment", "deployment_type", "started", "completed", "status",
                    "initiator", "metadata", "parent_id", "duration_seconds", "change_size", "configuration",
                    "commit_time", "name", "strategy", "source_environment", "target_host", "resources",
                    "failure_reasons", "rollback_triggered", "rollback_successful", "automated", "log_excerpt",
                    "performance", "lessons_learned"),
    "rollbacks": ("id", "service", "from_version", "to_version", "reason", "started", "completed", "status",
                  "initiator", "impact", "deployment_id", "recovery_seconds", "steps"),
    "services": ("name", "type", "description", "team", "owners", "repository", "documentation_url",
                 "health_check", "tags", "active", "created", "updated", "dependencies"),
}

_TIME_FIELDS = {"deployments": ("started", "completed", "commit_time"), "rollbacks": ("started", "completed"),
                "services": ("created", "updated")}


def _wire_times(records: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Return RECORDS with every time as epoch seconds (the wire form), checking each one."""
    converted = {}
    for name, items in records.items():
        fields = _TIME_FIELDS.get(name, ())
        converted[name] = [
            {key: (to_epoch(to_datetime(value, f"{name}[{i}].{key}")) if key in fields and value is not None else value)
             for key, value in item.items()}
            for i, item in enumerate(items)
        ]
    return converted


def _json_option(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(option, f"not valid JSON: {exc}") from None


def records_from_options(kind: str, options: dict[str, Any]) -> dict[str, list[dict]]:
    """Build the records of ``predictor record`` from its command-line OPTIONS (None means not given).

    KIND ``execution``/``deployment`` records a deployment (id generated when absent, started
    defaults to now); ``outcome`` updates a known deployment id (status required, completed
    defaults to now); ``rollback`` and ``service`` record those.
    """
    table = RECORD_KINDS.get(kind)
    if table is None:
        raise ValidationError("--kind", f"expected one of {', '.join(RECORD_KINDS)}, got {kind!r}")
    given = {key: value for key, value in options.items() if value not in (None, [], ())}
    configuration = dict(_json_option(given.pop("config"), "--config")) if "config" in given else {}
    for pair in given.pop("set", []):
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError("--set", f"expected KEY=VALUE, got {pair!r}")
        try:
            configuration[key.strip()] = json.loads(raw)
        except ValueError:
            configuration[key.strip()] = raw
    if configuration:
        given["configuration"] = configuration
    for key in ("performance", "metadata"):
        if key in given:
            given[key] = _json_option(given[key], f"--{key}")
    if kind == "outcome":
        if "id" not in given or "status" not in given:
            raise ValidationError("--id" if "id" not in given else "--status", "an outcome needs --id and --status")
        given.setdefault("completed", utcnow())
    elif table == "deployments":
        for needed in ("service", "environment", "status"):
            if needed not in given:
                raise ValidationError(f"--{needed}", f"required to record an {kind}")
        given.setdefault("id", f"rec-{uuid.uuid4().hex[:12]}")
        given.setdefault("started", utcnow())
    elif table == "rollbacks":
        if "service" not in given:
            raise ValidationError("--service", "required to record a rollback")
        given.setdefault("id", f"rb-{uuid.uuid4().hex[:12]}")
        given.setdefault("started", utcnow())
    else:
        if "name" not in given and "service" in given:
            given["name"] = given.pop("service")
        if "name" not in given:
            raise ValidationError("--service", "required to record a service (its name)")
        if "service_type" in given:
            given["type"] = given.pop("service_type")
    stray = sorted(set(given) - set(CANONICAL_KEYS[table]))
    if stray:
        raise ValidationError(f"--{stray[0].replace('_', '-')}", f"does not apply to a {kind} record")
    return {"deployments": [], "rollbacks": [], "services": [], table: [given]}
