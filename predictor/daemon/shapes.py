"""Check the shared wire shapes of SPEC.md section 7 before any answerer sees them.

Each checker takes the wire value and the path of the field (``params.deployment``) and raises
:class:`~predictor.errors.ValidationError` naming the exact field, what was expected and what
was found. Values are returned unchanged (still wire-shaped: times as epoch seconds), so
answerers get clean input and the checks cost a single pass over the keys.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from predictor.errors import ValidationError
from predictor.store import DEPENDENCY_KINDS, DEPLOYMENT_TYPES, SERVICE_TYPES, STATUSES

try:  # the compiled accept path of check_deployment (setup.py builds it; optional)
    from predictor._shapes import plain_deployment
except ImportError:
    plain_deployment = None

#: latest time accepted on the wire: 2100-01-01T00:00:00Z
MAX_EPOCH = 4_102_444_800
MAX_BATCH = 1000
MAX_RECORDS = 10_000
MAX_TEXT = 100_000


def describe(value: Any) -> str:
    """Name VALUE's wire type, or show the value itself when it is an absurd number."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {int: "int", float: "float", str: "str", bytes: "bin", list: "array", dict: "map"}.get(
        type(value), type(value).__name__)


def check_time(value: Any, field: str) -> None:
    """Require epoch seconds between 1970 and 2100 (int or finite float)."""
    kind = type(value)
    if (kind is int or kind is float) and 0 <= value <= MAX_EPOCH:
        return
    found = value if kind is int or (kind is float and math.isfinite(value)) else describe(value)
    raise ValidationError(field, f"expected epoch seconds between 1970 and 2100, found {found}")


def _optional_time(value: Any, field: str) -> None:
    if value is not None:
        check_time(value, field)


def _text(value: Any, field: str) -> None:
    if type(value) is not str:
        raise ValidationError(field, f"expected str, found {describe(value)}")
    if not value:
        raise ValidationError(field, "expected a non-empty str")
    if len(value) > MAX_TEXT:
        raise ValidationError(field, f"expected at most {MAX_TEXT} chars, found {len(value)}")


def _optional_text(value: Any, field: str) -> None:
    if value is not None and type(value) is not str:
        raise ValidationError(field, f"expected str or nil, found {describe(value)}")


def _optional_map(value: Any, field: str) -> None:
    if value is not None and type(value) is not dict:
        raise ValidationError(field, f"expected map or nil, found {describe(value)}")


def _optional_bool(value: Any, field: str) -> None:
    if value is not None and type(value) is not bool:
        raise ValidationError(field, f"expected bool or nil, found {describe(value)}")


def _optional_str_list(value: Any, field: str) -> None:
    if value is None:
        return
    if type(value) is not list:
        raise ValidationError(field, f"expected array of str or nil, found {describe(value)}")
    for index, item in enumerate(value):
        if type(item) is not str:
            raise ValidationError(f"{field}[{index}]", f"expected str, found {describe(item)}")


def _optional_list(value: Any, field: str) -> None:
    if value is not None and type(value) is not list:
        raise ValidationError(field, f"expected array or nil, found {describe(value)}")


def _non_negative(value: Any, field: str) -> None:
    if value is None:
        return
    kind = type(value)
    if (kind is int or (kind is float and math.isfinite(value))) and value >= 0:
        return
    found = value if kind in (int, float) and math.isfinite(value) else describe(value)
    raise ValidationError(field, f"expected a number >= 0, found {found}")


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, str], None]:
    def check(value: Any, field: str) -> None:
        if value is not None and value not in choices:
            found = repr(value) if type(value) is str else describe(value)
            raise ValidationError(field, f"expected one of {', '.join(choices)}, found {found}")
    return check


def _performance(value: Any, field: str) -> None:
    _optional_map(value, field)
    for key, item in (value or {}).items():
        if item is not None and not (type(item) in (int, float) and math.isfinite(item)):
            raise ValidationError(f"{field}.{key}", f"expected a finite number, found {describe(item)}")


_DEPLOYMENT_KEYS: dict[str, Callable[[Any, str], None]] = {
    "id": _optional_text, "service": _text, "version": _optional_text, "environment": _text,
    "deployment_type": _one_of(DEPLOYMENT_TYPES), "started": check_time, "completed": _optional_time,
    "status": _one_of(STATUSES), "initiator": _optional_text, "metadata": _optional_map,
    "parent_id": _optional_text, "duration_seconds": _non_negative, "change_size": _non_negative,
    "configuration": _optional_map, "commit_time": _optional_time, "name": _optional_text,
    "strategy": _optional_text, "source_environment": _optional_text, "target_host": _optional_text,
    "resources": _optional_str_list, "failure_reasons": _optional_str_list,
    "rollback_triggered": _optional_bool, "rollback_successful": _optional_bool, "automated": _optional_bool,
    "log_excerpt": _optional_text, "performance": _performance, "lessons_learned": _optional_list,
}

_ROLLBACK_KEYS: dict[str, Callable[[Any, str], None]] = {
    "id": _text, "service": _text, "from_version": _optional_text, "to_version": _optional_text,
    "reason": _optional_text, "started": check_time, "completed": _optional_time, "status": _optional_text,
    "initiator": _optional_text, "impact": _optional_text, "deployment_id": _optional_text,
    "recovery_seconds": _non_negative, "steps": _optional_str_list,
}


def _dependencies(value: Any, field: str) -> None:
    if value is None:
        return
    if type(value) is not list:
        raise ValidationError(field, f"expected array or nil, found {describe(value)}")
    for index, edge in enumerate(value):
        where = f"{field}[{index}]"
        if type(edge) is not dict:
            raise ValidationError(where, f"expected map, found {describe(edge)}")
        _text(edge.get("depends_on"), f"{where}.depends_on")
        if edge.get("kind") not in DEPENDENCY_KINDS:
            _one_of(DEPENDENCY_KINDS)(edge.get("kind") if "kind" in edge else "", f"{where}.kind")


_SERVICE_KEYS: dict[str, Callable[[Any, str], None]] = {
    "name": _text, "type": _one_of(SERVICE_TYPES), "description": _optional_text, "team": _optional_text,
    "owners": _optional_str_list, "repository": _optional_text, "documentation_url": _optional_text,
    "health_check": _optional_text, "tags": _optional_str_list, "active": _optional_bool,
    "created": _optional_time, "updated": _optional_time, "dependencies": _dependencies,
}


def _check_record(value: Any, field: str, checks: dict, required: tuple[str, ...]) -> dict:
    if type(value) is not dict:
        raise ValidationError(field, f"expected map, found {describe(value)}")
    for key in required:
        if value.get(key) is None:
            raise ValidationError(f"{field}.{key}", "missing (required)")
    for key, item in value.items():
        check = checks.get(key)
        if check is not None:
            check(item, f"{field}.{key}")
    return value


def check_deployment(value: Any, field: str, *, for_record: bool = False,
                     required: tuple[str, ...] = ("service", "environment")) -> dict:
    """Check a Deployment; questions need REQUIRED keys, ``record`` needs id, service, environment, started, status."""
    if for_record:
        required = ("id", "service", "environment", "started", "status")
    _check_record(value, field, _DEPLOYMENT_KEYS, required)
    started, completed = value.get("started"), value.get("completed")
    if completed is not None and started is not None and completed < started:
        raise ValidationError(f"{field}.completed", f"expected a time not before started ({started}), found {completed}")
    return value


def check_rollback(value: Any, field: str) -> dict:
    """Check a Rollback for ``record``."""
    return _check_record(value, field, _ROLLBACK_KEYS, ("id", "service", "started"))


def check_service(value: Any, field: str) -> dict:
    """Check a Service (with its dependencies) for ``record``."""
    return _check_record(value, field, _SERVICE_KEYS, ("name",))


def _array(params: dict, name: str, low: int, high: int) -> list:
    value = params.get(name)
    if type(value) is not list:
        raise ValidationError(f"params.{name}", f"expected array of {low} to {high} items, found {describe(value)}")
    if not low <= len(value) <= high:
        raise ValidationError(f"params.{name}", f"expected {low} to {high} items, found {len(value)}")
    return value


def _param_text(params: dict, name: str, *, required: bool) -> None:
    value = params.get(name)
    if value is None and not required:
        return
    if value is None:
        raise ValidationError(f"params.{name}", "missing (required)")
    _text(value, f"params.{name}")


def check_params(method: str, params: dict) -> None:
    """Check the params of METHOD that SPEC.md section 8 fixes; answerers check the rest."""
    check = _PARAM_CHECKS.get(method)
    if check is not None:
        check(params)


def _predict(params: dict) -> None:
    if "deployment" not in params:
        raise ValidationError("params.deployment", "missing (required)")
    deployment = params["deployment"]
    if plain_deployment is None or not plain_deployment(deployment):  # not surely fine: check and word
        check_deployment(deployment, "params.deployment")


def _predict_batch(params: dict) -> None:
    plain = plain_deployment
    for index, item in enumerate(_array(params, "deployments", 1, MAX_BATCH)):
        if plain is None or not plain(item):
            check_deployment(item, f"params.deployments[{index}]")


def _about_service(params: dict) -> None:
    """analyze_risk and estimate: a deployment of a named service (the environment may default)."""
    if "deployment" not in params:
        raise ValidationError("params.deployment", "missing (required)")
    check_deployment(params["deployment"], "params.deployment", required=("service",))
    dependencies = params.get("dependencies")
    if dependencies is None:
        return
    if type(dependencies) is not list:
        raise ValidationError("params.dependencies", f"expected array or nil, found {describe(dependencies)}")
    for index, edge in enumerate(dependencies):
        where = f"params.dependencies[{index}]"
        if type(edge) is not dict:
            raise ValidationError(where, f"expected map, found {describe(edge)}")
        _optional_text(edge.get("service"), f"{where}.service")
        _text(edge.get("depends_on"), f"{where}.depends_on")
        _one_of(DEPENDENCY_KINDS)(edge.get("kind"), f"{where}.kind")


def _times(params: dict, *names: str) -> None:
    for name in names:
        _optional_time(params.get(name), f"params.{name}")
    if params.get("from") is not None and params.get("to") is not None and params["to"] <= params["from"]:
        raise ValidationError("params.to", f"expected a time after from ({params['from']}), found {params['to']}")


def _suggest_time(params: dict) -> None:
    if type(params.get("deployment")) is dict:
        check_deployment(params["deployment"], "params.deployment", required=("service",))
    else:
        _param_text(params, "service", required=True)
        _optional_text(params.get("environment"), "params.environment")
        _one_of(DEPLOYMENT_TYPES)(params.get("deployment_type"), "params.deployment_type")
    _times(params, "from", "to", "now")
    _optional_map(params.get("constraints"), "params.constraints")


def _forecast(params: dict) -> None:
    _optional_text(params.get("service"), "params.service")
    _optional_text(params.get("environment"), "params.environment")
    _times(params, "from")


def _record(params: dict) -> None:
    total = 0
    for name, check in (("deployments", None), ("rollbacks", check_rollback), ("services", check_service)):
        items = params.get(name)
        if items is None:
            continue
        if type(items) is not list:
            raise ValidationError(f"params.{name}", f"expected array or nil, found {describe(items)}")
        total += len(items)
        if total > MAX_RECORDS:
            raise ValidationError(f"params.{name}", f"expected at most {MAX_RECORDS} records in all, found more")
        for index, item in enumerate(items):
            if check is None:
                check_deployment(item, f"params.{name}[{index}]", for_record=True)
            else:
                check(item, f"params.{name}[{index}]")
    if total == 0:
        raise ValidationError("params.deployments", "expected at least one record in deployments, rollbacks or services")


def _feedback(params: dict) -> None:
    _param_text(params, "request_id", required=True)
    _one_of(STATUSES)(params.get("outcome"), "params.outcome")
    _optional_bool(params.get("useful"), "params.useful")
    _optional_text(params.get("comment"), "params.comment")
    if type(params.get("comment")) is str and len(params["comment"]) > 4000:
        raise ValidationError("params.comment", f"expected at most 4000 chars, found {len(params['comment'])}")


def _pattern_filters(params: dict) -> None:
    for name in ("service", "environment", "deployment_type", "source_environment", "target_environment"):
        _optional_text(params.get(name), f"params.{name}")
    _times(params, "from", "to")


_PARAM_CHECKS: dict[str, Callable[[dict], None]] = {
    "predict": _predict, "predict_batch": _predict_batch, "analyze_risk": _about_service, "estimate": _about_service,
    "suggest_time": _suggest_time, "forecast": _forecast, "record": _record, "feedback": _feedback,
    "recommendations": _pattern_filters, "adaptations": _pattern_filters, "rollback_scenarios": _pattern_filters,
    "analytics": _pattern_filters,
}
