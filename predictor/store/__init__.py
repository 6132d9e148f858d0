"""The DuckDB history store: open (creating and migrating), and the shared vocabulary.

One process writes the file at a time. While the daemon runs it is that writer, and CLI
commands that write go through it (see ``predictor.client``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from predictor.config import default_db_path
from predictor.errors import StoreError
from predictor.store.migrations import MIGRATIONS

if TYPE_CHECKING:
    import duckdb

# duckdb is imported where a store is opened, not here: the SQLite reader's helper process
# imports this package for its readers only and starts faster without it

STATUSES = ("pending", "in-progress", "success", "failure", "rolled-back", "partial", "cancelled")
DEPLOYMENT_TYPES = ("blue-green", "canary", "rolling", "big-bang", "feature-flag", "a-b-test")
SERVICE_TYPES = ("monolith", "microservice", "serverless", "batch-job", "edge-function")
DEPENDENCY_KINDS = ("hard", "soft", "optional")
#: statuses that count as a failed change (DORA change failure rate, failure model label)
FAILED_STATUSES = ("failure", "rolled-back", "partial")
#: statuses whose outcome is known
FINISHED_STATUSES = ("success", "failure", "rolled-back", "partial", "cancelled")


def utcnow() -> dt.datetime:
    """Return the current UTC time as a naive datetime (how the store keeps times)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Store:
    """An open history store. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise StoreError(f"{self.path}: no history store here (run `predictor ingest` first)")
        import duckdb

        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(
                    f"{self.path}: the store is in use by another process "
                    "(is `predictor serve` running? commands then go through it)"
                ) from exc
            raise StoreError(f"{self.path}: cannot open the store: {text}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: not a DuckDB store: {exc}") from exc
        if not read_only:
            self.migrate()
        else:
            pending = self.pending_migrations()
            if pending:
                self.con.close()
                raise StoreError(f"{self.path}: store needs migrations {pending}; open it for writing once")

    # -- migrations -------------------------------------------------------------------------
    def applied_migrations(self) -> list[str]:
        """Return the names of the migrations recorded in this store, in order applied."""
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '_migrations'"
        ).fetchone()[0]
        if not exists:
            return []
        return [row[0] for row in self.con.execute("SELECT name FROM _migrations ORDER BY applied_at, name").fetchall()]

    def pending_migrations(self) -> list[str]:
        """Return the names of known migrations not yet applied."""
        done = set(self.applied_migrations())
        return [name for name, _ in MIGRATIONS if name not in done]

    def migrate(self) -> list[str]:
        """Apply every pending migration, each in its own transaction; return their names."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
        )
        import duckdb

        applied = []
        done = set(self.applied_migrations())
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute("INSERT INTO _migrations VALUES (?, ?)", [name, utcnow()])
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.con.execute("ROLLBACK")
                raise StoreError(f"{self.path}: migration {name} failed: {exc}") from exc
            applied.append(name)
        return applied

    # -- helpers ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Return the number of rows in each history table."""
        row = self.con.execute(
            """SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM rollbacks),
                      (SELECT count(*) FROM services), (SELECT count(*) FROM service_dependencies),
                      (SELECT count(*) FROM service_profiles), (SELECT count(*) FROM sources)"""
        ).fetchone()
        names = ("deployments", "rollbacks", "services", "service_dependencies", "service_profiles", "sources")
        return dict(zip(names, row))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        import duckdb

        try:
            self.con.close()
        except duckdb.Error:
            pass

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path | None = None, *, read_only: bool = False) -> Store:
    """Open (creating and migrating when writable) the store at PATH or the default location."""
    return Store(path, read_only=read_only)
