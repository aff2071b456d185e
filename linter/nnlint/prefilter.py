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


Filter = tuple[Sequence[str], "re.Pattern[str] | None"]
# A class statement, after its decorators: the name it binds.
_CLASS = re.compile(r"(?:@[^\n]*\n)*class[ \t]+(\w+)")


def prune(source: str, triggers: Sequence[str]) -> str | None:
    """``source`` with the statements containing none of ``triggers`` blanked."""
    return select(source, [(triggers, None)])[0]


def select(source: str, filters: Sequence[Filter]) -> tuple[str | None, list[bool]]:
    """``source`` with the top-level statements no filter hits blanked (None if none
    is hit), and for each filter whether it hit anything. A filter (a rule's
    ``TRIGGERS`` and ``TRIGGER_PATTERN``) hits a statement that contains one of its
    triggers and, if it has a pattern, matches the pattern.

    Imports are always kept (rules resolve names through them). So are the top-level
    classes that a statement hit by a pattern names (a local base class, a local module
    built in ``__init__``), and the classes those name in turn: a pattern matches where
    a rule reports, while the rule may still look up local classes elsewhere. And so are
    the statements that construct a kept class (``head = Block(32, 64)``): a rule may
    take its proof from the arguments a block is built with.
    """
    starts = statement_starts(source)
    ends = [*starts[1:], len(source)]
    hit: set[int] = set()
    seeds: set[int] = set()
    flags = []
    for triggers, pattern in filters:
        found = _triggered(source, starts, ends, triggers, pattern)
        flags.append(bool(found))
        hit |= found
        if pattern is not None:
            seeds |= found
    if not hit:
        return None, flags
    if seeds:
        hit |= _referenced_classes(source, starts, ends, seeds)
    hit |= _constructing_statements(source, starts, ends, hit)
    pieces = []
    for index, (start, end) in enumerate(zip(starts, ends, strict=False)):
        chunk = source[start:end]
        if index in hit or (_IMPORT.search(chunk) and not _DEFINITION.match(chunk)):
            pieces.append(chunk)
        else:
            pieces.append(_blank(chunk))
    return "".join(pieces), flags


def _triggered(
    source: str,
    starts: list[int],
    ends: list[int],
    triggers: Sequence[str],
    pattern: re.Pattern[str] | None = None,
) -> set[int]:
    """Indexes of statements containing a trigger (one ``find`` per statement hit)
    and matching ``pattern``, if given."""
    hit: set[int] = set()
    for trigger in set(triggers):
        position = source.find(trigger)
        while position >= 0:
            index = bisect.bisect_right(starts, position) - 1
            hit.add(index)
            position = source.find(trigger, ends[index])
    if pattern is None:
        return hit
    return {i for i in hit if pattern.search(source, starts[i], ends[i])}


def _referenced_classes(
    source: str, starts: list[int], ends: list[int], seeds: set[int]
) -> set[int]:
    """Top-level classes named (as a whole word) in a seed statement, transitively."""
    classes: dict[int, str] = {}
    for index, start in enumerate(starts):
        match = _CLASS.match(source, start)
        if match is not None and index not in seeds:
            classes[index] = match.group(1)
    found: set[int] = set()
    frontier = seeds
    while frontier and classes:
        text = "\n".join(source[starts[i] : ends[i]] for i in frontier)
        frontier = {
            index
            for index, name in classes.items()
            if re.search(rf"(?<!\w){name}(?!\w)", text)
        }
        for index in frontier:
            del classes[index]
        found |= frontier
    return found


def _constructing_statements(
    source: str, starts: list[int], ends: list[int], kept: set[int]
) -> set[int]:
    """Statements outside ``kept`` that call a kept top-level class by name."""
    names = []
    for index in kept:
        match = _CLASS.match(source, starts[index])
        if match is not None:
            names.append(re.escape(match.group(1)))
    if not names:
        return set()
    call = re.compile(rf"(?<![\w.])(?:{'|'.join(names)})\s*\(")
    return {
        index
        for index, (start, end) in enumerate(zip(starts, ends, strict=False))
        if index not in kept and call.search(source, start, end)
    }


def _blank(chunk: str) -> str:
    # Keep the newline style: a "\r\n" file stays "\r\n" for libcst.
    newline = "\r\n" if "\r\n" in chunk else "\n"
    return newline * chunk.count("\n")
