"""CLI commands of this area: ``scheme-path`` (where the Guile plugin's modules are)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from predictor.cli.app import app
from predictor.errors import PredictorError

PLUGIN_FILE = Path("deploy-ledger") / "plugins" / "ml-predictor.scm"


def _guile_site_dir() -> Path | None:
    """Return Guile's site directory, or None when guile cannot be run."""
    try:
        proc = subprocess.run(["guile", "-c", "(display (%site-dir))"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def scheme_load_path() -> Path:
    """Return the absolute directory to add to GUILE_LOAD_PATH for ``(deploy-ledger plugins ml-predictor)``.

    The repository's ``scheme/`` directory (found next to this package, as in a checkout or an
    editable install) comes first; else Guile's site directory when ``make install`` put the
    plugin there.
    """
    repository = Path(__file__).resolve().parents[2] / "scheme"
    candidates = [repository]
    site = _guile_site_dir()
    if site is not None:
        candidates.append(site)
    for directory in candidates:
        if (directory / PLUGIN_FILE).is_file():
            return directory
    raise PredictorError(
        f"the Guile plugin is in none of {', '.join(str(c) for c in candidates)}: "
        "run `make install` from the repository, or use a checkout")


@app.command("scheme-path")
def scheme_path() -> None:
    """Print the directory to add to GUILE_LOAD_PATH to load (deploy-ledger plugins ml-predictor)."""
    print(scheme_load_path())
