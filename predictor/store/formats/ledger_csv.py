"""The ledger's CSV export (``export-deployments-csv``).

Header ``id,service,version,environment,type,started,completed,status,initiator``; every value
double-quoted and not escaped; times ISO-8601 ``...Z``; a missing time is ``""`` (or ``"null"``).
"""

from __future__ import annotations

from pathlib import Path

from predictor.store.formats import Batch
from predictor.store.formats.csv_files import read_header, stage_csv

FORMAT = "ledger-csv"
HEADER = ["id", "service", "version", "environment", "type", "started", "completed", "status", "initiator"]


def looks_like(header: list[str]) -> bool:
    """True when HEADER is exactly the export's header."""
    return header == HEADER


def read(con, path: Path, *, skip_invalid: bool = False) -> Batch:
    """Stage the export's rows as ``_raw_deployments``."""
    batch = Batch(FORMAT)
    batch.skipped.extend(stage_csv(con, path, "deployments", read_header(path), {"type": "deployment_type"},
                                   skip_invalid=skip_invalid))
    batch.deployments = True
    return batch
