"""Shared base of the attention and routing rules (NNL7xx): judge only the functions
that name one of the rule's operations.

Not a rule itself (no ``CODE``), so the registry skips it. During the engine's one
walk over the file it notes which functions mention one of ``NAMES`` (as an
attribute, ``x.topk``/``F.softmax``, or a bare name); at the end of the file it
hands those functions, innermost ones included, to :meth:`judge`. A function that
never names ``topk`` cannot hold a top-k gate, so the rest of the file costs no
second walk.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from nnlint.rules.base import Rule, RuleContext


class FunctionScanRule(Rule):
    NAMES: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        self.open: list[cst.FunctionDef] = []
        self.hits: dict[cst.FunctionDef, None] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.open.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.open.pop()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in self.NAMES:
            self.mark()

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.NAMES:
            self.mark()

    def mark(self) -> None:
        for function in self.open:
            self.hits[function] = None

    def leave_Module(self, original_node: cst.Module) -> None:
        self.judge(original_node, list(self.hits))

    def judge(self, module: cst.Module, functions: list[cst.FunctionDef]) -> None:
        """Report on ``functions`` (those naming one of ``NAMES``)."""
