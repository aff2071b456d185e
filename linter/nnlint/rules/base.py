"""The contract every source rule follows.

A rule is a libcst visitor whose ``visit_<Node>`` / ``leave_<Node>`` methods the
engine calls in one shared walk over the tree (return values are ignored: a rule cannot
prune the walk for the others). A rule only calls :meth:`Rule.report`; it never prints,
reads configuration or looks at ``# noqa`` comments: the engine does all of that.

Class attributes (checked by the registry tests):

* ``CODE``: ``NNL`` + 3 digits; ``NAME``: kebab-case name of the *bad pattern*.
* ``MESSAGE``: the default one-line message; ``SEVERITY``: error, warning or info.
* ``FIX_TITLE`` / ``FIX_IS_SAFE``: what the fix does and whether ``--fix`` may apply it
  (``FIX_TITLE = None`` when the rule has no fix).
* ``VALID`` / ``INVALID``: at least three examples each; they become tests and docs.
* The class docstring is the user documentation, with ruff's sections:
  ``## What it does``, ``## Why is this bad?``, ``## Example``, ``## Use instead``,
  ``## Fix safety``, ``## References``.
* ``NEEDS``: the one pre-filter declaration (:class:`nnlint.rules.needs.Needs`),
  validated when the registry loads the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import libcst as cst

from nnlint.analysis.context import AnalysisContext
from nnlint.findings import Fix, Severity
from nnlint.rules.needs import Needs


@dataclass(frozen=True)
class Invalid:
    """An example the rule must flag.

    ``line``/``column`` (1-based) pin where the first finding of this rule is reported;
    ``fixed`` is the expected source after applying the rule's fix (safe or unsafe).
    """

    code: str
    line: int | None = None
    column: int | None = None
    fixed: str | None = None


@dataclass
class Report:
    """What a rule said about a node, before the engine turns it into a Finding."""

    node: cst.CSTNode
    message: str
    fix: Fix | None = None


@dataclass
class RuleContext(AnalysisContext):
    """Per-file state shared by all rules during one walk: the file, the memo of its
    analyses (``context.get(file_model)``) and where the walk is."""

    # Ancestors of the node being visited, outermost first (maintained by the engine).
    ancestors: list[cst.CSTNode] = field(default_factory=list)


class Rule(cst.CSTVisitor):
    CODE: ClassVar[str]
    NAME: ClassVar[str]
    MESSAGE: ClassVar[str]
    SEVERITY: ClassVar[Severity] = "error"
    FIX_TITLE: ClassVar[str | None] = None
    FIX_IS_SAFE: ClassVar[bool] = False
    VALID: ClassVar[list[str]] = []
    INVALID: ClassVar[list[Invalid]] = []
    # What must be parsed for the rule to report (:mod:`nnlint.rules.needs`); None
    # runs it on every file, parsed whole. Checked by the registry at load.
    NEEDS: ClassVar[Needs | None] = None

    def __init__(self, context: RuleContext) -> None:
        super().__init__()
        self.context = context
        self.reports: list[Report] = []

    # -- helpers for rule authors ----------------------------------------------------
    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        """``torch.nn.functional.softmax`` for ``F.softmax``; None if not imported."""
        return self.context.imports.resolve(node)

    @property
    def parent(self) -> cst.CSTNode | None:
        ancestors = self.context.ancestors
        return ancestors[-2] if len(ancestors) >= 2 else None

    def report(
        self,
        node: cst.CSTNode,
        message: str | None = None,
        *,
        replacements: dict[cst.CSTNode, Any] | None = None,
        fix_description: str | None = None,
    ) -> None:
        """Flag ``node``. ``replacements`` (old node -> new node, found by identity in
        the tree) is the fix; its safety is the class's ``FIX_IS_SAFE``. A node
        already flagged is not flagged again (a helper's line reached from two call
        sites, or from ``forward`` and on its own, is one finding)."""
        if any(report.node is node for report in self.reports):
            return
        fix = None
        if replacements:
            fix = Fix(
                description=fix_description or self.FIX_TITLE or "",
                safe=self.FIX_IS_SAFE,
                replacements=tuple(replacements.items()),
            )
        self.reports.append(Report(node, message or self.MESSAGE, fix))
