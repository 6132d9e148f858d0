"""The planted structure of the demo history: every constant the generator draws from.

Tests of other areas compare what they learn against these numbers, so each one is named,
documented, and used by exactly one formula: :func:`failure_logit` gives the log-odds of
failure for a deployment (vectorised over numpy arrays or for one row), and the generator
and :func:`predictor.demo.history.true_risk` both call it.
"""

from __future__ import annotations

import numpy as np

ENVIRONMENTS = ("dev", "staging", "production")
DEPLOYMENT_TYPES = ("blue-green", "canary", "rolling", "big-bang", "feature-flag", "a-b-test")
SERVICE_TYPES = ("monolith", "microservice", "serverless", "batch-job", "edge-function")
RESOURCE_KINDS = ("project", "database", "cache", "queue", "cdn")
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-1")
BUMPS = ("major", "minor", "patch")

# -- volume ------------------------------------------------------------------------------
#: relative deployment volume per UTC hour of day (business hours busiest, nights quiet)
HOUR_VOLUME = np.array([
    0.15, 0.10, 0.08, 0.08, 0.10, 0.15, 0.30, 0.60, 1.20, 2.00, 2.40, 2.30,
    1.60, 2.00, 2.40, 2.30, 2.00, 1.40, 0.90, 0.60, 0.45, 0.35, 0.25, 0.20,
])
#: relative volume per weekday, Monday first (weekends quiet, Friday a little quieter)
WEEKDAY_VOLUME = np.array([1.00, 1.10, 1.10, 1.00, 0.80, 0.20, 0.12])
#: linear growth of daily volume from the first day to the last (a share; 0.3 = +30%)
VOLUME_GROWTH = 0.3
#: share of releases that go to dev first, and to staging before production
DEV_SHARE = 0.35
STAGING_SHARE = 0.85
#: probability that production follows staging, by staging outcome
PRODUCTION_AFTER_STAGING_SUCCESS = 0.90
PRODUCTION_AFTER_STAGING_FAILURE = 0.45
PRODUCTION_AFTER_STAGING_CANCELLED = 0.50
#: gaps before production (lognormal medians, seconds): staging then dev
STAGING_GAP_MEDIAN = 2.5 * 3600
DEV_GAP_MEDIAN = 2 * 3600
#: version bump kind probabilities (major, minor, patch)
BUMP_SHARE = (0.06, 0.29, 0.65)
#: deployment type probabilities per environment (order of DEPLOYMENT_TYPES)
TYPE_SHARE = {
    "dev": (0.10, 0.10, 0.20, 0.35, 0.15, 0.10),
    "staging": (0.20, 0.20, 0.25, 0.12, 0.13, 0.10),
    "production": (0.22, 0.22, 0.25, 0.08, 0.13, 0.10),
}
#: change size: lognormal lines changed, median and sigma; major bumps are 3x larger
CHANGE_SIZE_MEDIAN = 80
CHANGE_SIZE_SIGMA = 1.0
MAJOR_CHANGE_FACTOR = 3
#: share of deployments cancelled before an outcome (drawn before the outcome)
CANCELLED_SHARE = 0.02
#: time from the release's commit to its first deployment: lognormal median (s), sigma
COMMIT_LEAD_MEDIAN = 4 * 3600
COMMIT_LEAD_SIGMA = 0.9

# -- failure model (log-odds) --------------------------------------------------------------
FAILURE_INTERCEPT = -2.85
ENVIRONMENT_EFFECT = {"dev": -0.3, "staging": 0.0, "production": 0.2}
#: per UTC hour of day: late night and evening worse than business hours
HOUR_EFFECT = np.array([
    0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.3, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.8, 0.8, 0.8, 0.8,
])
#: per weekday, Monday first; Friday from 15:00 UTC gets FRIDAY_AFTERNOON_EFFECT on top
WEEKDAY_EFFECT = np.array([0.1, 0.0, 0.0, 0.0, 0.3, 0.5, 0.5])
FRIDAY_AFTERNOON_HOUR = 15
FRIDAY_AFTERNOON_EFFECT = 0.6
TYPE_EFFECT = {
    "blue-green": -0.5, "canary": -0.6, "rolling": 0.2,
    "big-bang": 0.9, "feature-flag": 0.0, "a-b-test": 0.1,
}
SERVICE_TYPE_EFFECT = {
    "monolith": 0.4, "microservice": 0.0, "serverless": -0.2, "batch-job": 0.1, "edge-function": -0.1,
}
#: spread of the per-service base log-odds around its type effect (normal sigma)
SERVICE_BASE_SIGMA = 0.4
#: per direct dependency (any kind)
DEPENDENCY_EFFECT = 0.15
#: concurrency: per other deployment of the same service or a direct dependency, same
#: environment, started in the CONCURRENCY_WINDOW seconds before; counted up to CONCURRENCY_CAP
CONCURRENCY_WINDOW = 2 * 3600
CONCURRENCY_EFFECT = 0.35
CONCURRENCY_CAP = 4
#: change size: CHANGE_SIZE_EFFECT * log2(change_size / CHANGE_SIZE_NEUTRAL), clipped
CHANGE_SIZE_EFFECT = 0.45
CHANGE_SIZE_NEUTRAL = 100
CHANGE_SIZE_CLIP = (-3.0, 4.0)
MAJOR_BUMP_EFFECT = 0.7
#: production deployment of a version whose staging deployment failed
STAGING_FAILED_EFFECT = 1.2
#: production deployment that lacks one of the planted adaptations (each, up to 3)
MISSING_ADAPTATION_EFFECT = 0.35
#: deployment using the best configuration template of its (environment, resources)
BEST_TEMPLATE_EFFECT = -0.8

# -- outcomes ----------------------------------------------------------------------------
#: how a failed deployment ends: rolled-back, failure, partial
FAILED_STATUS_SHARE = {"rolled-back": 0.45, "failure": 0.40, "partial": 0.15}
#: share of deployments ending in "failure" that attempted a rollback (which itself failed)
FAILURE_ROLLBACK_ATTEMPT = 0.30

# -- configuration -------------------------------------------------------------------------
#: configuration templates (replicas, health_check_grace seconds); one is best per
#: (environment, resources) and used with BEST_TEMPLATE_EXTRA probability on top of uniform
TEMPLATES = ((2, 10), (3, 30), (4, 30), (3, 60))
BEST_TEMPLATE_EXTRA = 0.30
#: staging->production adaptations: (configuration key, value in dev/staging, value in
#: production); non-production uses the first value, production the second, each with
#: ADAPTATION_CONSISTENCY probability (else the other value)
ADAPTATIONS = (
    ("ssl_verify", False, True),
    ("timeout_seconds", 30, 60),
    ("audit_logging", False, True),
)
ADAPTATION_CONSISTENCY = {"dev": 0.9, "staging": 0.9, "production": 0.88}

# -- durations -----------------------------------------------------------------------------
#: lognormal median seconds by service type, times factors by type and environment,
#: times (change_size / CHANGE_SIZE_NEUTRAL) ** DURATION_CHANGE_EXPONENT; sigma DURATION_SIGMA
DURATION_MEDIAN = {"monolith": 900, "microservice": 300, "serverless": 90, "batch-job": 600, "edge-function": 60}
DURATION_TYPE_FACTOR = {
    "blue-green": 1.3, "canary": 2.0, "rolling": 1.5, "big-bang": 0.8, "feature-flag": 0.5, "a-b-test": 1.8,
}
DURATION_ENV_FACTOR = {"dev": 0.6, "staging": 0.9, "production": 1.2}
DURATION_CHANGE_EXPONENT = 0.15
DURATION_SIGMA = 0.35

# -- failure causes and rollbacks ------------------------------------------------------------
FAILURE_CAUSES = (
    "database-migration", "config-error", "health-check-timeout",
    "dependency-unavailable", "resource-exhaustion", "test-regression",
)
#: base weight of each cause among failures; database-migration only for services with a
#: database; health-check-timeout +0.3 when timeout_seconds is 30 in production;
#: dependency-unavailable +0.25 when the deployment had concurrent deployments
CAUSE_WEIGHT = {
    "database-migration": 0.40, "config-error": 0.20, "health-check-timeout": 0.20,
    "dependency-unavailable": 0.10, "resource-exhaustion": 0.10, "test-regression": 0.15,
}
#: reason texts per cause (each text belongs to exactly one cause; some carry quotes and
#: backslashes on purpose so writers' escaping is exercised)
CAUSE_REASONS = {
    "database-migration": (
        "database migration failed: lock timeout on schema change",
        "database migration failed: incompatible column type",
    ),
    "config-error": (
        "configuration error: missing environment variable",
        'configuration error: invalid value for "max_connections"',
        'configuration error: bad path "C:\\deploy\\app.yaml"',
    ),
    "health-check-timeout": (
        'health check "GET /healthz" timed out',
        "health check failing after deploy: readiness probe 503",
    ),
    "dependency-unavailable": (
        "dependency unavailable: upstream returned 502",
        "dependency unavailable: connection refused",
    ),
    "resource-exhaustion": (
        "resource exhaustion: out of memory (OOMKilled)",
        "resource exhaustion: CPU throttled above limit",
    ),
    "test-regression": (
        "smoke test regression: error rate above 5%",
        "smoke test regression: p99 latency doubled",
    ),
}
REASON_CAUSE = {reason: cause for cause, reasons in CAUSE_REASONS.items() for reason in reasons}
CAUSE_STEPS = {
    "database-migration": ("drain traffic", "restore database snapshot", "redeploy previous version",
                           "verify health checks"),
    "config-error": ("revert configuration", "redeploy previous version", "verify health checks"),
    "health-check-timeout": ("switch traffic to previous version", "verify health checks"),
    "dependency-unavailable": ("switch traffic to previous version", "notify dependency owners",
                               "verify health checks"),
    "resource-exhaustion": ("scale up previous version", "switch traffic to previous version",
                            "verify health checks"),
    "test-regression": ("switch traffic to previous version", "verify health checks"),
}
CAUSE_LESSONS = {
    "database-migration": "run schema migrations as a separate, reversible step before switching traffic",
    "config-error": "validate configuration against the target environment before deploying",
    "health-check-timeout": "give health checks a longer grace period and timeout in production",
    "dependency-unavailable": "avoid deploying while a dependency is being deployed",
    "resource-exhaustion": "load-test the release with production-sized resources",
    "test-regression": "gate the rollout on smoke tests of error rate and latency",
}
#: planted median recovery seconds (rollback started -> completed) per cause, in production;
#: other environments scale by RECOVERY_ENV_FACTOR; lognormal with sigma RECOVERY_SIGMA
RECOVERY_MEDIAN = {
    "database-migration": 2400, "config-error": 600, "health-check-timeout": 900,
    "dependency-unavailable": 1200, "resource-exhaustion": 1500, "test-regression": 450,
}
RECOVERY_ENV_FACTOR = {"dev": 0.5, "staging": 0.7, "production": 1.0}
RECOVERY_SIGMA = 0.45
#: delay from the failed deployment's completion to the rollback start: lognormal median (s)
ROLLBACK_DETECT_MEDIAN = 120


def planted_recovery_median(cause: str, environment: str) -> float:
    """Return the planted median recovery seconds of rollbacks for CAUSE in ENVIRONMENT."""
    return RECOVERY_MEDIAN[cause] * RECOVERY_ENV_FACTOR[environment]


def change_size_term(change_size):
    """Return the change-size log-odds term (array or scalar)."""
    ratio = np.log2(np.maximum(np.asarray(change_size, dtype=float), 1.0) / CHANGE_SIZE_NEUTRAL)
    return CHANGE_SIZE_EFFECT * np.clip(ratio, *CHANGE_SIZE_CLIP)


def failure_logit(*, service_base, environment, hour, weekday, deployment_type, n_dependencies,
                  concurrent, change_size, major, staging_failed, best_template, missing_adaptations):
    """Return the planted log-odds of failure; every argument an array (or scalar) aligned.

    ENVIRONMENT and DEPLOYMENT_TYPE are index arrays into ENVIRONMENTS and DEPLOYMENT_TYPES;
    HOUR is the UTC hour (0-23), WEEKDAY Monday=0; booleans as 0/1.
    """
    env_effect = np.array([ENVIRONMENT_EFFECT[e] for e in ENVIRONMENTS])
    type_effect = np.array([TYPE_EFFECT[t] for t in DEPLOYMENT_TYPES])
    hour = np.asarray(hour)
    weekday = np.asarray(weekday)
    friday_afternoon = (weekday == 4) & (hour >= FRIDAY_AFTERNOON_HOUR)
    return (
        FAILURE_INTERCEPT
        + np.asarray(service_base, dtype=float)
        + env_effect[np.asarray(environment)]
        + HOUR_EFFECT[hour]
        + WEEKDAY_EFFECT[weekday]
        + FRIDAY_AFTERNOON_EFFECT * friday_afternoon
        + type_effect[np.asarray(deployment_type)]
        + DEPENDENCY_EFFECT * np.asarray(n_dependencies)
        + CONCURRENCY_EFFECT * np.minimum(np.asarray(concurrent), CONCURRENCY_CAP)
        + change_size_term(change_size)
        + MAJOR_BUMP_EFFECT * np.asarray(major)
        + STAGING_FAILED_EFFECT * np.asarray(staging_failed)
        + MISSING_ADAPTATION_EFFECT * np.asarray(missing_adaptations)
        + BEST_TEMPLATE_EFFECT * np.asarray(best_template)
    )


def sigmoid(logit):
    """Return the logistic function of LOGIT."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logit, dtype=float)))
