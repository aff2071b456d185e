"""Which files a list of command-line paths means."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# Directories never searched (files named explicitly are always linted).
EXCLUDED_DIRS = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nnlint_cache",
        ".nox", ".pytest_cache", ".ruff_cache", ".svn", ".tox", ".venv", "__pycache__",
        "__pypackages__", "_build", "build", "dist", "node_modules", "site-packages",
        "venv",
    }
)  # fmt: skip


class MissingPath(FileNotFoundError):
    """A path named on the command line does not exist (usage error, exit 2)."""


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Python files under ``paths`` in a stable order, each once."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in _walk(path):
                found.setdefault(file)
        elif path.is_file():
            found.setdefault(path)
        else:
            raise MissingPath(f"{raw}: no such file or directory")
    return list(found)


def _walk(root: Path) -> list[Path]:
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in EXCLUDED_DIRS and not name.endswith(".egg-info")
        )
        files.extend(
            Path(directory, name) for name in sorted(names) if name.endswith(".py")
        )
    return files
