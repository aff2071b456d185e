"""Shared base for rules that judge a layer and the layer right after it.

NNL402, NNL403 and NNL404 look at the same two places: layer containers
(``nn.Sequential(...)``, lists of layers) and ``forward`` chains. This base finds the
containers once per call/list node; each rule says what a container means to it.
"""

from __future__ import annotations

import libcst as cst

from nnlint.analysis.container_links import is_container
from nnlint.analysis.cst_syntax import enclosing
from nnlint.rules.base import Rule, RuleContext


class ContainerLinkRule(Rule):
    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        # ids of nodes already reported: a container and a forward chain can both
        # reach the same pair.
        self.flagged: set[int] = set()

    def visit_Call(self, node: cst.Call) -> None:
        self._visit_container(node)

    def visit_List(self, node: cst.List) -> None:
        self._visit_container(node)

    def _visit_container(self, node: cst.Call | cst.List) -> None:
        ancestors = self.context.ancestors
        if is_container(node, ancestors, self.qualified_name):
            self.check_container(node, enclosing(ancestors, cst.FunctionDef))

    def check_container(
        self, node: cst.Call | cst.List, scope: cst.CSTNode | None
    ) -> None:
        raise NotImplementedError
