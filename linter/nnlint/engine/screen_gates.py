"""Whether structural screens may be asked about a file at all.

A screen (``Needs.screen``) sees one top-level statement, not the imports and
classes the rule resolves names through. What it may assume about the rest of the
file is listed in :mod:`nnlint.rules.needs`; this module checks those assumptions on
the file's text, and a file where one fails is pruned without screens (every picked
statement kept). Each check is a regex over the source and errs towards failing: a
file failing needlessly costs parse time, never a finding.
"""

from __future__ import annotations

import re

# Everything after an ``import`` keyword up to the end of its statement (a
# parenthesised list, or one line with its backslash continuations). The patterns
# start with a literal, which ``re`` scans for quickly; the character before it is
# checked by the caller (a look-behind first made them try every position).
_TAIL = r"[ \t]*(\([^)]*\)|[^\n\\#;]*(?:\\\n[^\n\\#;]*)*)"
_IMPORTED = re.compile(rf"import{_TAIL}")
# ``from torch... import`` and the same tail.
_FROM_TORCH = re.compile(rf"from[ \t]+torch(?:\.\w+)*[ \t]+import{_TAIL}")
_AS = re.compile(r"(\w+)\s+as\s+(\w+)")
_BOUND = re.compile(r"(?:\w+(?:\s*\.\s*\w+)*\s+as\s+)?(\w+)")
# A class whose name is not capitalised (``class conv_bn``, ``class _block``).
_LOWER_CLASS = re.compile(r"^[ \t]*class[ \t]+_*[^\W\dA-Z_]", re.MULTILINE)
# After a name: ``=`` (not ``==``) ends a plain assignment (also chained,
# parenthesised or continued) or a keyword argument.
_ASSIGNS = r"(?:\s|\)|\\\n)*=(?!=)"


def _statements(pattern: re.Pattern[str], source: str) -> list[str]:
    """The tails of the matches of ``pattern`` that start a word."""
    return [
        match.group(1)
        for match in pattern.finditer(source)
        if match.start() == 0 or not _word(source[match.start() - 1])
    ]


def _word(character: str) -> bool:
    return character.isalnum() or character in "_."


def screens_apply(source: str) -> bool:
    """Whether every assumption screens make holds in ``source``."""
    return not (
        _LOWER_CLASS.search(source)
        or calls_a_renamed_torch_name(source)
        or assigns_an_imported_name(source)
    )


def calls_a_renamed_torch_name(source: str) -> bool:
    """Whether ``source`` calls, by a bare name, something it imported from torch
    under another name (``from torch import relu_ as r`` ... ``r(x)``). Renaming a
    module (``from torch.nn import functional as F``) does not count: a module is
    not called, and its functions keep their names (``F.relu_``)."""
    for names in _statements(_FROM_TORCH, source):
        for name, alias in _AS.findall(names):
            if name != alias and _used(source, alias, r"\s*\("):
                return True
    return False


def assigns_an_imported_name(source: str) -> bool:
    """Whether a name an import from torch binds (``F``, ``nn``, ``torch``) is also
    followed by ``=`` somewhere: then a name a function assigns (``F = ...``, what
    screens read as a local value) may still resolve to
    the torch module (the rules resolve names through the imports, not through each
    function's locals)."""
    imported = _bound(_statements(_FROM_TORCH, source), everything=True)
    imported |= _bound(_statements(_IMPORTED, source), everything=False)
    return any(_used(source, name, _ASSIGNS) for name in imported)


def _used(source: str, name: str, after: str) -> bool:
    """Whether ``name`` occurs as a whole name (not after a dot) followed by
    ``after``."""
    for match in re.finditer(rf"{re.escape(name)}(?={after})", source):
        start, end = match.start(), match.end()
        if (start == 0 or not _word(source[start - 1])) and not (
            end < len(source) and _word(source[end])
        ):
            return True
    return False


def _bound(tails: list[str], everything: bool) -> set[str]:
    """The names the import tails bind: all of them, or only those of modules whose
    dotted name starts with ``torch``."""
    found: set[str] = set()
    for tail in tails:
        for part in tail.strip("()").split(","):
            part = part.strip(" \t\n\\")
            bound = _BOUND.match(part)
            if bound and (everything or re.match(r"torch(?!\w)", part)):
                found.add(bound.group(1))
    return found
