"""Where the top-level statements of a module start, found without parsing it.

A line starting in column 0, outside any triple-quoted string, starts a statement,
unless it continues the previous one (``else:``, a decorated definition, a line after
a backslash). The scan is a heuristic: a column-0 line inside brackets fools it, and
the pre-filter then falls back to the whole file (:mod:`nnlint.engine.prefilter`).
"""

from __future__ import annotations

import re

_TRIPLE = re.compile(r'"""|\'\'\'')
_BOUNDARY = re.compile(r"^(?=[^\s#)\]}])", re.MULTILINE)
_CONTINUATION = re.compile(r"(?:else|elif|except|finally)\b")


def _triple_quoted_spans(source: str) -> list[tuple[int, int]]:
    """Spans of triple-quoted strings, pairing each opening quote with the next closing
    one. A quote inside a comment or a one-line string can mislead this; the kept
    text then fails to parse and the file is parsed whole (or two statements are
    merged into one, which only keeps more)."""
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
    """``else:`` and friends continue the previous statement, and so does a line after
    a backslash continuation; a decorator continues into the next."""
    return (
        bool(_CONTINUATION.match(source, offset))
        or source.startswith("@", previous)
        or source.endswith(("\\\n", "\\\r\n"), 0, offset)
    )
