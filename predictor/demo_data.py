"""Demo data: ``generate_history``, ``true_risk`` and the writers.

The planted structure is documented in :mod:`predictor.demo`; this module keeps the names the
team brief fixed importable as ``predictor.demo_data``.
"""

from predictor.demo import (  # noqa: F401
    DemoHistory, generate_history, planted_recovery_median, true_risk, write_csv_export,
    write_demo_files, write_executions_jsonl, write_feature_lines, write_json_export, write_ledger_sqlite,
    write_rollbacks_jsonl, write_sexp_export,
)
from predictor.demo import __all__  # noqa: F401
