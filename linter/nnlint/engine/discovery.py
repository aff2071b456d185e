"""Which files a list of command-line paths means."""

from __future__ import annotations

import os
import stat
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


# (path, why it was not linted): entries that look like Python files but cannot be.
Skipped = list[tuple[str, str]]


def discover(paths: Iterable[Path | str], skipped: Skipped | None = None) -> list[Path]:
    """Python files under ``paths`` in a stable order, each once.

    Entries that cannot be linted (a dangling symbolic link such as an editor's
    ``.#model.py`` lock, a FIFO, a socket) are left out and, when ``skipped`` is
    given, appended to it with the reason; a FIFO is never opened (reading one
    blocks). Raises :class:`MissingPath` for a named path that does not exist.
    """
    sink: Skipped = [] if skipped is None else skipped
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in _walk(path, sink):
                found.setdefault(file)
        elif not os.path.lexists(path):
            raise MissingPath(f"{raw}: no such file or directory")
        elif _lintable(path, sink):
            found.setdefault(path)
    return list(found)


def _lintable(path: Path, skipped: Skipped) -> bool:
    """Whether ``path`` is a regular file (after symbolic links); else say why not."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        skipped.append((str(path), "dangling symbolic link"))
        return False
    except OSError as error:
        skipped.append((str(path), error.strerror or str(error)))
        return False
    if stat.S_ISREG(mode):
        return True
    skipped.append((str(path), f"not a regular file ({_kind(mode)})"))
    return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a device"


def _walk(root: Path, skipped: Skipped) -> list[Path]:
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in EXCLUDED_DIRS and not name.endswith(".egg-info")
        )
        files.extend(
            Path(directory, name)
            for name in sorted(names)
            if name.endswith(".py") and _lintable(Path(directory, name), skipped)
        )
    return files
