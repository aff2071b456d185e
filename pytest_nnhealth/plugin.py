"""The pytest11 entry point ``nnhealth``: a thin adapter over plain modules.

This module is imported in *every* pytest run where the package is installed, so it must
not import torch (~1.2 s) or anything heavy at load time; all work is deferred to hooks
that run only when ``--nnhealth`` or the fixture is used.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nnhealth", "training-dynamics health checks (pytest-nnhealth)")
    group.addoption(
        "--nnhealth",
        action="store_true",
        default=False,
        help="lint model files with nnlint, run configured model health checks and "
        "print a health summary.",
    )
