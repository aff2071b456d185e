"""Shared helpers for the nnlint reliability tests: run the CLI in-process or in a
subprocess (for process-wide faults: resource limits, pipes, stream encodings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnlint.cli import main

SOFTMAX = "import torch.nn.functional as F\n\ny = F.softmax(x)\n"
FIXED = "import torch.nn.functional as F\n\ny = F.softmax(x, dim=-1)\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``nnlint ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(["--no-cache", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_process(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, pre: str = ""
) -> subprocess.CompletedProcess[bytes]:
    """``nnlint ARGV`` in a fresh interpreter, after running ``pre`` (Python code)."""
    code = f"{pre}\nimport sys\nfrom nnlint.cli import main\nsys.exit(main())"
    environment = {**os.environ, "NNLINT_CACHE_DIR": str(cwd / ".cache")}
    environment.pop("NNLINT_DEBUG", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache", *argv],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=120,
        check=False,
    )
