"""The experiment's committed, tangled scripts are exactly what org-babel tangles from it today."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, scaled

EXPERIMENT = ROOT / "tangle" / "experiments" / "001-ml-predictions"
TANGLE = ROOT / "tangle" / "tangle.sh"
TANGLED = ("call-plugin.scm", "collect-data.scm", "results-table.py", "run-experiment.sh")


def tangle(org: Path) -> subprocess.CompletedProcess:
    """Tangle ORG in batch mode with tangle/tangle.sh."""
    return subprocess.run([str(TANGLE), str(org)], capture_output=True, text=True, timeout=scaled(120))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a copy of the experiment's README.org and what tangling it wrote."""
    where = tmp_path_factory.mktemp("fresh-tangle")
    shutil.copy(EXPERIMENT / "README.org", where / "README.org")
    proc = tangle(where / "README.org")
    assert proc.returncode == 0, proc.stderr
    return where


@pytest.mark.parametrize("name", TANGLED)
def test_committed_script_equals_a_fresh_tangle(fresh: Path, name: str) -> None:
    committed = (EXPERIMENT / name).read_bytes()
    tangled = (fresh / name).read_bytes()
    assert tangled == committed, (
        f"{EXPERIMENT / name} differs from a fresh tangle of README.org: edit the block in "
        f"README.org and run tangle/tangle.sh {EXPERIMENT.relative_to(ROOT) / 'README.org'}"
    )


@pytest.mark.parametrize("name", TANGLED)
def test_tangled_scripts_are_executable(fresh: Path, name: str) -> None:
    assert os.access(fresh / name, os.X_OK), f"tangling {name} gave no executable file (:shebang)"
    assert os.access(EXPERIMENT / name, os.X_OK), f"committed {name} is not executable"


def test_tangle_writes_exactly_the_committed_scripts(fresh: Path) -> None:
    written = sorted(path.name for path in fresh.iterdir() if path.name != "README.org")
    assert written == sorted(TANGLED)


def test_experiment_reads_prose_first_and_says_output_is_committed() -> None:
    text = (EXPERIMENT / "README.org").read_text(encoding="utf-8")
    for keyword in ("#+TITLE: ", "#+DATE: ", "#+AUTHOR: "):
        assert re.search("^" + re.escape(keyword) + r"\S", text, re.M), f"missing {keyword}"
    first_code = text.index("#+begin_src")
    assert text.index("\n* Hypothesis") < text.index("\n* Approach") < first_code
    assert "*The tangled scripts are committed*" in text[:first_code]
    targets = re.findall(r"^\s*:header-args:\w+: (.*)$", text, re.M)
    assert len(targets) == len(TANGLED)
    for args in targets:
        assert ":mkdirp yes" in args and ":tangle " in args, args
    assert sorted(re.search(r":tangle (\S+)", args).group(1) for args in targets) == sorted(TANGLED)


def test_tangle_helper_names_a_missing_file(tmp_path: Path) -> None:
    proc = tangle(tmp_path / "absent.org")
    assert proc.returncode == 1
    assert f"{tmp_path / 'absent.org'}: no such file" in proc.stderr


def test_tangle_creates_target_directories(tmp_path: Path) -> None:
    org = tmp_path / "nested.org"
    org.write_text(
        "#+TITLE: nested\n* Part\n  :PROPERTIES:\n  :header-args:sh: :tangle out/deep/x.sh :mkdirp yes\n"
        "  :END:\n#+begin_src sh\necho nested\n#+end_src\n",
        encoding="utf-8",
    )
    proc = tangle(org)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "deep" / "x.sh").read_text() == "echo nested\n"
