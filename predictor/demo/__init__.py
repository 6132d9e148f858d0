"""Demo deployment histories with planted, documented structure, and writers for every ledger format.

``generate_history(seed=0, services=20, days=120, start=datetime(2026, 1, 5),
deployments_per_day=40)`` returns a :class:`DemoHistory`: ``.services``, ``.deployments``,
``.rollbacks`` (canonical dicts, see the team brief), ``.true_failure_probability`` (aligned
with ``.deployments``), plus ``.columns`` (numpy, aligned) for fast work. Same seed, same
history. :func:`true_risk` gives the planted failure probability of any deployment. The exact
constants live in :mod:`predictor.demo.planted`; what follows is the structure other areas'
tests may rely on. All times are naive UTC and the demo organisation works in UTC.

Services and the dependency graph (:mod:`predictor.demo.catalog`)
    Names come from a fixed list (``auth``, ``config``, ``database-proxy``, ``api-gateway``,
    ``payments``, ...; ``name-2`` etc. beyond 30) with fixed types (monolith, microservice,
    serverless, batch-job, edge-function), a team, two owners, repository, documentation URL,
    health check (none for batch jobs), tags (type, team, ``tier-1`` for hubs, ``pci``,
    ``uses-<resource>``) and the resources it deploys (always ``project``; ``database``,
    ``cache``, ``queue``, ``cdn`` by type and chance). A service depends only on services
    earlier in the list (a DAG). The first ``min(3, services // 4)`` services are hubs
    (``history.hubs``): each later service depends on each hub with probability 0.6 (auth:
    hard, config: soft, database-proxy: hard), and hubs chain (config -> auth, database-proxy ->
    config, hard), so hubs have many transitive dependents (``history.dependents(name)`` gives
    them with BFS distances). Other services get Binomial(3, 0.35) extra edges to earlier
    non-hub services, kinds hard/soft/optional 40/35/25%.

Releases, environments, versions
    Each release is one new semantic version of one service (per-service versions increase in
    time; bumps major/minor/patch 6/29/65%). It deploys to production at an anchor time drawn
    with the volume seasonality below; 85% go to staging first (lognormal gap, median 2.5 h),
    35% to dev before that (median 2 h earlier). Production follows a staging deployment with
    probability 0.90 after success, 0.45 after failure, 0.50 after cancellation; releases
    without staging always go to production. ``parent_id`` of a production deployment is the
    release's staging (else dev) deployment, of a staging deployment its dev deployment. The
    deployment count is about ``days * deployments_per_day`` (Poisson).

Volume seasonality
    Per UTC hour, business hours 09-17 are busiest and 00-05 quietest (``HOUR_VOLUME``); per
    weekday Monday..Sunday 1.0, 1.1, 1.1, 1.0, 0.8, 0.2, 0.12; a linear trend (``growth``,
    default +30% from the first day to the last, around the average). Deployment types by environment
    (production: blue-green 22%, canary 22%, rolling 25%, big-bang 8%, feature-flag 13%,
    a-b-test 10%; dev uses big-bang 35%).

Failure model (logistic; ``planted.failure_logit``)
    log-odds = -2.85 + service base (type effect monolith +0.4, serverless -0.2, batch-job
    +0.1, edge-function -0.1, plus N(0, 0.4) per service; ``catalog.base_logit``) + environment
    (dev -0.3, staging 0, production +0.2) + hour (00-05 +0.9, 06-08 +0.3, 09-16 0, 17-19 +0.5,
    20-23 +0.8) + weekday (Mon +0.1, Fri +0.3, Sat/Sun +0.5) + Friday from 15:00 +0.6 + type
    (canary -0.6, blue-green -0.5, feature-flag 0, a-b-test +0.1, rolling +0.2, big-bang +0.9)
    + 0.15 per direct dependency + 0.35 per concurrent deployment (others of the same service
    or its direct dependencies, same environment, started in the 2 hours before; capped at 4)
    + 0.45 * log2(change_size / 100) (clipped to [-3, 4]) + major bump +0.7 + production after
    a failed staging deployment of the same version +1.2 + in production 0.35 per missing
    adaptation (below) - 0.8 for the best configuration template. The overall failed share is
    about 15% at the default size. 2% of deployments are cancelled (drawn first, no outcome).
    A failure ends rolled-back 45%, failure 40%, partial 15%. ``true_failure_probability`` is
    the planted probability per deployment (for cancelled ones: had it run).

Change and commit
    ``change_size`` (also metadata ``change-size``): lognormal lines, median 80, sigma 1;
    3x for major bumps. ``commit_time`` (metadata ``commit-time``): lognormal median 4 h
    before the release's first deployment.

Configuration and the pattern learner's executions
    ``configuration`` = {replicas, timeout_seconds, ssl_verify, audit_logging,
    health_check_grace} (also in metadata under ``configuration``). Template (replicas,
    health_check_grace) is one of (2, 10), (3, 30), (4, 30), (3, 60); one is best per
    (environment, resource set) (``history.best_configuration(env, resources)``), drawn with
    probability 0.30 + 0.70/4, and lowers the log-odds by 0.8. Adaptations: dev/staging use
    ssl_verify false, timeout_seconds 30, audit_logging false (each 90%); production uses
    true, 60, true (each 88%), each one missing in production adds +0.35. Every deployment is
    also an execution: name ``service-version-env``, strategy = deployment type,
    source_environment (dev for staging, staging for production), target_host, resources (the
    service's), automated (initiator is a bot: ci-bot, deploy-bot; 60/50/30% in
    dev/staging/production), failure_reasons ([reason] when failed), rollback_triggered /
    rollback_successful, log_excerpt, performance {cpu_percent, memory_mb, response_time_ms,
    error_rate} (failures higher), lessons_learned (one per failure cause).

Durations
    lognormal, sigma 0.35, median = by service type (monolith 900 s, microservice 300,
    serverless 90, batch-job 600, edge-function 60) x type (canary 2.0, a-b-test 1.8, rolling
    1.5, blue-green 1.3, big-bang 0.8, feature-flag 0.5) x environment (dev 0.6, staging 0.9,
    production 1.2) x (change_size / 100) ** 0.15; independent of the outcome (cancelled runs
    are cut to 5-50%). ``columns["duration_median"]`` holds each planted median.
    ``completed = started + duration``; times are whole seconds.

Failure causes and rollbacks
    A failed deployment has a cause (``history.failure_causes``): database-migration (only
    services with a database), config-error, health-check-timeout (more likely with a 30 s
    timeout in production), dependency-unavailable (more likely with concurrency),
    resource-exhaustion, test-regression; its reason text comes from a small vocabulary per
    cause (``planted.CAUSE_REASONS``, ``REASON_CAUSE``; some texts hold double quotes and
    backslashes). Every rolled-back deployment and 30% of ``failure`` ones have a rollback
    (status success resp. failure): from_version = the deployment's version, to_version = the
    service's previous version, started 2 min (median) after the deployment completed,
    recovery_seconds lognormal (sigma 0.45) with planted median by cause in production
    (database-migration 2400 s, resource-exhaustion 1500, dependency-unavailable 1200,
    health-check-timeout 900, config-error 600, test-regression 450) x environment (dev 0.5,
    staging 0.7, production 1.0) (``planted.planted_recovery_median``), steps per cause,
    impact (production: critical for hubs, else medium/high; staging low; dev none),
    initiator (deploy-bot 70% for canary/blue-green, 30% otherwise, else a team member).

Writers (:mod:`predictor.demo.writers`): ``write_ledger_sqlite(history, path,
schema="migrations"|"init")``, ``write_sexp_export``, ``write_json_export``,
``write_csv_export``, ``write_feature_lines``, ``write_executions_jsonl``,
``write_rollbacks_jsonl`` (each
``(history, path, *, overwrite=False)``, returning a summary dict), and
``write_demo_files(out_dir, formats, seed=..., ...)`` behind ``predictor demo-data``. The
ledger files carry the ledger fields plus metadata ``((region . "eu-west-1") (change-size .
120) (commit-time . "2026-01-05T07:12:00Z") (configuration . ((replicas . 3) (timeout_seconds
. 60) (ssl_verify . #t) (audit_logging . #t) (health_check_grace . 30))))``; the executions
JSON Lines carry every canonical column under the same ids, so ingesting a ledger file and
then the executions adds the details to the same deployments.
"""

from predictor.demo.history import DemoHistory, generate_history, true_risk
from predictor.demo.planted import planted_recovery_median
from predictor.demo.writers import (
    write_csv_export, write_demo_files, write_executions_jsonl, write_feature_lines, write_json_export,
    write_ledger_sqlite, write_rollbacks_jsonl, write_sexp_export,
)

__all__ = [
    "DemoHistory", "generate_history", "true_risk", "planted_recovery_median",
    "write_ledger_sqlite", "write_sexp_export", "write_json_export", "write_csv_export",
    "write_feature_lines", "write_executions_jsonl", "write_rollbacks_jsonl", "write_demo_files",
]
