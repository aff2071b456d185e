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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from nnlint.analysis.context import AnalysisContext
from nnlint.findings import Fix, Severity

if TYPE_CHECKING:
    from nnlint.engine.prefilter import Searcher


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
    # Cheap pre-filter: a file none of whose text contains any of these substrings is
    # never parsed for this rule. Empty means "always run".
    TRIGGERS: ClassVar[tuple[str, ...]] = ()
    # The engine may parse only the top-level statements that contain a trigger. A rule
    # whose evidence spans statements (data flow from a model class to a loss call, a
    # block class and the loop that stacks it) sets this, and the file is parsed whole
    # whenever one of its triggers occurs.
    WHOLE_FILE: ClassVar[bool] = False
    # A finer pre-filter, checked (``search``) on each top-level statement that
    # contains one of TRIGGERS: only statements it matches are parsed for this rule,
    # and the rule does not run on a file where it matches none. It must be a
    # *necessary* condition of the rule reporting in that statement (allow any
    # spacing, line continuation, comment or parentheses Python allows), or findings
    # are lost. Top-level classes a matched statement names are kept too.
    TRIGGER_PATTERN: ClassVar[re.Pattern[str] | None] = None
    # The rule's analysis starts from class definitions: only statements holding a
    # class (top-level, or nested in a function) are hit for it, so the engine skips
    # parsing top-level functions and tables for it (timm's model factories and
    # configs). Anything else it reads must come through EVIDENCE.
    CLASSES_ONLY: ClassVar[bool] = False
    # Further statements the rule reads, given the text of the statements its filter
    # hit: a pattern matching each of them (None: every statement). For proof taken
    # from another statement (NNL301: a call of the class with literal widths; NNL401:
    # the loop stacking a block) and above all for a rule that reports an *absence*
    # (NNL202: "nothing initialises it"), where evidence pruned away turns into a
    # false alarm. Wrap the function in ``staticmethod``.
    EVIDENCE: ClassVar[staticmethod[[str], Searcher | None] | None] = None
    # The rule judges only ``nn.Module`` subclasses (``module_model.module_class``):
    # like CLASSES_ONLY, and classes that cannot be one (no bases; no base named from
    # torch or this file and no ``forward``) are not parsed for it either.
    MODULES_ONLY: ClassVar[bool] = False

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
        the tree) is the fix; its safety is the class's ``FIX_IS_SAFE``."""
        fix = None
        if replacements:
            fix = Fix(
                description=fix_description or self.FIX_TITLE or "",
                safe=self.FIX_IS_SAFE,
                replacements=tuple(replacements.items()),
            )
        self.reports.append(Report(node, message or self.MESSAGE, fix))
