"""The feature lines experiment 001's collect-data script writes: one alist per service per line.

Example line::

    ((service . "api") (total-deployments . 42) (hourly-distribution . #(0 1 ...))
     (weekly-distribution . #(...)) (failure-patterns . ((("api" . canary) . 3))))

Each becomes a ``service_profiles`` row; the whole alist is kept in ``raw`` as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from predictor import sexp
from predictor.errors import IngestError
from predictor.store.formats import Batch

FORMAT = "feature-lines"
#: the largest count the service_profiles INTEGER columns hold
MAX_COUNT = 2**31 - 1


def looks_like(head: str) -> bool:
    """True when HEAD starts with an alist whose first key is ``service``."""
    text = head.lstrip()
    return text.startswith("((service") or text.startswith("((\"service\"")


def read(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Read every line of PATH as one service profile."""
    where = str(path)
    batch = Batch(FORMAT)
    text = path.read_text(encoding="utf-8")
    try:
        data = list(sexp.iter_data(text))
    except sexp.SexpError as error:
        raise IngestError(where, f"malformed S-expression: {error.detail}", line=error.line,
                          expected="one complete alist per line") from None
    first_line: dict[str, int] = {}
    for line, datum in data:
        try:
            profile = _profile(where, line, datum)
            if profile["service"] in first_line:
                raise IngestError(where, f"a second feature line for service {profile['service']!r} "
                                  f"(first on line {first_line[profile['service']]})", line=line, field="service",
                                  expected="one line per service", found=profile["service"])
            first_line[profile["service"]] = line
            batch.profiles.append((line, profile))
        except IngestError as error:
            if not skip_invalid:
                raise
            batch.skipped.append(error)
    batch.seen["service_profiles"] = len(data)
    return batch


def _profile(where: str, line: int, datum: Any) -> dict:
    """Return the service_profiles row of one feature line; IngestError naming the field if bad.

    Entries are read as Scheme sees them: ``(key . value)``, or ``(key v1 v2 ...)`` which is
    how Guile writes ``(key . (v1 v2 ...))`` (so a one-element failure-patterns alist comes as
    ``(failure-patterns (("api" . canary) . 1))``).
    """
    if type(datum) is not list or not datum:
        raise IngestError(where, "a feature line must be one alist", line=line, field="line",
                          expected="((service . \"name\") (key . value) ...)", found=sexp.to_text(datum)[:80])
    fields: dict[str, Any] = {}
    for position, entry in enumerate(datum, start=1):
        try:
            key, value = sexp.alist_entry(entry)
        except ValueError:
            raise IngestError(where, f"entry {position} of the feature line is not a (key . value) pair",
                              line=line, field="line", expected="(key . value) with a symbol or string key",
                              found=sexp.to_text(entry)[:80]) from None
        fields[str(key)] = value
    service = fields.get("service")
    if type(service) is list and len(service) == 1:
        service = service[0]
    if not isinstance(service, str) or not service:
        raise IngestError(where, "feature line without a service", line=line, field="service",
                          expected="a service name string", found=sexp.to_text(service) if service is not None else None)
    profile = {"service": str(service), "raw": {key: sexp.to_plain(value) for key, value in fields.items()}}
    total = fields.get("total-deployments")
    if type(total) is list and len(total) == 1:
        total = total[0]
    if total is not None and (type(total) is not int or not 0 <= total <= MAX_COUNT):
        raise IngestError(where, "bad total-deployments", line=line, field="total-deployments",
                          expected=f"an integer from 0 to {MAX_COUNT}", found=sexp.to_text(total)[:80])
    profile["total_deployments"] = total
    for key, size in (("hourly-distribution", 24), ("weekly-distribution", 7)):
        value = fields.get(key)
        if type(value) is list and len(value) == 1 and type(value[0]) is tuple:
            value = value[0]                      # (key #(...)) as well as (key . #(...))
        if value is None:
            profile[key.replace("-", "_")] = None
            continue
        items = list(value) if isinstance(value, (tuple, list)) else None
        if items is None or not all(type(v) is int and 0 <= v <= MAX_COUNT for v in items) or len(items) != size:
            raise IngestError(where, f"bad {key}", line=line, field=key,
                              expected=f"a vector of {size} integers from 0 to {MAX_COUNT}", found=sexp.to_text(value)[:80])
        profile[key.replace("-", "_")] = items
    profile["failure_patterns"] = _failure_patterns(where, line, fields.get("failure-patterns"))
    return profile


def _failure_patterns(where: str, line: int, value: Any) -> list[dict]:
    """Return the ``((service . type) . count)`` entries of VALUE as dicts; IngestError if bad."""
    if value is None or value is False:
        return []
    if type(value) is sexp.Dotted:
        value = [value]                           # a lone entry written as (failure-patterns . entry)
    if type(value) is not list:
        raise IngestError(where, "bad failure-patterns", line=line, field="failure-patterns",
                          expected="a list of ((service . type) . count) entries", found=sexp.to_text(value)[:80])
    patterns = []
    for entry in value:
        key = entry.head[0] if type(entry) is sexp.Dotted and len(entry.head) == 1 else None
        if (type(key) is sexp.Dotted and len(key.head) == 1 and isinstance(key.head[0], str)
                and isinstance(key.tail, str) and type(entry.tail) is int and entry.tail >= 0):
            patterns.append({"service": str(key.head[0]), "deployment_type": str(key.tail), "count": entry.tail})
        else:
            raise IngestError(where, "bad failure-patterns entry", line=line, field="failure-patterns",
                              expected="((service . type) . count) with a non-negative integer count",
                              found=sexp.to_text(entry)[:80])
    return patterns
