"""Where things live: the store, the daemon endpoint, the model artifacts.

One rule, shared with the Guile plugin (scheme/deploy-ledger/plugins/ml-predictor/config.scm):

* home: ``$PREDICTOR_HOME``, else ``$XDG_DATA_HOME/predictor``, else ``~/.local/share/predictor``;
* store: ``<home>/history.duckdb`` unless ``--db`` says otherwise;
* endpoint: ``$PREDICTOR_ENDPOINT``, else ``ipc://$XDG_RUNTIME_DIR/predictor.sock`` when
  ``XDG_RUNTIME_DIR`` is set and ``PREDICTOR_HOME`` is not, else ``ipc://<home>/predictor.sock``.
"""

from __future__ import annotations

import os
from pathlib import Path

DB_FILENAME = "history.duckdb"
SOCKET_FILENAME = "predictor.sock"


def predictor_home() -> Path:
    """Return the directory that holds the store and model artifacts (not created)."""
    explicit = os.environ.get("PREDICTOR_HOME")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "predictor"


def default_db_path() -> Path:
    """Return the path of the embedded DuckDB store."""
    return predictor_home() / DB_FILENAME


def models_dir() -> Path:
    """Return the directory holding one sub-directory of artifacts per model version."""
    return predictor_home() / "models"


def default_endpoint() -> str:
    """Return the ZeroMQ endpoint shared by the daemon, the CLI and the Guile plugin."""
    explicit = os.environ.get("PREDICTOR_ENDPOINT")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and not os.environ.get("PREDICTOR_HOME"):
        return f"ipc://{Path(runtime) / SOCKET_FILENAME}"
    return f"ipc://{predictor_home() / SOCKET_FILENAME}"
