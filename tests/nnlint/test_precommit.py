"""``.pre-commit-hooks.yaml`` parses; its hooks run real entry points without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
REQUIRED = {"id", "name", "entry", "language"}


def _console_scripts() -> dict[str, str]:
    """Console scripts declared in pyproject.toml."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(project["project"]["scripts"])


def test_hooks_are_well_formed() -> None:
    assert [hook["id"] for hook in HOOKS] == ["nnlint", "nnlint-fix"]
    for hook in HOOKS:
        assert REQUIRED <= set(hook)
        assert hook["language"] == "python"
        assert hook["types"] == ["python"]
        assert "--fx" not in hook["entry"]


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook["id"])
def test_entry_is_a_declared_console_script(hook: dict[str, str]) -> None:
    command = hook["entry"].split()[0]
    scripts = _console_scripts()
    assert command in scripts
    module, _, function = scripts[command].partition(":")
    assert (module, function) == ("nnlint.cli", "main")


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook["id"])
def test_hook_runs_on_files_without_importing_torch(
    hook: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "model.py"
    target.write_text("import torch\nx = torch.ones(3)\n", encoding="utf-8")
    arguments = hook["entry"].split()[1:]
    # Runs the entry point the way pre-commit does (file names appended), in a fresh
    # interpreter where importing torch is made to fail.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from nnlint.cli import main\n"
        f"sys.exit(main({arguments!r} + sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env={"NNLINT_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "All checks passed.\n"
