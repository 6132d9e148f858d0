"""The pattern learner: what worked before, and how we are doing.

Four answers, each a pure function of the deployment history (:class:`History`) returning a
wire-shaped dict (times as UTC epoch seconds), shared by the CLI, the daemon and the demo:

* :func:`predictor.patterns.recommendations.recommend` -- patterns (strategy + configuration
  template + resources + environments) ranked by a recency-weighted Wilson lower bound;
* :func:`predictor.patterns.adaptations.find_adaptations` -- configuration changes that
  successful promotions of the same service and version made between two environments;
* :func:`predictor.patterns.rollback_scenarios.rollback_scenarios` -- grouped failure reasons
  that led to rollbacks, with trigger conditions, steps and measured recovery times;
* :func:`predictor.patterns.analytics.analytics` -- rates, durations, MTTR, the four DORA keys
  with trend and band, and insights found by testing segments against the rest.
"""

from predictor.patterns.executions import Execution, History, Rollback

__all__ = ["Execution", "History", "Rollback"]
