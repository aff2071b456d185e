"""Lint one source text: parse once, run every selected rule in one shared walk.

The engine never prints. Positions are computed only when a rule reported something
(``PositionProvider`` over a whole tree is the most expensive part of libcst linting).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from nnlint.analysis.names import ImportMap
from nnlint.engine import parse_guard
from nnlint.engine.cst_from_ast import module_from_ast
from nnlint.engine.parsing import parse_module
from nnlint.engine.prefilter import select
from nnlint.engine.rule_walk import BatchedWalker
from nnlint.engine.sourcefile import split_lines
from nnlint.findings import Finding
from nnlint.rules import Rule, RuleContext
from nnlint.rules.base import Report
from nnlint.rules.engine_rules import is_engine_rule
from nnlint.rules.needs import mentions
from nnlint.rules.nnl001_syntax_error import SyntaxErrorInFile
from nnlint.rules.nnl004_too_complex_to_lint import TooComplexToLint


@dataclass
class FileResult:
    """Findings for one file, plus the parsed module when fixes may be applied."""

    path: str
    findings: list[Finding]
    module: cst.Module | None = None


def should_parse(source: str, rules: Iterable[type[Rule]]) -> bool:
    """Cheap pre-filter: skip parsing when no selected rule's declared words occur (and,
    for a rule declaring a pattern, when its pattern matches nowhere)."""
    for rule in rules:
        needs = rule.NEEDS
        if needs is None:
            return True
        if mentions(source, needs.words):
            if needs.pattern is None or needs.pattern.search(source):
                return True
    return False


def _mentions(source: str, rule: type[Rule]) -> bool:
    needs = rule.NEEDS
    return needs is None or mentions(source, needs.words)


def _whole(rule: type[Rule]) -> bool:
    """Whether the rule is run on the whole file (no declaration, or scope "file")."""
    return rule.NEEDS is None or rule.NEEDS.scope == "file"


def warm_up() -> None:
    """Build what every file needs, once per process (the pool forks after this)."""
    from nnlint.analysis.walk import warm_up as warm_walk
    from nnlint.engine.parsing import warm_up as warm_parsing
    from nnlint.engine.rule_walk import handler_names
    from nnlint.rules import all_rules

    for rule in all_rules():
        handler_names(rule)
    warm_parsing()
    warm_walk()


def lint_module(
    module: cst.Module, path: str, rules: Sequence[type[Rule]]
) -> list[Finding]:
    reported = _reports(module, path, rules)
    if not reported:
        return []
    return _to_findings(module, path, reported)


def _reports(
    module: cst.Module, path: str, rules: Sequence[type[Rule]]
) -> list[tuple[Rule, Report]]:
    rules = [rule for rule in rules if not is_engine_rule(rule)]
    context = RuleContext(
        path=path, module=module, imports=ImportMap.from_module(module)
    )
    instances = [rule(context) for rule in rules]
    try:
        BatchedWalker(instances, context).walk(module)
    finally:
        context.close()
    reported = [(rule, report) for rule in instances for report in rule.reports]
    _forget(instances)
    return reported


def _first_pass_silent(text: str, path: str, rules: Sequence[type[Rule]]) -> bool:
    """Whether the rules report nothing on the tree built from ``ast``
    (:mod:`nnlint.engine.cst_from_ast`): then the real parse is not needed. False
    when that tree cannot be built, or a rule fails on it (the real pass then
    shows whether the rule fails on the file itself)."""
    module = module_from_ast(text)
    if module is None:
        return False
    try:
        return not _reports(module, path, rules)
    except Exception:  # noqa: BLE001 - decided again by the real pass
        return False


def _forget(instances: Sequence[Rule]) -> None:
    """Drop what each rule kept about the file once its reports are taken. A rule's
    state may form a reference cycle (a lambda over ``self`` kept on ``self``) that
    reaches the parsed tree through ``self.context``; the whole tree would then wait
    for the cyclic collector instead of being freed when the file is done."""
    for rule in instances:
        vars(rule).clear()


def _to_findings(
    module: cst.Module, path: str, reported: list[tuple[Rule, Report]]
) -> list[Finding]:
    # unsafe_skip_copy keeps node identity, so reported nodes can be looked up.
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    findings = []
    for rule, report in reported:
        where: CodeRange = positions[report.node]
        findings.append(
            Finding(
                path=path,
                line=where.start.line,
                column=where.start.column + 1,
                end_line=where.end.line,
                end_column=where.end.column + 1,
                code=rule.CODE,
                name=rule.NAME,
                message=report.message,
                severity=rule.SEVERITY,
                fix=report.fix,
            )
        )
    return sorted(findings, key=lambda finding: finding.sort_key)


def lint_source(source: str, path: str, rules: Sequence[type[Rule]]) -> list[Finding]:
    """Findings of ``rules`` on ``source``; ``cst.ParserSyntaxError`` on bad syntax."""
    rules = [rule for rule in rules if not is_engine_rule(rule)]
    if not should_parse(source, rules):
        return []
    return lint_module(parse_module(source), path, rules)


def check_source(
    source: str, path: str, rules: Sequence[type[Rule]], *, prune: bool = False
) -> tuple[list[Finding], cst.Module | None]:
    """Like :func:`lint_source`, but a file that does not parse gives one NNL001, and
    one whose text to parse is too deep to parse or walk safely one NNL004
    (:mod:`nnlint.engine.parse_guard`).
    """
    try:
        return _check_parsed(source, path, rules, prune)
    except RecursionError:
        # A shape the guard does not measure: the stack unwound, the file is refused.
        reason = "Python's recursion limit was reached while linting it"
        return [TooComplexToLint.finding(path, 1, reason)], None


def _check_parsed(
    source: str, path: str, rules: Sequence[type[Rule]], prune: bool
) -> tuple[list[Finding], cst.Module | None]:
    """:func:`check_source` without the recursion backstop.

    The guard measures only the text that is about to be parsed: a generated table
    too deep for libcst, in a file (or statement) no selected rule reads, is never
    parsed, so it does not stop the file being linted.

    Also returns the parsed module for fixes (None when the file was not parsed, or only
    partly: ``prune=True`` parses just the top-level statements that the selected
    rules' filters pick, see :mod:`nnlint.engine.prefilter`). Files that no walking rule
    triggers on are not parsed, unless NNL001 is the only thing asked for
    (``--select NNL001`` is a syntax check).
    """
    syntax_only = SyntaxErrorInFile in rules
    walking = [rule for rule in rules if not is_engine_rule(rule)]
    # Only rules whose declared words occur in this file run on it (and decide the
    # pruning; a declared pattern is checked per statement, in _lint_pruned).
    rules = [rule for rule in walking if _mentions(source, rule)]
    if not rules and (walking or not syntax_only):
        return [], None
    # Pruning is off when a triggered rule needs the whole file.
    if prune and rules and not any(map(_whole, rules)):
        findings = _lint_pruned(source, path, rules)
        if findings is not None:
            return findings, None
    refused = parse_guard.check(source)
    if refused is not None:
        return [TooComplexToLint.finding(path, refused.line, refused.reason)], None
    if prune and rules and _first_pass_silent(source, path, rules):
        return [], None
    try:
        module = parse_module(source)
    except (cst.ParserSyntaxError, ValueError) as error:
        return [syntax_error_finding(source, path, error)], None
    return lint_module(module, path, rules), module


def _lint_pruned(
    source: str, path: str, rules: Sequence[type[Rule]]
) -> list[Finding] | None:
    """Findings from the pruned text; None when it does not parse (parse all then).

    A rule none of whose statements is hit (its pattern matched nowhere) does not run.
    """
    declared = [(rule, rule.NEEDS) for rule in rules if rule.NEEDS is not None]
    pruned, hits = select(source, [needs for _, needs in declared])
    rules = [rule for (rule, _), hit in zip(declared, hits, strict=True) if hit]
    if pruned is None:
        return []
    refused = parse_guard.check(pruned.text)
    if refused is not None:
        line = pruned.source_line(refused.line)
        return [TooComplexToLint.finding(path, line, refused.reason)]
    if _first_pass_silent(pruned.text, path, rules):
        return []
    try:
        module = parse_module(pruned.text)
    except (cst.ParserSyntaxError, ValueError):
        return None
    return [
        replace(
            finding,
            line=pruned.source_line(finding.line),
            end_line=pruned.source_line(finding.end_line),
        )
        for finding in lint_module(module, path, rules)
    ]


def compile_quietly(source: str, path: str) -> None:
    """Compile to an AST only, raising SyntaxError; the compiler's SyntaxWarnings
    (``'int' object is not callable``) are about user code, not for us to print."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


def syntax_error_finding(source: str, path: str, error: Exception) -> Finding:
    """NNL001 at the position and with the message of Python's own parser.

    libcst's positions point at the start of the failing statement; ``compile`` is
    only run here, on the rare file that failed, and says exactly where and why.
    """
    line, column, message = 1, 1, str(error).splitlines()[0] if str(error) else "error"
    try:
        compile_quietly(source, path)
    except SyntaxError as python_error:
        line = python_error.lineno or 1
        column = max(python_error.offset or 1, 1)
        message = python_error.msg
        if python_error.lineno is None and "\x00" in source:
            # "source code string cannot contain null bytes" comes without a position.
            line, column = _position(source, source.index("\x00"))
    except (ValueError, RecursionError, MemoryError) as python_error:
        message = str(python_error)
    else:
        if isinstance(error, cst.ParserSyntaxError):
            line, column = error.raw_line, error.raw_column + 1
            message = f"not supported by the parser: {error.message}"
    rule = SyntaxErrorInFile
    return Finding(
        path=path,
        line=line,
        column=column,
        end_line=line,
        end_column=column,
        code=rule.CODE,
        name=rule.NAME,
        message=f"syntax error: {message}",
        severity=rule.SEVERITY,
    )


def _position(source: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of ``source[index]``, lines ended as Python ends them."""
    start = max(source.rfind("\n", 0, index), source.rfind("\r", 0, index)) + 1
    return len(split_lines(source[:start])) + 1, index - start + 1
