"""Every deployment's point-in-time features in one DuckDB query, for training and evaluation.

The outcome history is a stream of events per service: a *start* event at each deployment's
``started`` and an *outcome* event when its result became known (``completed``; a finished
deployment without a completion time is taken as known at its start). Ordering the stream by
(time, start-before-outcome, id) and summing over ``ROWS UNBOUNDED PRECEDING`` gives, at each
start event, exactly the outcomes known strictly before that start. Activity counts (velocity,
concurrency, previous deployment) use ``RANGE ... 1 PRECEDING`` frames over epoch microseconds,
so deployments starting at the very same instant never see each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predictor.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, FeatureConfig

DAY_US = 86_400_000_000

FEATURES_SQL = """
WITH RECURSIVE
base AS (
    SELECT d.id, d.service, d.version, d.environment, d.deployment_type, d.status,
           d.metadata, d.configuration, d.change_size AS change_size_column,
           epoch_us(d.started) AS t,
           CASE WHEN d.status IN ('success', 'failure', 'rolled-back', 'partial')
                THEN greatest(epoch_us(coalesce(d.completed, d.started)), epoch_us(d.started)) END AS t_known,
           CASE WHEN d.status IN ('failure', 'rolled-back', 'partial') THEN 1
                WHEN d.status = 'success' THEN 0 END AS failed,
           floor(coalesce(d.duration_seconds, (epoch_us(d.completed) - epoch_us(d.started)) / 1e6) * 1000 + 0.5)::BIGINT
               AS duration,  -- milliseconds, so sums are exact whatever the summation order
           (d.started AT TIME ZONE 'UTC') AT TIME ZONE $tz AS local_started
    FROM deployments d
),
events AS (
    SELECT service, t AS et, 0 AS kind, id, NULL::INTEGER AS failed, NULL::BIGINT AS duration FROM base
    UNION ALL
    SELECT service, t_known, 1, id, failed, duration FROM base WHERE t_known IS NOT NULL
),
running AS (
    SELECT *,
           sum(kind) OVER w AS n_out,
           sum(CASE WHEN kind = 1 THEN failed ELSE 0 END) OVER w AS n_fail,
           sum(CASE WHEN kind = 1 THEN duration END) OVER w AS duration_sum,
           count(CASE WHEN kind = 1 THEN duration END) OVER w AS duration_n,
           last_value(CASE WHEN kind = 1 THEN failed END IGNORE NULLS) OVER w AS last_failed
    FROM events
    WINDOW w AS (PARTITION BY service ORDER BY et, kind, id ROWS UNBOUNDED PRECEDING)
),
streaks AS (
    SELECT *, max(CASE WHEN kind = 1 AND failed = 0 THEN n_fail END) OVER w AS n_fail_at_last_success
    FROM running
    WINDOW w AS (PARTITION BY service ORDER BY et, kind, id ROWS UNBOUNDED PRECEDING)
),
known AS (
    SELECT id, n_out, n_fail, duration_sum, duration_n, last_failed,
           n_fail - coalesce(n_fail_at_last_success, 0) AS streak
    FROM streaks WHERE kind = 0
),
activity AS (
    SELECT id,
           count(*) OVER (PARTITION BY service ORDER BY t RANGE BETWEEN $d7 PRECEDING AND 1 PRECEDING) AS d7,
           count(*) OVER (PARTITION BY service ORDER BY t RANGE BETWEEN $d28 PRECEDING AND 1 PRECEDING) AS d28,
           count(*) OVER (PARTITION BY service ORDER BY t RANGE BETWEEN $conc PRECEDING AND 1 PRECEDING) AS conc,
           max(t) OVER (PARTITION BY service ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_t,
           count(*) OVER e AS env_previous,
           arg_max(struct_pack(v := version), struct_pack(t := t, i := id)) OVER e AS env_prev
    FROM base
    WINDOW e AS (PARTITION BY service, environment ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
edges AS (
    SELECT DISTINCT service, depends_on FROM service_dependencies WHERE service <> depends_on
),
down(service, other) AS (
    SELECT service, depends_on FROM edges
    UNION
    SELECT down.service, edges.depends_on FROM down JOIN edges ON down.other = edges.service
),
up(service, other) AS (
    SELECT depends_on, service FROM edges
    UNION
    SELECT up.service, edges.service FROM up JOIN edges ON up.other = edges.depends_on
),
graph AS (
    SELECT s.service,
           (SELECT count(*) FROM edges e WHERE e.service = s.service) AS deps,
           (SELECT count(DISTINCT other) FROM down WHERE down.service = s.service AND other <> s.service) AS deps_all,
           (SELECT count(*) FROM edges e WHERE e.depends_on = s.service) AS dependents,
           (SELECT count(DISTINCT other) FROM up WHERE up.service = s.service AND other <> s.service) AS dependents_all
    FROM (SELECT DISTINCT service FROM base) s
),
neighbours AS (
    SELECT service, depends_on AS neighbour FROM edges
    UNION
    SELECT depends_on, service FROM edges
),
starts_upto AS (
    SELECT service, t, count(*) OVER (PARTITION BY service ORDER BY t RANGE UNBOUNDED PRECEDING) AS upto
    FROM base
),
pairs AS (
    SELECT b.id, b.t, n.neighbour FROM base b JOIN neighbours n ON n.service = b.service
),
pair_hi AS (
    SELECT p.id, p.neighbour, p.t, coalesce(s.upto, 0) AS upto FROM pairs p
    ASOF LEFT JOIN starts_upto s ON s.service = p.neighbour AND s.t < p.t
),
pair_lo AS (
    SELECT p.id, p.neighbour, coalesce(s.upto, 0) AS upto FROM pairs p
    ASOF LEFT JOIN starts_upto s ON s.service = p.neighbour AND s.t < p.t - $conc
),
neighbour_activity AS (
    SELECT hi.id, sum(hi.upto - lo.upto) AS conc_neighbours
    FROM pair_hi hi JOIN pair_lo lo ON hi.id = lo.id AND hi.neighbour = lo.neighbour
    GROUP BY hi.id
),
same_version AS (
    SELECT a.id, max(1 - b.failed) AS succeeded, max(b.failed) AS failed
    FROM base a JOIN base b
      ON a.service = b.service AND a.version = b.version AND a.environment <> b.environment
     AND b.t_known < a.t
    GROUP BY a.id
)
SELECT
    b.id, b.service, b.t AS started_us, b.failed AS label, b.status,
    hour(b.local_started)::DOUBLE AS hour,
    (isodow(b.local_started) - 1)::DOUBLE AS day_of_week,
    coalesce((b.t - a.prev_t) / $day, -1)::DOUBLE AS days_since_previous,
    a.d7::DOUBLE AS deployments_7d,
    a.d28::DOUBLE AS deployments_28d,
    ((a.d7 + 1) / (a.d28 / 4 + 1))::DOUBLE AS velocity_trend,
    coalesce(g.deps, 0)::DOUBLE AS dependencies,
    coalesce(g.deps_all, 0)::DOUBLE AS dependencies_transitive,
    coalesce(g.dependents, 0)::DOUBLE AS dependents,
    coalesce(g.dependents_all, 0)::DOUBLE AS dependents_transitive,
    k.n_out::DOUBLE AS past_outcomes,
    ((k.n_fail + $strength * $prior) / (k.n_out + $strength))::DOUBLE AS failure_rate_smoothed,
    k.streak::DOUBLE AS failure_streak,
    coalesce(k.last_failed, -1)::DOUBLE AS previous_outcome,
    CASE WHEN k.duration_n > 0 THEN k.duration_sum::DOUBLE / k.duration_n / 1000 ELSE -1 END::DOUBLE AS typical_duration,
    coalesce(b.change_size_column::DOUBLE,
             TRY_CAST(json_extract_string(b.metadata, '$.change_size') AS DOUBLE),
             TRY_CAST(json_extract_string(b.metadata, '$."change-size"') AS DOUBLE),
             TRY_CAST(json_extract_string(b.metadata, '$.lines_changed') AS DOUBLE),
             TRY_CAST(json_extract_string(b.metadata, '$."lines-changed"') AS DOUBLE), -1)::DOUBLE AS change_size,
    coalesce(TRY_CAST(json_extract_string(b.configuration, '$.replicas') AS DOUBLE),
             TRY_CAST(json_extract_string(b.metadata, '$.replicas') AS DOUBLE), -1)::DOUBLE AS config_replicas,
    CASE WHEN json_type(b.configuration) = 'OBJECT' THEN len(json_keys(b.configuration)) ELSE 0 END::DOUBLE
        AS config_keys,
    coalesce(v.succeeded, 0)::DOUBLE AS version_succeeded_elsewhere,
    coalesce(v.failed, 0)::DOUBLE AS version_failed_elsewhere,
    a.conc::DOUBLE AS concurrent_service,
    coalesce(n.conc_neighbours, 0)::DOUBLE AS concurrent_neighbours,
    b.environment AS environment,
    coalesce(b.deployment_type, 'unknown') AS deployment_type,
    coalesce(s.type, 'unknown') AS service_type,
    CASE WHEN a.env_previous = 0 THEN 'first'
         WHEN b.version IS NULL OR a.env_prev.v IS NULL THEN 'unknown'
         WHEN b.version = a.env_prev.v THEN 'same'
         ELSE 'compare' END AS version_bump,
    b.version AS version, a.env_prev.v AS previous_version
FROM base b
JOIN known k ON k.id = b.id
JOIN activity a ON a.id = b.id
LEFT JOIN graph g ON g.service = b.service
LEFT JOIN neighbour_activity n ON n.id = b.id
LEFT JOIN same_version v ON v.id = b.id
LEFT JOIN services s ON s.name = b.service
ORDER BY b.t, b.id
"""


@dataclass
class FeatureFrame:
    """Features of many deployments, column-wise, in start order.

    ``label`` is 1.0 (failed), 0.0 (succeeded) or NaN (no outcome to learn from: cancelled,
    pending, in progress). ``columns`` maps every name of :data:`ALL_FEATURES` to an array
    (float64 for numeric features, object arrays of str for categorical ones).
    """

    ids: np.ndarray
    services: np.ndarray
    started_us: np.ndarray
    label: np.ndarray
    columns: dict[str, np.ndarray]
    versions: np.ndarray | None = None
    statuses: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> "FeatureFrame":
        """Return the rows at INDEX (integer positions or a boolean mask)."""
        return FeatureFrame(self.ids[index], self.services[index], self.started_us[index], self.label[index],
                            {name: values[index] for name, values in self.columns.items()},
                            None if self.versions is None else self.versions[index],
                            None if self.statuses is None else self.statuses[index])

    def row(self, position: int) -> dict:
        """Return one row's features as a dict (numbers as float, categories as str)."""
        out = {}
        for name in NUMERIC_FEATURES:
            out[name] = float(self.columns[name][position])
        for name in CATEGORICAL_FEATURES:
            out[name] = str(self.columns[name][position])
        return out


def training_features(store, config: FeatureConfig | None = None) -> FeatureFrame:
    """Compute the point-in-time features of every deployment in STORE (all statuses)."""
    from predictor.features.records import version_bump

    config = (config or FeatureConfig()).validate()
    params = {
        "tz": config.timezone,
        "d7": 7 * DAY_US,
        "d28": 28 * DAY_US,
        "conc": int(round(config.concurrency_hours * 3_600_000_000)),
        "day": float(DAY_US),
        "strength": float(config.prior_strength),
        "prior": float(config.prior_mean),
    }
    data = store.con.execute(FEATURES_SQL, params).fetchnumpy()
    columns: dict[str, np.ndarray] = {}
    for name in NUMERIC_FEATURES:
        columns[name] = np.asarray(data[name], dtype=np.float64)
    for name in ("environment", "deployment_type", "service_type"):
        columns[name] = _objects(data[name])
    bump = _objects(data["version_bump"])
    versions, previous = _objects(data["version"]), _objects(data["previous_version"])
    for position in np.flatnonzero(bump == "compare"):
        bump[position] = version_bump(versions[position], previous[position], True)
    columns["version_bump"] = bump
    raw_label = data["label"]
    if isinstance(raw_label, np.ma.MaskedArray):
        label = raw_label.astype(np.float64).filled(np.nan)
    else:
        label = np.asarray(raw_label, dtype=np.float64)
    return FeatureFrame(
        ids=_objects(data["id"]),
        services=_objects(data["service"]),
        started_us=np.asarray(data["started_us"], dtype=np.int64),
        label=label,
        columns=columns,
        versions=versions,
        statuses=_objects(data["status"]),
    )


def _objects(values) -> np.ndarray:
    """Return a fetched column as an object array with None for NULL."""
    if isinstance(values, np.ma.MaskedArray):
        out = np.asarray(values.data, dtype=object)
        out[np.ma.getmaskarray(values)] = None
        return out
    return np.asarray(values, dtype=object)
