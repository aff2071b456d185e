"""Lint one source text: parse once, run every selected rule in one shared walk.

The engine never prints. Positions are computed only when a rule reported something
(``PositionProvider`` over a whole tree is the most expensive part of libcst linting).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from nnlint.findings import Finding
from nnlint.names import ImportMap
from nnlint.rules import Rule, RuleContext
from nnlint.rules.base import Report

Handler = Callable[[cst.CSTNode], object]


class _BatchedWalker(cst.CSTVisitor):
    """Dispatches each node to the matching ``visit_``/``leave_`` methods of all rules."""

    def __init__(self, rules: Sequence[Rule], context: RuleContext) -> None:
        super().__init__()
        self.context = context
        self.visits: dict[str, list[Handler]] = {}
        self.leaves: dict[str, list[Handler]] = {}
        for rule in rules:
            for attribute in dir(type(rule)):
                if attribute.startswith("visit_") and attribute != "visit_":
                    table = self.visits
                elif attribute.startswith("leave_") and attribute != "leave_":
                    table = self.leaves
                else:
                    continue
                if getattr(type(rule), attribute) is getattr(cst.CSTVisitor, attribute, None):
                    continue  # the do-nothing default inherited from CSTVisitor
                table.setdefault(attribute[6:], []).append(getattr(rule, attribute))

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.context.ancestors.append(node)
        kind = type(node).__name__
        if kind in ("Import", "ImportFrom"):
            # Imports inside functions still bind names for what follows them.
            self.context.imports.add_import(node)  # type: ignore[arg-type]
        for handler in self.visits.get(kind, ()):
            handler(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        for handler in self.leaves.get(type(original_node).__name__, ()):
            handler(original_node)
        self.context.ancestors.pop()


@dataclass
class FileResult:
    """Findings for one file, plus the parsed module when fixes may be applied."""

    path: str
    findings: list[Finding]
    module: cst.Module | None = None


def should_parse(source: str, rules: Iterable[type[Rule]]) -> bool:
    """Cheap pre-filter: skip parsing when no selected rule's trigger text occurs."""
    for rule in rules:
        if not rule.TRIGGERS or any(trigger in source for trigger in rule.TRIGGERS):
            return True
    return False


def lint_module(module: cst.Module, path: str, rules: Sequence[type[Rule]]) -> list[Finding]:
    context = RuleContext(path=path, module=module, imports=ImportMap.from_module(module))
    instances = [rule(context) for rule in rules]
    module.visit(_BatchedWalker(instances, context))
    reported = [(rule, report) for rule in instances for report in rule.reports]
    if not reported:
        return []
    return _to_findings(module, path, reported)


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
    """Findings of ``rules`` on ``source``. Raises ``cst.ParserSyntaxError`` on bad syntax."""
    if not should_parse(source, rules):
        return []
    return lint_module(cst.parse_module(source), path, rules)


class _Replacer(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.CSTNode, object]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
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
