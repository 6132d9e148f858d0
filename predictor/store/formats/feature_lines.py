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
    for line, datum in data:
        try:
            batch.profiles.append((line, _profile(where, line, datum)))
        except IngestError as error:
            if not skip_invalid:
                raise
            batch.skipped.append(error)
    batch.seen["service_profiles"] = len(data)
    return batch


def _profile(where: str, line: int, datum: Any) -> dict:
    try:
        fields = sexp.alist_to_dict(datum)
    except ValueError as error:
        raise IngestError(where, str(error), line=line, field="line", expected="an association list",
                          found=sexp.to_text(datum)[:80]) from None
    service = fields.get("service")
    if not isinstance(service, str) or not service:
        raise IngestError(where, "feature line without a service", line=line, field="service",
                          expected="a service name string", found=sexp.to_text(service) if service is not None else None)
    profile = {"service": str(service), "raw": {key: sexp.to_plain(value) for key, value in fields.items()}}
    total = fields.get("total-deployments")
    if total is not None and (type(total) is not int or total < 0):
        raise IngestError(where, "bad total-deployments", line=line, field="total-deployments",
                          expected="a non-negative integer", found=sexp.to_text(total))
    profile["total_deployments"] = total
    for key, size in (("hourly-distribution", 24), ("weekly-distribution", 7)):
        value = fields.get(key)
        if value is None:
            profile[key.replace("-", "_")] = None
            continue
        items = list(value) if isinstance(value, (tuple, list)) else None
        if items is None or not all(type(v) is int for v in items) or len(items) != size:
            raise IngestError(where, f"bad {key}", line=line, field=key,
                              expected=f"a vector of {size} integers", found=sexp.to_text(value)[:80])
        profile[key.replace("-", "_")] = items
    patterns = []
    for entry in fields.get("failure-patterns") or []:
        # ((service . type) . count)
        if type(entry) is sexp.Dotted and len(entry.head) == 1 and type(entry.head[0]) is sexp.Dotted:
            key = entry.head[0]
            patterns.append({"service": str(key.head[0]), "deployment_type": str(key.tail), "count": entry.tail})
        else:
            raise IngestError(where, "bad failure-patterns entry", line=line, field="failure-patterns",
                              expected="((service . type) . count)", found=sexp.to_text(entry)[:80])
    profile["failure_patterns"] = patterns
    return profile
