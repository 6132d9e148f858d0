"""Models II: deployment windows, blast radius, duration/resource estimates, volume forecast.

* :mod:`predictor.estimates.history` -- the deployment history as numpy columns (one query);
* :mod:`predictor.estimates.activity` -- per-service deployments and failure history in memory;
* :mod:`predictor.estimates.graph` -- the dependency graph and the blast radius of a failure;
* :mod:`predictor.estimates.durations` -- p50/p90 duration estimates and resource fields;
* :mod:`predictor.estimates.forecast` -- deployments per day and week, with weekly seasonality;
* :mod:`predictor.estimates.windows` -- the best deployment windows over a time range;
* :mod:`predictor.estimates.failure_scorer` -- windows scored by the packed failure model;
* :mod:`predictor.estimates.runtime` -- ``load_answerer(store)`` for the daemon, ``answer`` for the CLI.
"""
