"""A rule's one pre-filter declaration: what text must be parsed for it to report.

Every source rule may declare ``NEEDS = Needs(...)``. The engine parses, for that rule,
only the top-level statements the declaration picks (and the imports); a rule without
a declaration is run on the whole file. Each field is a *necessary* condition of the
rule reporting: it may keep more than the rule reads, never less, or findings are
silently lost (and a rule reporting an absence gains false alarms). The registry
checks every declaration when it loads the rules (:func:`declaration_problems`), so a
malformed one fails at import with the rule's code instead of dropping findings.

Fields, from coarse to fine:

* ``words``: substrings; a file containing none of them cannot be reported on. Only
  the top-level statements containing one are picked. A word ending in ``(`` is a
  call, found with any gap Python allows before its parenthesis (``torch.Tensor
  (3)``, a continuation, a comment), which a substring cannot say (:func:`find_word`).
* ``scope``: ``"file"`` parses the whole file when a word occurs (evidence spans the
  file: a model class and the training function that joins it to a loss);
  ``"statements"`` picks the statements holding a word; ``"classes"`` only those that
  hold a class definition; ``"modules"`` only those holding a class that may subclass
  ``nn.Module`` (:mod:`nnlint.engine.possible_modules`).
* ``pattern``: a regex every picked statement must also match (``search``). Allow
  every spacing, line continuation, comment and parenthesis Python allows between
  tokens, and keep the gaps possessive (``(?:[\\s\\\\]|#[^\\n]*+)*+``).
* ``evidence``: given the text of the picked statements, a pattern for the further
  statements the rule reads (None: all of them). Needed for proof taken from another
  statement, and above all for a rule reporting an *absence* ("nothing initialises
  it").
* ``screen``: a function given the Python ``ast`` of one statement the fields above
  picked; False means the rule provably reports nothing located in that statement,
  whatever the rest of the file holds, and the statement is not parsed for it (it may
  still be kept as evidence or as a class another statement names). Python's own
  parser is about nine times faster than libcst's, so a structural test (a
  ``forward`` method holding an addition) saves most of the parse of what it drops.
  Helpers for writing one are in :mod:`nnlint.rules.screens`. A screen cannot see
  the imports or the other classes, so the engine asks screens only in files where
  three facts hold (:mod:`nnlint.engine.screen_gates`), and a screen may rely on
  them: a name imported from torch and called bare is spelled as torch spells it
  (``relu_(x)``, never ``from torch import relu_ as r``; ``r(x)``); every class of
  the file has a capitalised name (so ``dict(...)`` or ``conv_bn(...)`` builds
  none); no name an import from torch binds is followed by ``=`` anywhere (so
  ``feats = []`` makes ``feats`` a local value, never ``torch.nn.functional``).

The top-level classes that a statement picked by a narrowed declaration (one with a
pattern, a class scope or a screen) names are kept too, transitively: a rule may look
up a local base class or a local module built in ``__init__``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal, Protocol

Scope = Literal["file", "statements", "classes", "modules"]
SCOPES: tuple[Scope, ...] = ("file", "statements", "classes", "modules")
# The class attributes that declared a pre-filter before ``NEEDS``: a rule still
# setting one would silently be parsed whole or, worse, believed narrowed.
RETIRED = (
    "TRIGGERS",
    "TRIGGER_PATTERN",
    "CLASSES_ONLY",
    "EVIDENCE",
    "MODULES_ONLY",
    "WHOLE_FILE",
)


class Searcher(Protocol):
    """What the pre-filter needs of a pattern: ``re.Pattern.search``'s signature."""

    def search(self, string: str, pos: int = ..., endpos: int = ...) -> object: ...


# Given the text of the statements a declaration picked: a pattern every statement
# holding evidence the rule reads matches, or None when any statement may hold some.
EvidencePattern = Callable[[str], "Searcher | None"]


@dataclass(frozen=True)
class Needs:
    """What one rule needs parsed (see the module docstring for each field)."""

    words: tuple[str, ...]
    scope: Scope = "statements"
    pattern: Searcher | None = None
    evidence: EvidencePattern | None = None
    screen: Callable[[ast.stmt], bool] | None = None

    @property
    def narrowed(self) -> bool:
        """Narrower than its words: the classes it names must be kept as well."""
        return (
            self.pattern is not None
            or self.screen is not None
            or self.scope in ("classes", "modules")
        )

    @property
    def classes_only(self) -> bool:
        return self.scope in ("classes", "modules")

    @property
    def modules_only(self) -> bool:
        return self.scope == "modules"


# Between a called name and its parenthesis: spaces, newlines (inside brackets),
# continuations, comments.
_CALL_GAP = r"(?:[\s\\]|#[^\n]*+)*+\("


@cache
def _call_finder(word: str) -> re.Pattern[str]:
    return re.compile(re.escape(word[:-1]) + _CALL_GAP)


def find_word(source: str, word: str, start: int = 0) -> int:
    """Where ``word`` first occurs in ``source`` from ``start`` (-1: nowhere); a
    word ending in ``(`` with any gap before the parenthesis."""
    if not word.endswith("("):
        return source.find(word, start)
    match = _call_finder(word).search(source, start)
    return -1 if match is None else match.start()


def mentions(source: str, words: Iterable[str]) -> bool:
    """Whether any of ``words`` occurs in ``source`` (:func:`find_word`)."""
    return any(find_word(source, word) >= 0 for word in words)


def declaration_problems(rule: type) -> list[str]:
    """What is wrong with ``rule``'s pre-filter declaration (empty: nothing)."""
    problems = [
        f"{name} is no longer read; declare NEEDS = Needs(...) instead"
        for name in RETIRED
        if any(name in vars(cls) for cls in rule.__mro__[:-1])
    ]
    needs = getattr(rule, "NEEDS", None)
    if needs is None:
        return problems
    if not isinstance(needs, Needs):
        return [*problems, f"NEEDS must be a Needs(...), not {type(needs).__name__}"]
    return problems + _field_problems(needs)


def _field_problems(needs: Needs) -> list[str]:
    problems = []
    words = needs.words
    if not isinstance(words, tuple) or not words:
        problems.append("NEEDS.words must be a non-empty tuple of strings")
    elif not all(isinstance(word, str) and word for word in words):
        problems.append("NEEDS.words holds an empty or non-string word")
    if needs.scope not in SCOPES:
        problems.append(f"NEEDS.scope must be one of {', '.join(SCOPES)}")
    if needs.pattern is not None and not callable(
        getattr(needs.pattern, "search", None)
    ):
        problems.append("NEEDS.pattern must be a compiled pattern (re.compile)")
    if needs.evidence is not None and not callable(needs.evidence):
        problems.append("NEEDS.evidence must be a function of the picked text")
    if needs.screen is not None and not callable(needs.screen):
        problems.append("NEEDS.screen must be a function of one ast statement")
    if needs.scope == "file" and (needs.pattern or needs.evidence or needs.screen):
        problems.append("NEEDS with scope 'file' parses everything: drop the pattern")
    return problems


class AnyOf:
    """Several patterns searched one after the other: cheaper than one alternation
    when that alternation keeps ``re`` from skipping ahead to a likely first
    character (a ``^`` alternative next to a word list)."""

    def __init__(self, *patterns: re.Pattern[str]) -> None:
        self.patterns = patterns

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> object:
        return next(
            (True for p in self.patterns if p.search(string, pos, endpos)), None
        )


def any_word(words: Iterable[str], *, after_dot: bool = True) -> str:
    """Regex source matching any of the identifiers ``words`` as a whole word (also
    right after a dot unless ``after_dot`` is false); never matches when empty.

    It starts with a look-ahead on the words' first letters: a leading look-behind
    alone keeps ``re`` from skipping ahead, which made such searches 2-5x slower."""
    unique = sorted(set(words))
    if not unique:
        return "(?!)"
    first = "".join(sorted({word[0] for word in unique}))
    before = r"(?<!\w)" if after_dot else r"(?<![\w.])"
    return rf"(?=[{first}]){before}(?:{'|'.join(map(re.escape, unique))})(?!\w)"


_TOP_LEVEL_CLASS = re.compile(r"^class[ \t]+(\w+)", re.MULTILINE)


def construction_calls(hit: str) -> re.Pattern[str]:
    """An ``evidence`` for rules that take proof from how a class is built: the
    statements calling, by bare name, a top-level class defined in ``hit``
    (``head = Block(32, 64)``)."""
    names = _TOP_LEVEL_CLASS.findall(hit)
    return re.compile(rf"{any_word(names, after_dot=False)}\s*\(")
