"""The pattern learner as the daemon serves it: four wire methods over an in-memory history.

``load_answerer(store)`` reads the store once; afterwards the daemon calls
:meth:`PatternsAnswerer.observe` for every recorded fact, so answers see it at once without a
DuckDB query per request. An empty history is not an error: every method answers with empty
results and a ``note`` saying so.
"""

from __future__ import annotations

from typing import Any, Callable

from predictor.patterns.adaptations import AdaptationQuery, find_adaptations
from predictor.patterns.analytics import AnalyticsQuery, analytics
from predictor.patterns.executions import History
from predictor.patterns.recommendations import RecommendationQuery, recommend
from predictor.patterns.rollback_scenarios import ScenarioQuery, rollback_scenarios

#: wire method name -> (query class, answering function)
METHODS: dict[str, tuple[type, Callable[[History, Any], dict]]] = {
    "recommendations": (RecommendationQuery, recommend),
    "adaptations": (AdaptationQuery, find_adaptations),
    "rollback_scenarios": (ScenarioQuery, rollback_scenarios),
    "analytics": (AnalyticsQuery, analytics),
}


def answer(history: History, method: str, params: dict | None) -> dict:
    """Answer wire METHOD with PARAMS over HISTORY (validates params; raises ValidationError)."""
    query_class, function = METHODS[method]
    return function(history, query_class.from_params(params or {}))


class PatternsAnswerer:
    """Serves recommendations, adaptations, rollback_scenarios and analytics."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.methods: dict[str, Callable[[dict], dict]] = {
            name: (lambda params, name=name: answer(self.history, name, params)) for name in METHODS
        }

    def observe(self, kind: str, record: dict) -> None:
        """Fold a recorded deployment, outcome or rollback into the history (services are ignored)."""
        self.history.observe(kind, record)


def load_answerer(store: Any) -> PatternsAnswerer:
    """Return the pattern learner's answerer over STORE's history (never raises on an empty store)."""
    return PatternsAnswerer(History.from_store(store))
