"""Check, before any test runs, that the files a session will write can be written.

A report or baseline path that is a directory, lies under a file, or sits in a
directory this process cannot write to would otherwise fail only after the whole run,
as a traceback. Each becomes a usage error (pytest exit status 4) at start-up, naming
the option and the reason. Nothing is created or changed by the check: writability is
probed with a temporary file in the nearest existing directory, removed at once (a
permission-bit test would be wrong for root and for ACLs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


def check_writable(path: Path, option: str) -> None:
    """Raise ``pytest.UsageError`` unless ``path`` can be created or replaced."""
    where = f"nnhealth: {option}={path}"
    if path.is_dir():
        raise pytest.UsageError(f"{where}: is a directory; give a file path")
    directory = _nearest_existing(path.parent)
    if not directory.is_dir():
        raise pytest.UsageError(
            f"{where}: {directory} is a file, so nothing can be written under it"
        )
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".nnhealth-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise pytest.UsageError(
            f"{where}: cannot write in {directory}: {reason}"
        ) from None


def _nearest_existing(directory: Path) -> Path:
    """``directory`` or its closest ancestor that exists (reports create the rest)."""
    current = directory.absolute()
    while not current.exists() and current.parent != current:
        current = current.parent
    return current
