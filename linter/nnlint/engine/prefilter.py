"""Parse only what a rule could flag: drop the top-level statements no filter picks.

``libcst.parse_module`` is the dominant cost of linting (13-16 s for timm serially).
Most of a model file is model-factory functions and configuration tables that no rule
looks at. A fast scan splits the module into top-level statements (a line starting in
column 0, outside any string, starts one); the statements that no selected rule's
filter hits, and are not imports, are dropped, and the kept ones are parsed back to
back. Findings are mapped back to source lines (:meth:`Pruned.source_line`); columns
do not change, as every statement starts in column 0.

The scan is a heuristic; when it is wrong (a column-0 line inside brackets), the
kept text fails to parse and the caller parses the whole file instead.

A declaration's ``screen`` is asked last, about each statement the rest of the
declaration picked, on the statement's Python ``ast`` (``ast.parse`` is about nine
times faster than libcst's parser). Each statement is parsed by ``ast`` at most once
per file, whichever rules ask; one that does not parse alone is kept.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

from nnlint.engine.possible_modules import module_statements
from nnlint.engine.screen_gates import screens_apply
from nnlint.engine.statement_scan import statement_starts
from nnlint.rules.needs import EvidencePattern, Needs, find_word

_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t]", re.MULTILINE)
_DEFINITION = re.compile(r"(?:@|def |async |class )")


# A class statement, after its decorators: the name it binds.
_CLASS = re.compile(r"(?:@[^\n]*\n)*class[ \t]+(\w+)")
# A class definition anywhere in a statement (a top-level class, or one nested in a
# function); a line starting with "class " inside a string only keeps more.
_CLASS_KEYWORD = re.compile(r"^[ \t]*class[ \t]", re.MULTILINE)
_WORD = re.compile(r"\w+")


class Pruned(NamedTuple):
    """The kept top-level statements, back to back, and where each run of them came
    from. Statements no filter picks are dropped rather than replaced by blank lines:
    libcst builds several nodes per blank line (about 4% of timm's parse time), and
    positions are only needed for findings, which :meth:`source_line` maps back."""

    text: str
    # (first line in ``text``, first line in the source) of each run of kept lines.
    runs: list[tuple[int, int]]

    def source_line(self, line: int) -> int:
        """The source line of line ``line`` (1-based) of ``text``."""
        index = bisect.bisect_right(self.runs, (line, float("inf"))) - 1
        pruned_start, source_start = self.runs[index]
        return source_start + line - pruned_start


def prune(source: str, triggers: Sequence[str]) -> Pruned | None:
    """``source`` without the statements containing none of ``triggers``."""
    return select(source, [Needs(tuple(triggers))])[0]


def select(source: str, filters: Sequence[Needs]) -> tuple[Pruned | None, list[bool]]:
    """The top-level statements of ``source`` some declaration picks (None if none
    does), and for each whether it picked anything (see :mod:`nnlint.rules.needs`).

    Imports are always kept (rules resolve names through them). So are the top-level
    classes that a statement hit by a narrowed filter names (a local base class, a
    local module built in ``__init__``), and the classes those name in turn: a narrowed
    filter hits where a rule reports, while the rule may still look up local classes
    elsewhere.
    """
    chosen = choose(source, filters)
    hit = chosen.picked | chosen.evidence
    if not hit:
        return None, chosen.flags
    starts, ends = chosen.statements.starts, chosen.statements.ends
    if chosen.seeds:
        hit |= _referenced_classes(source, starts, ends, chosen.seeds)
    return _kept(source, starts, ends, hit), chosen.flags


class Choice(NamedTuple):
    """What the declarations pick in one source, by reason (statement indexes)."""

    statements: _Statements
    picked: set[int]  # hit by a declaration (and passed by its screen)
    evidence: set[int]  # some rule's evidence (not yet kept when it was found)
    seeds: set[int]  # picked by a narrowed declaration: the classes they name are kept
    flags: list[bool]  # per declaration: whether it picked anything


def choose(source: str, filters: Sequence[Needs]) -> Choice:
    """The statements ``filters`` pick in ``source``, before the local classes they
    name and the imports are added (:func:`select`)."""
    statements = _Statements(source)
    picked: set[int] = set()
    evidence: set[int] = set()
    seeds: set[int] = set()
    flags = [False] * len(filters)
    # Screened declarations last: a statement already kept is not screened again.
    for number in sorted(range(len(filters)), key=lambda n: bool(filters[n].screen)):
        wanted = filters[number]
        found = statements.hit_by(wanted)
        if found and wanted.screen is not None:
            found = statements.screened(found, wanted.screen, picked | evidence)
        flags[number] = bool(found)
        picked |= found
        if found and wanted.evidence is not None:
            evidence |= statements.evidence(found, wanted.evidence, picked | evidence)
        if wanted.narrowed:
            seeds |= found
    return Choice(statements, picked, evidence, seeds, flags)


class _Statements:
    """The top-level statements of one source, with the facts several filters ask
    about (holds a class? may define a module?) computed once per statement."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.starts = statement_starts(source)
        self.ends = [*self.starts[1:], len(source)]
        self._has_class: dict[int, bool] = {}
        self._modules: set[int] | None = None
        self._trees: dict[int, list[ast.stmt] | None] = {}
        self._screens_apply: bool | None = None

    def hit_by(self, wanted: Needs) -> set[int]:
        """Indexes of the statements ``wanted`` hits: one ``find`` per statement for
        the triggers, then the cheap tests, and the pattern last."""
        source, starts, ends = self.source, self.starts, self.ends
        hit: set[int] = set()
        for trigger in set(wanted.words):
            position = find_word(source, trigger)
            while position >= 0:
                index = bisect.bisect_right(starts, position) - 1
                hit.add(index)
                position = find_word(source, trigger, ends[index])
        if wanted.classes_only or wanted.modules_only:
            hit = {index for index in hit if self._holds_class(index)}
        if wanted.modules_only and hit:
            if self._modules is None:
                self._modules = module_statements(source, starts, ends)
            hit &= self._modules
        pattern = wanted.pattern
        if pattern is None:
            return hit
        return {i for i in hit if pattern.search(source, starts[i], ends[i])}

    def _holds_class(self, index: int) -> bool:
        known = self._has_class.get(index)
        if known is None:
            start, end = self.starts[index], self.ends[index]
            known = bool(_CLASS_KEYWORD.search(self.source, start, end))
            self._has_class[index] = known
        return known

    def screened(
        self, found: set[int], screen: Callable[[ast.stmt], bool], kept: set[int]
    ) -> set[int]:
        """The statements of ``found`` that ``screen`` keeps, or that are ``kept``
        already (the rule may then run on them: it reports nothing there, which is
        what the whole file gives), or that do not parse alone (never dropped on a
        guess). In a file where what screens assume does not hold
        (:mod:`nnlint.engine.screen_gates`), every one."""
        if self._screens_apply is None:
            self._screens_apply = screens_apply(self.source)
        if not self._screens_apply:
            return found
        passed = {i for i in found if i in kept or self._imports(i)}
        with warnings.catch_warnings():
            # The user's invalid escapes and the like are not ours to report.
            warnings.simplefilter("ignore")
            for index in found - passed:
                tree = self._tree(index)
                if tree is None or any(map(screen, tree)):
                    passed.add(index)
        return passed

    def _imports(self, index: int) -> bool:
        """Whether statement ``index`` is kept as an import whatever is picked."""
        return _imports(self.source[self.starts[index] : self.ends[index]])

    def _tree(self, index: int) -> list[ast.stmt] | None:
        """The Python ``ast`` of statement ``index`` (None: it does not parse alone).
        Top-level statements start in column 0, so each one parses on its own."""
        if index not in self._trees:
            text = self.source[self.starts[index] : self.ends[index]]
            self._trees[index] = parse_statement(text)
        return self._trees[index]

    def evidence(
        self, found: set[int], evidence: EvidencePattern, kept: set[int]
    ) -> set[int]:
        """Statements the evidence pattern (built from the ``found`` ones) matches,
        among those not ``kept`` already (searching those could add nothing)."""
        source, starts, ends = self.source, self.starts, self.ends
        pattern = evidence(
            "\n".join(source[starts[i] : ends[i]] for i in sorted(found))
        )
        return {
            index
            for index, (start, end) in enumerate(zip(starts, ends, strict=False))
            if index not in kept
            and (pattern is None or pattern.search(source, start, end))
        }


def parse_statement(text: str) -> list[ast.stmt] | None:
    """The Python ``ast`` statements of ``text``; None when it does not parse
    (call with warnings ignored: a user's invalid escape warns while parsing)."""
    try:
        return ast.parse(text).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _imports(chunk: str) -> bool:
    """Imports are always kept: rules resolve names through them. (The substring
    tests first: they settle most statements, which the regex scans line by line.)"""
    return (
        ("import" in chunk or "from" in chunk)
        and bool(_IMPORT.search(chunk))
        and not _DEFINITION.match(chunk)
    )


def _kept(source: str, starts: list[int], ends: list[int], hit: set[int]) -> Pruned:
    pieces: list[str] = []
    runs: list[tuple[int, int]] = []
    pruned_line = source_line = 1
    previous_kept = False
    for index, (start, end) in enumerate(zip(starts, ends, strict=False)):
        chunk = source[start:end]
        lines = chunk.count("\n")
        kept = index in hit or _imports(chunk)
        if kept:
            if not previous_kept:
                runs.append((pruned_line, source_line))
            pieces.append(chunk)
            pruned_line += lines
        previous_kept = kept
        source_line += lines
    return Pruned("".join(pieces), runs)


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
        # A class name occurs as a whole word exactly when it is one of the text's
        # maximal runs of word characters (one scan, not a regex per name).
        words = set(
            _WORD.findall("\n".join(source[starts[i] : ends[i]] for i in frontier))
        )
        frontier = {index for index, name in classes.items() if name in words}
        for index in frontier:
            del classes[index]
        found |= frontier
    return found
