"""The distribution installs and lints without torch (as in a pre-commit hook)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def torchless_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("torchless") / "venv"
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return where


def test_install_without_torch_gives_working_nnlint(torchless_venv: Path) -> None:
    python = torchless_venv / "bin" / "python"
    has_torch = subprocess.run(
        [str(python), "-c", "import torch"], capture_output=True, text=True
    )
    assert has_torch.returncode != 0, "the plain install must not pull torch"
    version = subprocess.run(
        [str(torchless_venv / "bin" / "nnlint"), "--version"],
        capture_output=True,
        text=True,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("nnlint ")


def test_source_lint_runs_without_torch(torchless_venv: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text(
        "import torch.nn.functional as F\n"
        "def loss(logits, y):\n"
        "    return F.cross_entropy(F.softmax(logits, dim=1), y)\n"
    )
    run = subprocess.run(
        [str(torchless_venv / "bin" / "nnlint"), "--output-format", "json", str(model)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert '"NNL101"' in run.stdout


def test_plugin_import_does_not_load_torch() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import pytest_nnhealth.plugin.hooks",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()]
    assert "pytest_nnhealth.plugin.hooks" in imported
    assert not [name for name in imported if name.split(".")[0] == "torch"]
