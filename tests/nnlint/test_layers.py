"""nnlint's import layers (pyproject ``[tool.importlinter]``, docs/architecture.md).

The contracts are checked by import-linter on the real package, and on copies with
one back-import or one unplaced package added, to show the check would catch them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nnlint

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(python_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)  # the copy shadows the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_the_package_keeps_its_layers_and_has_no_cycles() -> None:
    done = _lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_a_back_import_breaks_the_layers(tmp_path: Path) -> None:
    copy = tmp_path / "nnlint"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(nnlint.__file__).parent, copy, ignore=ignore)
    with (copy / "engine" / "discovery.py").open("a", encoding="utf-8") as file:
        file.write("from nnlint.api import lint_file  # noqa: E402\n")
    done = _lint_imports(tmp_path)
    assert done.returncode == 1
    assert "nnlint.engine is not allowed to import nnlint.api:" in done.stdout
    assert "- nnlint.engine.discovery -> nnlint.api" in done.stdout
    assert "Contracts: 0 kept, 2 broken." in done.stdout


def test_a_new_package_must_be_placed_in_a_layer(tmp_path: Path) -> None:
    copy = tmp_path / "nnlint"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(nnlint.__file__).parent, copy, ignore=ignore)
    (copy / "helpers").mkdir()
    (copy / "helpers" / "__init__.py").write_text("", encoding="utf-8")
    done = _lint_imports(tmp_path)
    assert done.returncode == 1
    assert "The following modules are not listed as layers:" in done.stdout
    assert "- nnlint.helpers" in done.stdout
