"""Readers for every form of deploy-ledger history, one module per format.

Each reader takes the DuckDB connection and the file, and fills a :class:`Batch`: raw
deployment and rollback rows go into DuckDB temporary tables (``_raw_deployments``,
``_raw_rollbacks``; canonical column names, values still raw: times as ISO-8601 text, epoch
seconds or TIMESTAMP, JSON as text) which :mod:`predictor.store.ingest` validates and merges
in SQL; services, dependencies and profiles (few rows) travel as Python dicts.

Formats (the name recorded in ``sources.format``):

===========================  =================================================================
``ledger-sqlite-init``       the ledger's SQLite db as its storage module's ``init-database!``
                             creates it (rollbacks.initiated, service_metadata.service_name)
``ledger-sqlite-migrations`` the ledger's SQLite db as its ``migrations/*.sql`` create it
                             (rollbacks.timestamp, service_metadata.name, service_dependencies)
``ledger-sexp``              ``(deploy-ledger-export (version 1))`` then deployment/rollback
``ledger-json``              the ledger's JSON export: an array of deployment objects
``ledger-csv``               the ledger's CSV export (header ``id,service,version,...``)
``feature-lines``            experiment 001's collect-data output: one alist per service per line
``csv``, ``jsonl``, ``parquet``  plain tables with the canonical column names
                             (see :mod:`predictor.store.formats.plain`)
===========================  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Batch:
    """What one input file holds, ready for validation and merge."""

    format: str
    #: True when the reader created the temporary table ``_raw_deployments`` / ``_raw_rollbacks``
    deployments: bool = False
    rollbacks: bool = False
    #: (line, service dict) with canonical keys; dependencies inside under "dependencies"
    services: list[tuple[int, dict]] = field(default_factory=list)
    #: (line, {"service", "depends_on", "kind"}) for dependencies given apart from services
    dependencies: list[tuple[int, dict]] = field(default_factory=list)
    #: (line, profile dict) for the service_profiles table
    profiles: list[tuple[int, dict]] = field(default_factory=list)
    #: records a reader already dropped under --skip-invalid (IngestError instances)
    skipped: list[Any] = field(default_factory=list)
    #: rows each reader saw, per table (for the progress summary)
    seen: dict[str, int] = field(default_factory=dict)
