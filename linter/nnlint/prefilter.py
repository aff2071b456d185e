"""Parse only what a rule could flag: blank the top-level statements no trigger hits.

``libcst.parse_module`` is the dominant cost of linting (13-16 s for timm serially).
Most of a model file is model-factory functions and configuration tables that no rule
looks at. A fast scan splits the module into top-level statements (a line starting in
column 0, outside any string, starts one); statements that contain none of the selected
rules' trigger words, and are not imports, are replaced by empty lines. Line and column
numbers of what remains are unchanged, so findings need no mapping.

The scan is a heuristic; when it is wrong (a column-0 line inside brackets), the
blanked text fails to parse and the caller parses the whole file instead.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

_TRIPLE = re.compile(r'"""|\'\'\'')
_BOUNDARY = re.compile(r"^(?=[^\s#)\]}])", re.MULTILINE)
_CONTINUATION = re.compile(r"(?:else|elif|except|finally)\b")
_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t]", re.MULTILINE)
_DEFINITION = re.compile(r"(?:@|def |async |class )")


def _triple_quoted_spans(source: str) -> list[tuple[int, int]]:
    """Spans of triple-quoted strings, pairing each opening quote with the next closing
    one. A quote inside a comment or a one-line string can mislead this; the blanked
    text then fails to parse and the file is parsed whole."""
    spans: list[tuple[int, int]] = []
    position = 0
    while True:
        match = _TRIPLE.search(source, position)
        if match is None:
            return spans
        close = source.find(match.group(), match.end())
        if close < 0:
            return spans
        spans.append((match.start(), close + 3))
        position = close + 3


def statement_starts(source: str) -> list[int]:
    """Offsets where top-level statements start (heuristic, see module docstring)."""
    inside = (
        _triple_quoted_spans(source) if ('"""' in source or "'''" in source) else []
    )
    starts: list[int] = []
    position = 0
    previous = -1  # the previous column-0 line outside strings
    for match in _BOUNDARY.finditer(source):
        offset = match.start()
        while position < len(inside) and inside[position][1] <= offset:
            position += 1
        if position < len(inside) and inside[position][0] < offset:
            continue  # a column-0 line inside a multi-line string
        if not (starts and _continues(source, offset, previous)):
            starts.append(offset)
        previous = offset
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return starts


def _continues(source: str, offset: int, previous: int) -> bool:
    """``else:`` and friends continue the previous statement; a decorator the next."""
    return bool(_CONTINUATION.match(source, offset)) or source.startswith("@", previous)


def prune(source: str, triggers: Sequence[str]) -> str | None:
    """``source`` with untriggered top-level statements blanked; None if none remain.

    Imports are always kept (rules resolve names through them).
    """
    starts = statement_starts(source)
    ends = [*starts[1:], len(source)]
    hit = _triggered(source, starts, ends, triggers)
    if not hit:
        return None
    pieces = []
    for index, (start, end) in enumerate(zip(starts, ends, strict=False)):
        chunk = source[start:end]
        if index in hit or (_IMPORT.search(chunk) and not _DEFINITION.match(chunk)):
            pieces.append(chunk)
        else:
            pieces.append(_blank(chunk))
    return "".join(pieces)


def _triggered(
    source: str, starts: list[int], ends: list[int], triggers: Sequence[str]
) -> set[int]:
    """Indexes of statements containing a trigger (one ``find`` per statement hit)."""
    hit: set[int] = set()
    for trigger in set(triggers):
        position = source.find(trigger)
        while position >= 0:
            index = bisect.bisect_right(starts, position) - 1
            hit.add(index)
            position = source.find(trigger, ends[index])
    return hit


def _blank(chunk: str) -> str:
    # Keep the newline style: a "\r\n" file stays "\r\n" for libcst.
    newline = "\r\n" if "\r\n" in chunk else "\n"
    return newline * chunk.count("\n")
