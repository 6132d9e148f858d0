"""Retrain in the background after N recorded outcomes or on a schedule, then hot-reload.

The training itself is the models area's: ``predictor.models.train.train_and_register(store)``
trains a challenger on the history, compares it with the champion on the newest time slice and
promotes it only when it is not worse. It runs in a thread with its own DuckDB cursor; when it
reports a promotion, the daemon reloads its answerers between two requests (no request fails).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
import time
import traceback
from typing import Any

from predictor.daemon.journal import event
from predictor.daemon.priority import lower_this_thread

TRAIN_MODULE = "predictor.models.train"


def find_trainer() -> Any:
    """Return the models area's ``train_and_register`` function, or None when it does not exist yet."""
    try:
        module = importlib.import_module(TRAIN_MODULE)
    except ImportError:
        return None
    return getattr(module, "train_and_register", None)


#: keyword arguments for a quick background run, passed when the trainer accepts them
#: (``estimates``: refit the duration model too, so estimates learn from the new outcomes)
TRAIN_OPTIONS = {"promote": "if-better", "evaluate_first": False, "plots": False, "progress": False,
                 "estimates": True}


def _call_trainer(trainer: Any, store: Any) -> Any:
    accepted = inspect.signature(trainer).parameters
    return trainer(store, **{key: value for key, value in TRAIN_OPTIONS.items() if key in accepted})


def _promoted(outcome: Any) -> bool:
    """True when the training made its model the champion (a ModelRecord with champion set, or a dict)."""
    if isinstance(outcome, dict):
        return bool(outcome.get("promoted") or outcome.get("champion"))
    return bool(getattr(outcome, "promoted", False) or getattr(outcome, "champion", False))


def _summary(outcome: Any) -> dict:
    if isinstance(outcome, dict):
        return {key: value for key, value in outcome.items() if isinstance(value, (str, int, float, bool, type(None)))}
    fields = {}
    for name in ("version", "champion", "n_train"):
        value = getattr(outcome, name, None)
        if isinstance(value, (str, int, float, bool)):
            fields[name] = value
    return fields


class Retrainer:
    """Decides when to retrain and runs one training at a time off the request thread."""

    def __init__(self, daemon: Any, after_outcomes: int = 0, every_seconds: float = 0.0) -> None:
        self.daemon = daemon
        self.after_outcomes = after_outcomes
        self.every_seconds = every_seconds
        self.outcomes = 0
        self.next_due = time.monotonic() + every_seconds if every_seconds > 0 else None
        self.running: threading.Thread | None = None
        self.runs = 0
        self.last: dict | None = None

    def outcomes_recorded(self, count: int) -> None:
        """Count COUNT new outcomes; start a training when the threshold is reached."""
        self.outcomes += count
        if self.after_outcomes > 0 and self.outcomes >= self.after_outcomes:
            self.start("outcomes")

    def tick(self, now: float) -> None:
        """Start a scheduled training when one is due (called by the loop)."""
        if self.next_due is not None and now >= self.next_due:
            self.next_due = now + self.every_seconds
            self.start("schedule")

    def start(self, reason: str) -> bool:
        """Start a training in the background unless one runs or no trainer exists; return True if started."""
        if self.running is not None and self.running.is_alive():
            return False
        trainer = find_trainer()
        log: logging.Logger = self.daemon.log
        if trainer is None:
            event(log, logging.WARNING, "retrain_unavailable", reason=reason,
                  message=f"{TRAIN_MODULE}.train_and_register does not exist yet")
            self.outcomes = 0
            return False
        from predictor.daemon.server import store_view
        view = store_view(self.daemon.store)
        self.outcomes = 0
        self.daemon.outcomes_since_training = 0

        def work() -> None:
            lower_this_thread()
            started = time.monotonic()
            try:
                outcome = _call_trainer(trainer, view)
                payload = {"reason": reason, "promoted": _promoted(outcome), "seconds": round(time.monotonic() - started, 2),
                           "durations_refit": "estimates" in inspect.signature(trainer).parameters,
                           **_summary(outcome)}
            except Exception as exc:  # training problems are logged; the champion keeps serving
                payload = {"reason": reason, "promoted": False, "error": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc()}
            finally:
                view.close()
            self.runs += 1
            self.last = {k: v for k, v in payload.items() if k != "traceback"}
            self.daemon.events.append(("retrained", payload))

        self.running = threading.Thread(target=work, name="retrainer", daemon=True)
        self.running.start()
        event(log, logging.INFO, "retrain_started", reason=reason)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Wait up to TIMEOUT seconds for a running training (it is abandoned after that)."""
        if self.running is not None:
            self.running.join(timeout)

    def describe(self) -> dict:
        """Return the ``retraining`` part of ``status``."""
        return {"after_outcomes": self.after_outcomes, "every_seconds": self.every_seconds,
                "running": bool(self.running and self.running.is_alive()), "runs": self.runs, "last": self.last}
