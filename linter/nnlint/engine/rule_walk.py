"""One walk over a parsed module that feeds every selected rule's visitor methods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import libcst as cst

from nnlint.analysis.walk import iter_children
from nnlint.rules import Rule, RuleContext

Handler = Callable[[cst.CSTNode], object]


class BatchedWalker:
    """Dispatches each node to the matching ``visit_``/``leave_`` methods of all rules.

    Walks with :func:`nnlint.analysis.walk.iter_children` (libcst's own ``visit``
    rebuilds every node and costs more than parsing); iterative, so deeply nested code
    cannot overflow the interpreter stack.
    """

    def __init__(self, rules: Sequence[Rule], context: RuleContext) -> None:
        self.context = context
        self.visits: dict[str, list[Handler]] = {}
        self.leaves: dict[str, list[Handler]] = {}
        for rule in rules:
            for attribute in handler_names(type(rule)):
                table = self.visits if attribute.startswith("visit_") else self.leaves
                table.setdefault(attribute[6:], []).append(getattr(rule, attribute))

    def walk(self, module: cst.Module) -> None:
        ancestors = self.context.ancestors
        visits, leaves = self.visits, self.leaves
        imports = self.context.imports
        # A node is pushed to enter it, and once more wrapped in a 1-tuple to leave it
        # (hot: one tuple per node instead of two).
        stack: list[cst.CSTNode | tuple[cst.CSTNode]] = [module]
        while stack:
            item = stack.pop()
            if type(item) is tuple:
                node = item[0]
                for handler in leaves.get(type(node).__name__, ()):
                    handler(node)
                ancestors.pop()
                continue
            node = item  # type: ignore[assignment]
            kind = type(node).__name__
            ancestors.append(node)
            if kind == "Import" or kind == "ImportFrom":
                # Imports inside functions still bind names for what follows them.
                imports.add_import(node)  # type: ignore[arg-type]
            for handler in visits.get(kind, ()):
                handler(node)
            stack.append((node,))
            children = iter_children(node)
            children.reverse()
            stack.extend(children)


@cache
def handler_names(rule: type[Rule]) -> tuple[str, ...]:
    """``visit_X``/``leave_X`` methods the rule defines (not CSTVisitor's no-ops).

    Cached per class: ``dir()`` over a visitor lists hundreds of inherited names.
    """
    names = []
    for attribute in dir(rule):
        if not attribute.startswith(("visit_", "leave_")) or attribute in (
            "visit_",
            "leave_",
        ):
            continue
        if getattr(rule, attribute) is getattr(cst.CSTVisitor, attribute, None):
            continue
        names.append(attribute)
    return tuple(names)
