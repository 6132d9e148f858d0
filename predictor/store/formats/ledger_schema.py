"""deploy-ledger's SQLite schema in its two variants, as the public project creates it.

* ``init``: what its storage module's ``init-database!`` creates;
* ``migrations``: what its ``migrations/001-initial-schema.sql`` and ``002-add-features.sql`` create.

Ingest reads both (``predictor.store.formats.ledger_sqlite``); ``predictor demo-data`` writes
them, and the tests and benchmarks build ledger files from them. Written from the ledger's
public column lists (its code is not copied). ``TABLES`` holds the tables (and the migrations'
bookkeeping rows), ``INDEXES`` the indexes, so that a bulk writer can create indexes last.
"""

from __future__ import annotations

import sqlite3

SCHEMAS = ("init", "migrations")

_INIT_TABLES = """
CREATE TABLE IF NOT EXISTS deployments (
  id TEXT PRIMARY KEY,
  service_name TEXT NOT NULL,
  version TEXT NOT NULL,
  environment TEXT NOT NULL,
  deployment_type TEXT NOT NULL,
  started INTEGER NOT NULL,
  completed INTEGER,
  status TEXT NOT NULL,
  initiator TEXT NOT NULL,
  metadata TEXT,
  parent_id TEXT,
  created_at INTEGER DEFAULT (strftime('%s', 'now')),
  FOREIGN KEY (parent_id) REFERENCES deployments(id)
);
CREATE TABLE IF NOT EXISTS rollbacks (
  id TEXT PRIMARY KEY,
  service_name TEXT NOT NULL,
  from_version TEXT NOT NULL,
  to_version TEXT NOT NULL,
  reason TEXT,
  initiated INTEGER NOT NULL,
  completed INTEGER,
  status TEXT NOT NULL,
  deployment_id TEXT,
  FOREIGN KEY (deployment_id) REFERENCES deployments(id)
);
CREATE TABLE IF NOT EXISTS service_metadata (
  service_name TEXT PRIMARY KEY,
  description TEXT,
  team TEXT,
  repository_url TEXT,
  documentation_url TEXT,
  health_check_url TEXT,
  dependencies TEXT,
  tags TEXT
);
"""

_INIT_INDEXES = """
CREATE INDEX IF NOT EXISTS idx_deployments_service ON deployments(service_name);
CREATE INDEX IF NOT EXISTS idx_deployments_started ON deployments(started);
"""

_MIGRATIONS_TABLES = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
    checksum TEXT
);
INSERT OR IGNORE INTO schema_migrations (version, name) VALUES (1, 'initial-schema');
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    service_name TEXT NOT NULL,
    version TEXT NOT NULL,
    environment TEXT NOT NULL,
    deployment_type TEXT NOT NULL CHECK(deployment_type IN ('blue-green', 'canary', 'rolling', 'big-bang', 'feature-flag', 'a-b-test')),
    started INTEGER NOT NULL,
    completed INTEGER,
    status TEXT NOT NULL CHECK(status IN ('pending', 'in-progress', 'success', 'failure', 'rolled-back', 'partial', 'cancelled')),
    initiator TEXT NOT NULL,
    metadata TEXT,
    parent_id TEXT,
    created_at INTEGER DEFAULT (strftime('%s', 'now')),
    updated_at INTEGER DEFAULT (strftime('%s', 'now')),
    FOREIGN KEY (parent_id) REFERENCES deployments(id) ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS rollbacks (
    id TEXT PRIMARY KEY,
    service_name TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version TEXT NOT NULL,
    reason TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    initiator TEXT NOT NULL,
    impact TEXT,
    deployment_id TEXT,
    created_at INTEGER DEFAULT (strftime('%s', 'now')),
    FOREIGN KEY (deployment_id) REFERENCES deployments(id) ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS service_metadata (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK(type IN ('monolith', 'microservice', 'serverless', 'batch-job', 'edge-function')),
    dependencies TEXT,
    owners TEXT,
    repository TEXT,
    health_check TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    active BOOLEAN DEFAULT 1,
    tags TEXT
);
INSERT OR IGNORE INTO schema_migrations (version, name) VALUES (2, 'add-features');
CREATE TABLE IF NOT EXISTS service_dependencies (
    service_name TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    dependency_type TEXT CHECK(dependency_type IN ('hard', 'soft', 'optional')),
    created_at INTEGER DEFAULT (strftime('%s', 'now')),
    PRIMARY KEY (service_name, depends_on),
    FOREIGN KEY (service_name) REFERENCES service_metadata(name) ON DELETE CASCADE
);
"""

_MIGRATIONS_INDEXES = """
CREATE INDEX IF NOT EXISTS idx_deployments_service ON deployments(service_name);
CREATE INDEX IF NOT EXISTS idx_deployments_started ON deployments(started);
"""

TABLES = {"init": _INIT_TABLES, "migrations": _MIGRATIONS_TABLES}
INDEXES = {"init": _INIT_INDEXES, "migrations": _MIGRATIONS_INDEXES}
#: the whole schema of each variant, tables then indexes
DDL = {name: TABLES[name] + INDEXES[name] for name in SCHEMAS}


def statements(ddl: str) -> list[str]:
    """The SQL statements of DDL (no statement here holds a semicolon inside a literal)."""
    return [statement.strip() for statement in ddl.split(";") if statement.strip()]


def create_schema(con: sqlite3.Connection, schema: str, *, indexes: bool = True) -> None:
    """Create SCHEMA's tables (and, with INDEXES, its indexes) in the SQLite database CON,
    statement by statement (inside the caller's transaction, if any)."""
    if schema not in SCHEMAS:
        raise ValueError(f"schema: expected one of {', '.join(SCHEMAS)}, got {schema!r}")
    for statement in statements(DDL[schema] if indexes else TABLES[schema]):
        con.execute(statement)


def create_indexes(con: sqlite3.Connection, schema: str) -> None:
    """Create SCHEMA's indexes (after a bulk load into the tables)."""
    for statement in statements(INDEXES[schema]):
        con.execute(statement)
