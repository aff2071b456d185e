"""Suppression comments, applied centrally after all rules ran (rules never see them).

* ``# noqa`` (all codes) or ``# noqa: NNL101, NNL2`` (codes or prefixes) on the first
  line of a finding suppresses it;
* ``# nnlint: noqa`` on its own line skips the whole file, ``# nnlint: noqa: NNL101``
  suppresses those codes in the whole file.

Comments are found cheaply: a substring test, then a regex over the candidate lines, and
only when one matches is the file tokenized, so a ``# noqa`` in a string is ignored.
Codes of other tools (``E501``) are kept but never reported as unused.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field

from nnlint.engine.sourcefile import split_lines
from nnlint.findings import Finding

_LINE = re.compile(
    r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]*(?:(?:\s*,\s*|\s+)[A-Z]+[0-9]*)*))?",
    re.IGNORECASE,
)
_FILE = re.compile(
    r"^#\s*nnlint\s*:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]*(?:(?:\s*,\s*|\s+)[A-Z]+[0-9]*)*))?",
    re.IGNORECASE,
)
_FILE_ANYWHERE = re.compile(r"#\s*nnlint\s*:\s*noqa", re.IGNORECASE)
_CODE = re.compile(r"[A-Z]+[0-9]*", re.IGNORECASE)


@dataclass
class Directive:
    """One suppression comment. ``codes`` is None for a bare ``# noqa``."""

    line: int
    column: int  # 1-based column of the ``#``
    end_column: int
    codes: tuple[str, ...] | None
    file_level: bool = False
    used: set[str] = field(default_factory=set)

    def suppresses(self, code: str) -> bool:
        if self.codes is None:
            self.used.add(code)
            return True
        for selector in self.codes:
            if code.startswith(selector):
                self.used.add(selector)
                return True
        return False


@dataclass
class Suppressions:
    by_line: dict[int, Directive] = field(default_factory=dict)
    file_level: list[Directive] = field(default_factory=list)

    @property
    def skip_file(self) -> bool:
        return any(directive.codes is None for directive in self.file_level)

    def directives(self) -> list[Directive]:
        return [*self.file_level, *self.by_line.values()]


def parse_suppressions(source: str) -> Suppressions:
    found = Suppressions()
    if "noqa" not in source and "NOQA" not in source.upper():
        return found
    candidates = {
        number
        for number, line in enumerate(split_lines(source), start=1)
        if _LINE.search(line) or _FILE_ANYWHERE.search(line)
    }
    if not candidates:
        return found
    for line, column, text, alone in _comments(source, candidates):
        _add_comment(found, line, column, text, alone)
    return found


def _comments(source: str, lines: set[int]) -> list[tuple[int, int, str, bool]]:
    """(line, 0-based column, text, alone on its line) of comments on ``lines``.

    Tokenizing stops after the last of ``lines``: nothing later can add a comment on
    them, and an error the tokenizer meets later would keep what was found anyway."""
    comments = []
    last = max(lines)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.start[0] > last:
                break
            if token.type == tokenize.COMMENT and token.start[0] in lines:
                line, column = token.start
                alone = not token.line[:column].strip()
                comments.append((line, column, token.string, alone))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # keep what was found before the error; the file gets NNL001 anyway
    return comments


def _add_comment(
    found: Suppressions, line: int, column: int, text: str, alone: bool
) -> None:
    file_match = _FILE.match(text)
    if file_match and alone:
        codes = _codes(file_match.group("codes"))
        end = column + file_match.end() + 1
        found.file_level.append(
            Directive(line, column + 1, end, codes, file_level=True)
        )
        return
    match = _LINE.search(text)
    if match:
        codes = _codes(match.group("codes"))
        start = column + match.start()
        found.by_line[line] = Directive(
            line, start + 1, column + match.end() + 1, codes
        )


def _codes(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(code.upper() for code in _CODE.findall(text))


def apply_suppressions(
    findings: list[Finding], suppressions: Suppressions
) -> list[Finding]:
    """Findings not suppressed; marks the directives that were used."""
    if suppressions.skip_file:
        for directive in suppressions.file_level:
            directive.used.update(f.code for f in findings)
        return []
    kept = []
    for finding in findings:
        if any(d.suppresses(finding.code) for d in suppressions.file_level):
            continue
        on_line = suppressions.by_line.get(finding.line)
        if on_line is not None and on_line.suppresses(finding.code):
            continue
        kept.append(finding)
    return kept


def unused_codes(directive: Directive, is_checked: Callable[[str], bool]) -> list[str]:
    """NNL codes in ``directive`` that suppressed nothing although their rule ran.

    Bare ``# noqa`` is never reported (it usually serves other tools too), nor are
    other tools' codes, nor codes whose rules did not run (not selected, graph mode).
    """
    if directive.codes is None:
        return []
    return [
        code
        for code in directive.codes
        if code.startswith("NNL") and code not in directive.used and is_checked(code)
    ]
