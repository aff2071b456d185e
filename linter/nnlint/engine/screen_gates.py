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
# parenthesised list, or one line with its backslash continuations).
_IMPORTED = re.compile(
    r"(?<![\w.])import[ \t]*(\([^)]*\)|(?:[^\n\\#;]|\\\n)*)", re.DOTALL
)
# ``from torch... import`` and the same tail.
_FROM_TORCH = re.compile(
    r"(?<![\w.])from[ \t]+torch(?:\.\w+)*[ \t]+import[ \t]*"
    r"(\([^)]*\)|(?:[^\n\\#;]|\\\n)*)",
    re.DOTALL,
)
_AS = re.compile(r"(\w+)\s+as\s+(\w+)")
_BOUND = re.compile(r"(?:\w+(?:\s*\.\s*\w+)*\s+as\s+)?(\w+)")
# A class whose name is not capitalised (``class conv_bn``, ``class _block``).
_LOWER_CLASS = re.compile(r"^[ \t]*class[ \t]+_*[^\W\dA-Z_]", re.MULTILINE)
# A name followed by ``=`` (not ``==``): an assignment (also parenthesised, or
# continued), a walrus, or a keyword argument.
_ASSIGNED = re.compile(r"(?<![\w.])(\w+)(?:\s|\)|\\\n)*(?::[^=\n]*)?=(?!=)")


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
    for statement in _FROM_TORCH.finditer(source):
        for name, alias in _AS.findall(statement.group(1)):
            if name != alias and re.search(rf"(?<![\w.]){alias}\s*\(", source):
                return True
    return False


def assigns_an_imported_name(source: str) -> bool:
    """Whether a name an import from torch binds (``F``, ``nn``, ``torch``) is also
    followed by ``=`` somewhere: then a name a function assigns may still resolve to
    the torch module (the rules resolve names through the imports, not through each
    function's locals)."""
    imported = _bound(source, _FROM_TORCH, everything=True)
    imported |= _bound(source, _IMPORTED, everything=False)
    return bool(imported) and any(
        match.group(1) in imported for match in _ASSIGNED.finditer(source)
    )


def _bound(source: str, statements: re.Pattern[str], everything: bool) -> set[str]:
    """The names the imports ``statements`` finds bind: all of them, or only those
    of modules whose dotted name starts with ``torch``."""
    found: set[str] = set()
    for statement in statements.finditer(source):
        for part in statement.group(1).strip("()").split(","):
            part = part.strip(" \t\n\\")
            bound = _BOUND.match(part)
            if bound and (everything or re.match(r"torch(?!\w)", part)):
                found.add(bound.group(1))
    return found
