"""The model registry in the ``models`` table, with the champion history in ``model_promotions``.

Exactly one champion per kind. ``promote`` pushes a version on the champion stack; ``rollback``
marks the top of the stack rolled back and makes the version below it champion again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from predictor.errors import NotFoundError, PredictorError
from predictor.store import utcnow


@dataclass
class ModelRecord:
    """One registered model version (a row of ``models``)."""

    version: str
    kind: str
    created_at: dt.datetime
    data_from: dt.datetime | None
    data_to: dt.datetime | None
    n_train: int | None
    metrics: dict
    library_versions: dict
    artifact_dir: Path
    champion: bool
    promoted_at: dt.datetime | None

    def to_dict(self) -> dict:
        """JSON-able form (times as ISO text)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("created_at", "data_from", "data_to", "promoted_at"):
            out[key] = out[key].isoformat() if out[key] else None
        out["artifact_dir"] = str(self.artifact_dir)
        return out


#: every column of ``models``, in ModelRecord's field order
_SELECT = ("SELECT version, kind, created_at, data_from, data_to, n_train, metrics, library_versions, "
           "artifact_dir, champion, promoted_at FROM models")


def _record(row) -> ModelRecord:
    values = list(row)
    values[6] = json.loads(values[6]) if values[6] else {}
    values[7] = json.loads(values[7]) if values[7] else {}
    values[8] = Path(values[8])
    return ModelRecord(*values)


def register(store, record: ModelRecord) -> None:
    """Insert RECORD (not champion yet)."""
    store.con.execute(
        "INSERT INTO models (version, kind, created_at, data_from, data_to, n_train, metrics, library_versions, "
        "artifact_dir, champion, promoted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, false, NULL)",
        [record.version, record.kind, record.created_at, record.data_from, record.data_to, record.n_train,
         json.dumps(record.metrics), json.dumps(record.library_versions), str(record.artifact_dir)],
    )


def list_models(store, kind: str | None = None) -> list[ModelRecord]:
    """Return registered models, newest first."""
    rows = store.con.execute(_SELECT + " WHERE ? IS NULL OR kind = ? ORDER BY created_at DESC, version DESC",
                             [kind, kind]).fetchall()
    return [_record(row) for row in rows]


def get_model(store, version: str) -> ModelRecord:
    """Return the model VERSION or raise NotFoundError."""
    row = store.con.execute(_SELECT + " WHERE version = ?", [version]).fetchone()
    if row is None:
        known = [r[0] for r in store.con.execute("SELECT version FROM models ORDER BY created_at DESC LIMIT 5").fetchall()]
        raise NotFoundError(f"model version {version!r} not found (latest: {', '.join(known) or 'none'})")
    return _record(row)


def champion(store, kind: str = "failure") -> ModelRecord | None:
    """Return the champion of KIND, or None."""
    row = store.con.execute(_SELECT + " WHERE kind = ? AND champion", [kind]).fetchone()
    return _record(row) if row else None


def _set_champion(store, version: str, kind: str) -> None:
    now = utcnow()
    store.con.execute("UPDATE models SET champion = false WHERE kind = ? AND champion", [kind])
    store.con.execute("UPDATE models SET champion = true, promoted_at = ? WHERE version = ?", [now, version])


def promote(store, version: str, reason: str = "manual") -> ModelRecord:
    """Make VERSION the champion of its kind and push it on the champion stack."""
    record = get_model(store, version)
    store.con.execute("BEGIN TRANSACTION")
    try:
        _set_champion(store, version, record.kind)
        store.con.execute("INSERT INTO model_promotions (version, kind, promoted_at, reason) VALUES (?, ?, ?, ?)",
                          [version, record.kind, utcnow(), reason])
        store.con.execute("COMMIT")
    except Exception:
        store.con.execute("ROLLBACK")
        raise
    return get_model(store, version)


def rollback(store, kind: str = "failure") -> ModelRecord:
    """Return to the previous champion of KIND; raise when there is none."""
    stack = store.con.execute(
        "SELECT seq, version FROM model_promotions WHERE kind = ? AND NOT rolled_back ORDER BY seq DESC", [kind]
    ).fetchall()
    current = champion(store, kind)
    if current is None or not stack:
        raise PredictorError(f"no {kind} champion to roll back")
    previous = next(((seq, version) for seq, version in stack[1:] if version != current.version), None)
    if previous is None:
        raise PredictorError(f"{current.version} is the only {kind} champion so far; nothing to roll back to")
    store.con.execute("BEGIN TRANSACTION")
    try:
        for seq, version in stack:
            if seq == previous[0]:
                break
            store.con.execute("UPDATE model_promotions SET rolled_back = true WHERE seq = ?", [seq])
        _set_champion(store, previous[1], kind)
        store.con.execute("COMMIT")
    except Exception:
        store.con.execute("ROLLBACK")
        raise
    return get_model(store, previous[1])
