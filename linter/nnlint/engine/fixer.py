"""``--fix``: apply fixes, re-lint, repeat until nothing changes (at most a few rounds).

A round's result must compile; a fix whose result does not is discarded and reported,
never written. A file that did not compile before (a NUL byte in a comment, say) is held
to what it passed: the fixed text must still parse. Suppressed findings are not fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from nnlint.engine.config import LintConfig
from nnlint.engine.lint_source import check_source, compile_quietly
from nnlint.engine.noqa import apply_suppressions, parse_suppressions
from nnlint.engine.pipeline import selected_rules
from nnlint.findings import Finding

MAX_ROUNDS = 5


@dataclass
class FixOutcome:
    path: str
    original: str
    fixed: str
    applied: int = 0
    discarded: list[str] = field(default_factory=list)
    # Whether ``original`` compiled: a fix is judged by what it changes, so a file
    # Python already refused is only required to keep parsing.
    original_compiles: bool = True

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


def fix_text(text: str, path: str, config: LintConfig, *, unsafe: bool) -> FixOutcome:
    outcome = FixOutcome(path, text, text, original_compiles=_compiles(text, path))
    rejected: set[tuple[str, int, int]] = set()
    for _ in range(MAX_ROUNDS):
        findings, module = check_source(
            outcome.fixed, path, selected_rules(config, path)
        )
        if module is None:
            # Only the statements rules need were parsed when linting; the fixer
            # needs the whole file. Say why the fixes did not happen.
            outcome.discarded.append(
                f"{path}: fixes skipped: the whole file does not parse "
                f"(nnlint --select NNL001 {path} shows a syntax error if it has one)"
            )
            break
        tail = _lost_tail(outcome.fixed, module.code)
        if tail is None:
            outcome.discarded.append(
                f"{path}: fixes skipped: the parser does not reproduce this file "
                "byte for byte"
            )
            break
        suppressions = parse_suppressions(outcome.fixed)
        fixable = [
            finding
            for finding in apply_suppressions(findings, suppressions)
            if _wanted(finding, unsafe) and _identity(finding) not in rejected
        ]
        if not fixable:
            break
        try:
            new_text, count = _apply_checked(module, fixable, unsafe, outcome, rejected)
        except RecursionError:
            break  # keep the rounds that compiled; the file gets NNL004 when linted
        new_text += tail
        if new_text == outcome.fixed:
            break
        outcome.fixed = new_text
        outcome.applied += count
    return outcome


def _lost_tail(text: str, code: str) -> str | None:
    """What libcst's round trip drops from the end of ``text`` ("" when nothing),
    None when it changes more than that.

    libcst 1.9 drops the final newline of a file whose newlines are all ``\r``; a fix
    must not change a byte it did not mean to.
    """
    if code == text:
        return ""
    if text.startswith(code) and not text[len(code) :].strip("\r\n"):
        return text[len(code) :]
    return None


def _wanted(finding: Finding, unsafe: bool) -> bool:
    fix = finding.fix
    return fix is not None and bool(fix.replacements) and (fix.safe or unsafe)


def _identity(finding: Finding) -> tuple[str, int, int]:
    return (finding.code, finding.line, finding.column)


def _apply_checked(
    module: cst.Module,
    fixable: Sequence[Finding],
    unsafe: bool,
    outcome: FixOutcome,
    rejected: set[tuple[str, int, int]],
) -> tuple[str, int]:
    """All fixes at once if the result compiles, else the first one that does alone."""
    candidate = apply_fixes(module, fixable, unsafe)
    if _acceptable(candidate, outcome):
        return candidate, len(fixable)
    for finding in fixable:
        candidate = apply_fixes(module, [finding], unsafe)
        if _acceptable(candidate, outcome):
            return candidate, 1
        rejected.add(_identity(finding))
        outcome.discarded.append(
            f"{outcome.path}:{finding.line}:{finding.column}: {finding.code} "
            "fix discarded: "
            "it would produce code that does not parse"
        )
    return module.code, 0


def _acceptable(candidate: str, outcome: FixOutcome) -> bool:
    if outcome.original_compiles:
        return _compiles(candidate, outcome.path)
    try:
        cst.parse_module(candidate)
    except cst.ParserSyntaxError:
        return False
    return True


def _compiles(text: str, path: str) -> bool:
    try:
        compile_quietly(text, path)
        cst.parse_module(text)
    except (SyntaxError, ValueError, cst.ParserSyntaxError):
        return False
    return True


class _Replacer(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.CSTNode, object]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):
        return self.replacements.get(original_node, updated_node)


def apply_fixes(module: cst.Module, findings: Iterable[Finding], unsafe: bool) -> str:
    """Source with the fixes of ``findings`` applied (safe ones, and unsafe if asked).

    Fixes whose nodes overlap an earlier fix's are skipped; running the linter again
    applies them (the CLI loops until nothing changes).
    """
    replacements: dict[cst.CSTNode, object] = {}
    for finding in findings:
        fix = finding.fix
        if fix is None or (not fix.safe and not unsafe):
            continue
        if any(old in replacements for old, _ in fix.replacements):
            continue
        replacements.update(fix.replacements)
    if not replacements:
        return module.code
    return module.visit(_Replacer(replacements)).code
