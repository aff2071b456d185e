"""Turn a recorded stack trace into the user's source position (no torch import).

``torch.fx`` records, for each node, the Python stack at the moment the node was created
(outermost frame first). The innermost frame outside torch and nnlint is the line the
user wrote: ``self.act(x)`` rather than ``torch/nn/modules/activation.py``.
"""

from __future__ import annotations

import linecache
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_NNLINT_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Position:
    path: str
    line: int
    column: int = 1
    end_line: int = 0
    end_column: int = 1


def frames(stack_trace: str) -> list[tuple[str, int]]:
    """``(path, line)`` of every frame in ``stack_trace``, outermost first."""
    return [(m["path"], int(m["line"])) for m in _FRAME.finditer(stack_trace)]


def user_frame(
    stack_trace: str | None, library_dirs: Iterable[str]
) -> tuple[str, int] | None:
    """The innermost frame that is not inside a library directory (torch, nnlint)."""
    if not stack_trace:
        return None
    excluded = tuple(os.path.join(d, "") for d in (*library_dirs, _NNLINT_DIR))
    for path, line in reversed(frames(stack_trace)):
        if not os.path.abspath(path).startswith(excluded) and not path.startswith("<"):
            return path, line
    return None


def position(path: str, line: int, hint: str | None = None) -> Position:
    """The span of ``line`` without indentation, or of ``hint`` where it occurs."""
    text = linecache.getline(path, line).rstrip()
    if not text:
        return Position(path, line, 1, line, 1)
    start = len(text) - len(text.lstrip())
    if hint and hint in text:
        end = text.index(hint) + len(hint)
        start = end - len(hint)
        # Widen ``act(`` to the whole callee, ``self.act(``.
        while start > 0 and (text[start - 1].isidentifier() or text[start - 1] in "._"):
            start -= 1
        return Position(path, line, start + 1, line, end)
    return Position(path, line, start + 1, line, len(text) + 1)


def register_source(filename: str, source: str) -> None:
    """Make exec'd source visible to ``linecache`` (so positions work for examples)."""
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
