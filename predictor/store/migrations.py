"""Ordered, named schema migrations, applied on open and recorded in ``_migrations``.

Append new steps at the end. Never rename, reorder or edit a step that has shipped: a store
that already applied it would not see the change.

All times are ``TIMESTAMP`` holding UTC (no zone attached). JSON-valued fields hold JSON text.
Every ingested row carries ``source_id`` (see ``sources``: which file, which format, when).
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_sources",
        """
        CREATE SEQUENCE sources_id_seq START 1;
        CREATE TABLE sources (
            id          INTEGER PRIMARY KEY DEFAULT nextval('sources_id_seq'),
            path        VARCHAR NOT NULL,      -- absolute path of the ingested file, or 'daemon:record'
            format      VARCHAR NOT NULL,      -- ledger-sqlite-init, ledger-sqlite-migrations, ledger-sexp, ...
            sha256      VARCHAR,               -- of the file content
            ingested_at TIMESTAMP NOT NULL,    -- UTC
            summary     JSON                   -- {"deployments": {"inserted": n, "unchanged": n, "skipped": n}, ...}
        );
        """,
    ),
    (
        "002_deployments",
        """
        CREATE TABLE deployments (
            id                   VARCHAR PRIMARY KEY,
            service              VARCHAR NOT NULL,
            version              VARCHAR,
            environment          VARCHAR NOT NULL,
            deployment_type      VARCHAR,     -- blue-green canary rolling big-bang feature-flag a-b-test
            started              TIMESTAMP NOT NULL,
            completed            TIMESTAMP,
            status               VARCHAR NOT NULL CHECK (status IN
                ('pending', 'in-progress', 'success', 'failure', 'rolled-back', 'partial', 'cancelled')),
            initiator            VARCHAR,
            metadata             JSON,        -- the ledger's metadata alist as a JSON object
            parent_id            VARCHAR,
            -- derived or carried when present
            duration_seconds     DOUBLE,      -- completed - started, or given
            change_size          INTEGER,     -- lines or files changed, when metadata carries it
            configuration        JSON,        -- configuration used (object)
            commit_time          TIMESTAMP,   -- first commit of the change, for DORA lead time
            -- execution details of a pattern learner
            name                 VARCHAR,
            strategy             VARCHAR,
            source_environment   VARCHAR,
            target_host          VARCHAR,
            resources            JSON,        -- list of resource kinds deployed, e.g. ["project", "database"]
            failure_reasons      JSON,        -- list of strings
            rollback_triggered   BOOLEAN,
            rollback_successful  BOOLEAN,
            automated            BOOLEAN,
            log_excerpt          VARCHAR,
            performance          JSON,        -- object of numbers
            lessons_learned      JSON,        -- list of strings
            -- provenance
            source_id            INTEGER NOT NULL,
            source_line          INTEGER,     -- line or row in the source file, when known
            ingested_at          TIMESTAMP NOT NULL
        );
        CREATE INDEX deployments_service_started ON deployments (service, started);
        """,
    ),
    (
        "003_rollbacks",
        """
        CREATE TABLE rollbacks (
            id                VARCHAR PRIMARY KEY,
            service           VARCHAR NOT NULL,
            from_version      VARCHAR,
            to_version        VARCHAR,
            reason            VARCHAR,
            started           TIMESTAMP NOT NULL,  -- 'initiated' or 'timestamp' in the ledger
            completed         TIMESTAMP,
            status            VARCHAR,
            initiator         VARCHAR,
            impact            VARCHAR,
            deployment_id     VARCHAR,
            recovery_seconds  DOUBLE,              -- completed - started, or given
            steps             JSON,                -- list of strings, when recorded
            source_id         INTEGER NOT NULL,
            source_line       INTEGER,
            ingested_at       TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        "004_services",
        """
        CREATE TABLE services (
            name               VARCHAR PRIMARY KEY,
            type               VARCHAR,     -- monolith microservice serverless batch-job edge-function
            description        VARCHAR,
            team               VARCHAR,
            owners             JSON,        -- list of strings
            repository         VARCHAR,
            documentation_url  VARCHAR,
            health_check       VARCHAR,
            tags               JSON,        -- list of strings
            active             BOOLEAN,
            created            TIMESTAMP,
            updated            TIMESTAMP,
            source_id          INTEGER NOT NULL,
            source_line        INTEGER,
            ingested_at        TIMESTAMP NOT NULL
        );
        CREATE TABLE service_dependencies (
            service      VARCHAR NOT NULL,
            depends_on   VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL CHECK (kind IN ('hard', 'soft', 'optional')),
            source_id    INTEGER NOT NULL,
            ingested_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (service, depends_on)
        );
        """,
    ),
    (
        "005_service_profiles",
        """
        -- the per-service feature lines written by experiment 001's collect-data script
        CREATE TABLE service_profiles (
            service              VARCHAR NOT NULL,
            source_id            INTEGER NOT NULL,
            total_deployments    INTEGER,
            hourly_distribution  INTEGER[],
            weekly_distribution  INTEGER[],
            failure_patterns     JSON,        -- [{"service": s, "deployment_type": t, "count": n}, ...]
            raw                  JSON,        -- the whole alist as a JSON object
            source_line          INTEGER,
            ingested_at          TIMESTAMP NOT NULL,
            PRIMARY KEY (service, source_id)
        );
        """,
    ),
    (
        "006_models_and_predictions",
        """
        CREATE TABLE models (
            version        VARCHAR PRIMARY KEY,   -- e.g. failure-20261122T031500Z
            kind           VARCHAR NOT NULL,      -- failure, duration, ...
            created_at     TIMESTAMP NOT NULL,
            data_from      TIMESTAMP,
            data_to        TIMESTAMP,
            n_train        INTEGER,
            metrics        JSON,
            library_versions JSON,
            artifact_dir   VARCHAR NOT NULL,
            champion       BOOLEAN NOT NULL DEFAULT false,
            promoted_at    TIMESTAMP
        );
        CREATE TABLE predictions (
            request_id     VARCHAR NOT NULL,
            deployment_id  VARCHAR,
            method         VARCHAR NOT NULL,
            requested_at   TIMESTAMP NOT NULL,
            model_version  VARCHAR,
            role           VARCHAR NOT NULL DEFAULT 'champion',  -- champion, challenger, shadow
            request        JSON,
            features       JSON,
            answer         JSON,
            PRIMARY KEY (request_id, role)
        );
        CREATE TABLE feedback (
            request_id     VARCHAR NOT NULL,
            received_at    TIMESTAMP NOT NULL,
            outcome        VARCHAR,
            useful         BOOLEAN,
            comment        VARCHAR
        );
        """,
    ),
    (
        "010_models_promotions",
        """
        -- the champion history as a stack: promote pushes, rollback marks the top rolled back
        CREATE SEQUENCE model_promotions_seq START 1;
        CREATE TABLE model_promotions (
            seq          INTEGER PRIMARY KEY DEFAULT nextval('model_promotions_seq'),
            version      VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL,          -- failure, ...
            promoted_at  TIMESTAMP NOT NULL,
            rolled_back  BOOLEAN NOT NULL DEFAULT false,
            reason       VARCHAR
        );
        """,
    ),
    (
        "011_ingest_drop_service_started_index",
        "DROP INDEX IF EXISTS deployments_service_started;",
    ),
]
