"""Load the answerers of the models, estimates and patterns areas, and route methods to them.

Each area exposes ``load_answerer(store) -> Answerer`` in ``predictor/<area>/runtime.py`` (see
the team brief): ``answerer.methods`` maps wire method names to handlers and
``answerer.observe(kind, record)`` learns a recorded fact. An area whose module does not exist
yet, or which raises :class:`~predictor.errors.ModelNotReadyError`, is *not ready*: the methods
it would serve answer ``model_unavailable`` with a message saying what to run.

A loaded set is immutable once built; the daemon swaps a whole new :class:`AnswererSet` in
between two requests (hot reload), so a request never sees half of one and half of another.
"""

from __future__ import annotations

import importlib
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from predictor.errors import ModelNotReadyError

#: area name -> module providing load_answerer(store)
AREA_MODULES = {
    "models": "predictor.models.runtime",
    "estimates": "predictor.estimates.runtime",
    "patterns": "predictor.patterns.runtime",
}
#: which area answers a method when it is ready (first listed wins when two offer the same method)
DEFAULT_OWNERS = {
    "predict": "models", "predict_batch": "models",
    "suggest_time": "estimates", "analyze_risk": "estimates", "estimate": "estimates", "forecast": "estimates",
    "recommendations": "patterns", "adaptations": "patterns", "rollback_scenarios": "patterns", "analytics": "patterns",
}
#: what an operator runs to make an area ready
NEXT_STEP = {
    "models": "run `predictor train` (after `predictor ingest`), then `predictor reload` or restart the daemon",
    "estimates": "run `predictor train` (after `predictor ingest`), then reload the daemon",
    "patterns": "run `predictor ingest` to load history, then reload the daemon",
}


@dataclass
class AreaState:
    """One area's answerer, or why there is none."""

    name: str
    answerer: Any = None
    message: str | None = None

    @property
    def ready(self) -> bool:
        return self.answerer is not None

    @property
    def version(self) -> str | None:
        for attribute in ("version", "model_version"):
            value = getattr(self.answerer, attribute, None)
            if isinstance(value, str):
                return value
        return None

    def describe(self) -> dict:
        """Return the wire form used by ``model_info`` and ``reload``."""
        methods = sorted(getattr(self.answerer, "methods", {}) or {}) if self.ready else []
        return {"ready": self.ready, "methods": methods, "version": self.version, "message": self.message}


@dataclass
class AnswererSet:
    """Every area's state plus the method routing table built from them."""

    areas: dict[str, AreaState]
    generation: int
    loaded_at: float = field(default_factory=time.time)
    routes: dict[str, Callable[[dict], dict]] = field(default_factory=dict)
    #: extra failure models by role ("challenger", "shadow"): an AreaState each
    roles: dict[str, AreaState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for method, owner in DEFAULT_OWNERS.items():
            state = self.areas.get(owner)
            if state is not None and state.ready and method in state.answerer.methods:
                self.routes[method] = state.answerer.methods[method]
        for state in self.areas.values():
            if state.ready:
                for method, handler in state.answerer.methods.items():
                    self.routes.setdefault(method, handler)

    @property
    def model_version(self) -> str | None:
        """The failure model's version (the models area), when loaded."""
        state = self.areas.get("models")
        return state.version if state is not None else None

    def unavailable_message(self, method: str) -> str:
        """Say why METHOD has no answer and what to run."""
        if self.generation == 0:
            return f"{method}: the daemon is still loading its models; retry in a moment"
        owner = DEFAULT_OWNERS.get(method, "models")
        state = self.areas.get(owner)
        reason = state.message if state is not None and state.message else f"the {owner} area does not answer {method}"
        return f"{method}: no answer yet: {reason}; {NEXT_STEP.get(owner, 'see `predictor status`')}"

    def observers(self) -> list[Any]:
        """Return the loaded answerers (challenger and shadow too), each to be told about recorded facts."""
        states = [*self.areas.values(), *self.roles.values()]
        return [state.answerer for state in states if state.ready]

    def predict_wire(self) -> Callable[[bytes, float], tuple[str, bytes, str] | None] | None:
        """The compiled whole-request path of ``predict`` and ``predict_batch``
        (``answer(payload, waited_ms)``, see FailurePredictor.wire) of the answerer that serves
        both; None when it has none or when a challenger or shadow model shares the requests
        (their routing is Python's)."""
        if self.roles:
            return None
        for state in self.areas.values():
            wire = getattr(state.answerer, "wire", None) if state.ready else None
            if wire is not None and all(self.routes.get(method) == state.answerer.methods.get(method)
                                        for method in ("predict", "predict_batch")):
                return wire.answer
        return None

    def role(self, name: str) -> AreaState | None:
        """Return the ready answerer state of role NAME ("challenger", "shadow"), else None."""
        state = self.roles.get(name)
        return state if state is not None and state.ready else None

    def describe(self) -> dict:
        """Return the ``areas`` map of ``model_info``."""
        return {name: state.describe() for name, state in self.areas.items()}


def load_area(name: str, store: Any, log: logging.Logger | None = None) -> AreaState:
    """Import the area's runtime module and load its answerer; never raises."""
    module_name = AREA_MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return AreaState(name, message=f"{module_name} is not installed yet")
        return AreaState(name, message=f"{module_name} cannot be imported: {exc}")
    except Exception as exc:  # a bug in the area must not stop the daemon
        if log:
            log.error("import of %s failed:\n%s", module_name, traceback.format_exc())
        return AreaState(name, message=f"{module_name} cannot be imported: {type(exc).__name__}: {exc}")
    loader = getattr(module, "load_answerer", None)
    if loader is None:
        return AreaState(name, message=f"{module_name} has no load_answerer(store) yet")
    try:
        answerer = loader(store)
    except ModelNotReadyError as exc:
        return AreaState(name, message=str(exc))
    except Exception as exc:
        if log:
            log.error("load_answerer of %s failed:\n%s", module_name, traceback.format_exc())
        return AreaState(name, message=f"{module_name}.load_answerer failed: {type(exc).__name__}: {exc}")
    methods = getattr(answerer, "methods", None)
    if not isinstance(methods, dict):
        return AreaState(name, message=f"{module_name}.load_answerer returned no methods map")
    return AreaState(name, answerer=answerer)


def load_model_version(version: str, store: Any, log: logging.Logger | None = None) -> AreaState:
    """Load failure model VERSION as an extra answerer (challenger or shadow); never raises."""
    name = f"models@{version}"
    try:
        from predictor.models.runtime import FailureAnswerer, load_predictor
    except ImportError as exc:
        return AreaState(name, message=f"predictor.models.runtime cannot load a given version: {exc}")
    try:
        return AreaState(name, answerer=FailureAnswerer(load_predictor(store, version)))
    except Exception as exc:
        if log:
            log.error("loading model %s failed:\n%s", version, traceback.format_exc())
        return AreaState(name, message=f"model {version} cannot be loaded: {type(exc).__name__}: {exc}")


def load_answerers(store: Any, generation: int, log: logging.Logger | None = None,
                   roles: dict[str, str] | None = None) -> AnswererSet:
    """Load every area (in AREA_MODULES order), plus the model versions of ROLES, into a new set."""
    loaded = AnswererSet({name: load_area(name, store, log) for name in AREA_MODULES}, generation)
    for role, version in (roles or {}).items():
        loaded.roles[role] = load_model_version(version, store, log)
    return loaded
