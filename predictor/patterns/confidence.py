"""Honest confidence: a lower bound on the success rate, from recency-weighted counts.

Every outcome counts: a success adds to the successes, any failed change (failure, rolled-back,
partial; rolled back or not) adds to the failures. Each outcome weighs ``0.5 ** (age / half_life)``
where age is measured back from the history's reference time, so recent runs count more.
The confidence is the lower end of the 95% Wilson score interval on those weighted counts:
one success and no failure gives 0.21, fifty successes and two failures 0.87.
"""

from __future__ import annotations

import datetime as dt
import math

#: two-sided 95% normal quantile
Z_95 = 1.959963984540054
DEFAULT_HALF_LIFE_DAYS = 90.0


def wilson_lower_bound(successes: float, total: float, z: float = Z_95) -> float:
    """Return the lower end of the Wilson score interval for SUCCESSES out of TOTAL (0 when TOTAL is 0)."""
    if total <= 0:
        return 0.0
    rate = min(1.0, max(0.0, successes / total))
    z2 = z * z
    centre = rate + z2 / (2 * total)
    margin = z * math.sqrt(rate * (1 - rate) / total + z2 / (4 * total * total))
    return max(0.0, (centre - margin) / (1 + z2 / total))


def recency_weight(when: dt.datetime, reference: dt.datetime, half_life_days: float | None) -> float:
    """Return the weight of an outcome at WHEN seen from REFERENCE: halves every HALF_LIFE_DAYS (1 if None/0)."""
    if not half_life_days:
        return 1.0
    age_days = max(0.0, (reference - when).total_seconds() / 86400.0)
    return 0.5 ** (age_days / half_life_days)


def two_proportion_z(failures_a: int, total_a: int, failures_b: int, total_b: int) -> float:
    """Return the z statistic of rate A minus rate B under the pooled null hypothesis (0 when undefined)."""
    if total_a == 0 or total_b == 0:
        return 0.0
    pooled = (failures_a + failures_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:
        return 0.0
    return (failures_a / total_a - failures_b / total_b) / spread
