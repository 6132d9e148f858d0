"""Small, explicit history builders for the pattern learner's tests: every planted fact is visible here."""

from __future__ import annotations

import datetime as dt
import itertools
import random

T0 = dt.datetime(2026, 3, 1)
_ids = itertools.count(1)


def deployment(service: str, environment: str, started: dt.datetime, status: str, **extra) -> dict:
    """Return a canonical deployment dict; completed defaults to 10 minutes after STARTED."""
    record = {
        "id": extra.pop("id", f"dep-{next(_ids):05d}"),
        "service": service,
        "environment": environment,
        "started": started,
        "completed": extra.pop("completed", started + dt.timedelta(minutes=10)),
        "status": status,
        "deployment_type": extra.pop("deployment_type", "blue-green"),
    }
    record.update(extra)
    return record


def best_configuration_history(seed: int = 7) -> tuple[list[dict], dict]:
    """Production blue-green deployments of project+database with four templates.

    Template "best" succeeds 97% of the time, the others 85%, 75% and 60%; 60 runs each spread
    over 60 days. Two small patterns look perfect (2/0 and 1/0) but rest on almost nothing.
    Returns the deployments and the best configuration.
    """
    rng = random.Random(seed)
    templates = {
        "best": ({"replicas": 3, "timeout_seconds": 60, "ssl_verify": True}, 0.97),
        "good": ({"replicas": 2, "timeout_seconds": 60, "ssl_verify": True}, 0.85),
        "fair": ({"replicas": 3, "timeout_seconds": 30, "ssl_verify": True}, 0.75),
        "poor": ({"replicas": 2, "timeout_seconds": 30, "ssl_verify": False}, 0.60),
    }
    deployments = []
    for name, (configuration, success_rate) in templates.items():
        successes = round(60 * success_rate)
        outcomes = ["success"] * successes + ["failure"] * (60 - successes)
        rng.shuffle(outcomes)
        for i, status in enumerate(outcomes):
            deployments.append(deployment(
                f"svc-{i % 6}", "production", T0 + dt.timedelta(days=i, hours=rng.randint(0, 8)), status,
                configuration=dict(configuration), resources=["project", "database"], strategy="blue-green"))
    for replicas, count in ((7, 2), (8, 1)):
        for i in range(count):
            deployments.append(deployment(
                "svc-lucky", "production", T0 + dt.timedelta(days=58 + i), "success",
                configuration={"replicas": replicas, "timeout_seconds": 60, "ssl_verify": True},
                resources=["project", "database"], strategy="blue-green"))
    return deployments, templates["best"][0]


def promotion_history(seed: int = 3) -> list[dict]:
    """Ten services, two versions each, deployed to staging then production.

    Planted: ssl_verify false -> true in every promotion; timeout_seconds 30 -> 60 in 8 of 10
    services (both versions); replicas never changes. Production also has extra runs of each
    service: those without ssl_verify fail half the time, those with it 1 time in 10.
    """
    rng = random.Random(seed)
    deployments = []
    for s in range(10):
        service = f"svc-{s}"
        for v, version in enumerate(("1.0.0", "1.1.0")):
            when = T0 + dt.timedelta(days=s * 3 + v, hours=9)
            deployments.append(deployment(service, "staging", when, "success", version=version,
                                          configuration={"ssl_verify": False, "timeout_seconds": 30, "replicas": 2}))
            production = {"ssl_verify": True, "timeout_seconds": 60 if s < 8 else 30, "replicas": 2}
            deployments.append(deployment(service, "production", when + dt.timedelta(hours=3), "success",
                                          version=version, configuration=production))
        for i in range(10):
            with_ssl = i % 2 == 0
            failure_chance = 0.1 if with_ssl else 0.5
            status = "failure" if rng.random() < failure_chance else "success"
            deployments.append(deployment(
                service, "production", T0 + dt.timedelta(days=40 + i, hours=s), status, version=f"0.{i}.0",
                configuration={"ssl_verify": with_ssl, "timeout_seconds": 60, "replicas": 2}))
    return deployments


#: planted median recovery seconds per failure kind, and how each reason text varies
PLANTED_RECOVERY = {
    "database migration failed": (2400.0, "database migration failed on db-{n} after {n}s (job {hex})"),
    "health check timed out": (900.0, "Health check timed out after {n}s on host-{n}"),
    "error rate above threshold": (300.0, "error rate above threshold: {n}% (deploy {hex})"),
}


def rollback_history(seed: int = 11, per_kind: int = 41) -> tuple[list[dict], list[dict]]:
    """Failed production deployments each undone by a rollback; recovery lognormal around the planted medians.

    The database kind touches the database resource and records its steps; the others do not.
    Every rollback of a kind succeeds except every fifth health-check one.
    """
    rng = random.Random(seed)
    deployments, rollbacks = [], []
    for k, (kind, (median, text)) in enumerate(PLANTED_RECOVERY.items()):
        # symmetric multiplicative noise around the median, so the sample median sits near it
        factors = [2.0 ** rng.uniform(-1, 1) for _ in range(per_kind // 2)]
        recoveries = [median * f for f in factors] + [median / f for f in factors] + [median]
        for i, recovery in enumerate(recoveries[:per_kind]):
            started = T0 + dt.timedelta(days=i, hours=k * 3 + 1)
            reason = text.format(n=rng.randint(2, 999), hex=f"{rng.getrandbits(40):010x}")
            dep = deployment(f"svc-{i % 4}", "production", started, "rolled-back",
                             resources=["project", "database"] if k == 0 else ["project"],
                             failure_reasons=[reason], rollback_triggered=True, strategy="rolling")
            deployments.append(dep)
            rb_start = dep["completed"] + dt.timedelta(minutes=2)
            rollbacks.append({
                "id": f"rb-{dep['id']}", "service": dep["service"], "reason": reason, "started": rb_start,
                "completed": rb_start + dt.timedelta(seconds=recovery),
                # half the rollbacks carry recovery_seconds, the rest only started/completed
                "recovery_seconds": recovery if i % 2 == 0 else None,
                "status": "failure" if (k == 1 and i % 5 == 0) else "success", "deployment_id": dep["id"],
                "initiator": "deploy-bot", "steps": ["restore database snapshot", "redeploy previous version"]
                if k == 0 else [],
            })
    # one in staging, which the production filter must leave out
    dep = deployment("svc-0", "staging", T0, "rolled-back", failure_reasons=["staging only problem"],
                     rollback_triggered=True)
    deployments.append(dep)
    rollbacks.append({"id": "rb-staging", "service": "svc-0", "reason": "staging only problem",
                      "started": T0 + dt.timedelta(minutes=15), "recovery_seconds": 60.0, "status": "success",
                      "deployment_id": dep["id"]})
    return deployments, rollbacks


def dora_history() -> tuple[list[dict], list[dict]]:
    """The small hand-computed history of test_dora_keys_equal_hand_computed_values (see there)."""
    d = lambda day, hour, minute=0: dt.datetime(2026, 3, day, hour, minute)  # noqa: E731
    deployments = [
        deployment("a", "production", d(1, 10), "success", id="p1", completed=d(1, 10, 30), commit_time=d(1, 8)),
        deployment("a", "production", d(2, 10), "failure", id="p2", completed=d(2, 10, 20)),
        deployment("a", "production", d(2, 14), "success", id="p3", completed=d(2, 14, 20), commit_time=d(2, 9)),
        deployment("b", "production", d(4, 12), "rolled-back", id="p4", completed=d(4, 12, 10),
                   rollback_triggered=True),
        deployment("b", "production", d(5, 12), "success", id="p5", completed=d(5, 12, 30), commit_time=d(4, 12, 30)),
        deployment("a", "production", d(7, 9), "success", id="p6", completed=d(7, 9, 10)),
        deployment("b", "production", d(8, 9), "cancelled", id="p7", completed=d(8, 9, 5)),
        deployment("a", "production", d(9, 10), "partial", id="p8", completed=d(9, 10, 30)),
        deployment("a", "production", d(10, 10), "success", id="p9", completed=d(10, 10, 30), commit_time=d(10, 6, 30)),
        deployment("a", "staging", d(3, 10), "failure", id="s1", completed=d(3, 10, 10)),
        deployment("a", "production", dt.datetime(2026, 2, 27, 10), "failure", id="old"),
    ]
    rollbacks = [{"id": "rb4", "service": "b", "deployment_id": "p4", "started": d(4, 12, 15),
                  "completed": d(4, 12, 45), "recovery_seconds": 1800.0, "status": "success",
                  "reason": "error rate above threshold"}]
    return deployments, rollbacks


def friday_history(seed: int = 5, weeks: int = 20) -> list[dict]:
    """Deployments every day at 10:00 and 17:00 for WEEKS weeks; Fridays after 16:00 fail 45%, others 12%."""
    rng = random.Random(seed)
    deployments = []
    start = dt.datetime(2026, 1, 5)  # a Monday
    for day in range(weeks * 7):
        for hour in (10, 17):
            for n in range(3):
                when = start + dt.timedelta(days=day, hours=hour, minutes=n * 5)
                friday_evening = when.weekday() == 4 and hour >= 16
                failure_chance = 0.45 if friday_evening else 0.12
                status = "failure" if rng.random() < failure_chance else "success"
                deployments.append(deployment(f"svc-{n}", "production", when, status))
    return deployments


def uniform_history(seed: int = 9, count: int = 1500) -> list[dict]:
    """Deployments at random times, strategies and services, all failing 15% of the time: no insight to find."""
    rng = random.Random(seed)
    deployments = []
    for _ in range(count):
        when = dt.datetime(2026, 1, 5) + dt.timedelta(minutes=rng.randint(0, 120 * 24 * 60))
        deployments.append(deployment(
            f"svc-{rng.randint(0, 4)}", rng.choice(["staging", "production"]), when,
            "failure" if rng.random() < 0.15 else "success",
            deployment_type=rng.choice(["blue-green", "canary", "rolling"])))
    return deployments
