"""Small read-only libcst helpers shared by the class-level rules (NNL4xx, NNL5xx).

Call arguments, ``self.<attr>`` recognition, a fast descendant walk, enclosing nodes
and the constructor call a local name is bound to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst

from nnlint.analysis.walk import iter_children, subtypes

# An expression's qualified name (``torch.nn.LayerNorm``) through the file's imports.
Resolve = Callable[[cst.BaseExpression], "str | None"]


def called_name(call: cst.Call) -> str:
    """The last name of the callee (``zeros_`` for ``nn.init.zeros_(w)``, ``f`` for
    ``f(x)``), or "" when the callee is not a name (``make()(x)``)."""
    func = call.func
    if type(func) is cst.Attribute:
        return func.attr.value
    return func.value if type(func) is cst.Name else ""


def is_self_attr(node: cst.BaseExpression) -> str | None:
    """``X`` for ``self.X``, else None (hot: exact type checks, as in
    ``class_facts._record``)."""
    if (
        type(node) is cst.Attribute
        and type(node.value) is cst.Name
        and node.value.value == "self"
    ):
        return node.attr.value
    return None


def first_arg(call: cst.Call) -> cst.BaseExpression | None:
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def argument(call: cst.Call, position: int, name: str) -> cst.BaseExpression | None:
    """The value passed for parameter ``name`` (at ``position`` when positional)."""
    found = keyword(call, name)
    if found is not None:
        return found.value
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    return positional[position].value if position < len(positional) else None


def has_star_args(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


def source_text(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def descendants(
    node: cst.CSTNode, prune: frozenset[type] = frozenset()
) -> Iterator[cst.CSTNode]:
    """Nodes below ``node`` in source order (whitespace skipped, see
    :mod:`nnlint.analysis.walk`), not entering nodes whose type is in ``prune``.

    libcst's own ``visit`` rebuilds every node it passes; this only reads fields."""
    stack = iter_children(node)  # a fresh list each call: safe to reuse as the stack
    stack.reverse()
    while stack:
        current = stack.pop()
        yield current
        if type(current) not in prune:
            children = iter_children(current)
            children.reverse()
            stack.extend(children)


def assign_targets(small: cst.Assign | cst.AnnAssign) -> list[cst.BaseExpression]:
    """What ``a = b = value`` or ``a: T = value`` assigns to, in order."""
    if isinstance(small, cst.Assign):
        return [target.target for target in small.targets]
    return [small.target]


def only_statement(statement: cst.BaseStatement) -> cst.BaseSmallStatement | None:
    if type(statement) is cst.SimpleStatementLine and len(statement.body) == 1:
        return statement.body[0]
    return None


def enclosing(
    ancestors: list[cst.CSTNode], kind: type[cst.CSTNode]
) -> cst.CSTNode | None:
    # A set lookup, not ``isinstance``: asked for many nodes of every file.
    kinds = subtypes(kind)
    for node in reversed(ancestors[:-1]):
        if type(node) in kinds:
            return node
    return None


def bound_call(scope: cst.CSTNode | None, name: str) -> tuple[cst.Call | None, bool]:
    """The constructor call a local ``name`` is bound to in ``scope`` (the enclosing
    function), and whether the name is used exactly once besides that binding."""
    if scope is None:
        return None, False
    count = 0
    values: list[cst.BaseExpression] = []
    for node in descendants(scope):
        if type(node) is cst.Name and node.value == name:
            count += 1
        elif type(node) is cst.Assign:
            for target in node.targets:
                if type(target.target) is cst.Name and target.target.value == name:
                    values.append(node.value)
    if len(values) != 1 or type(values[0]) is not cst.Call:
        return None, False
    return values[0], count == 2


def same_expression(left: cst.CSTNode, right: cst.CSTNode) -> bool:
    """Whether two expressions are the same whatever their layout (spaces and
    parentheses do not count): same node types, same names and literals."""
    pending = [(left, right)]
    while pending:
        one, other = pending.pop()
        if type(one) is not type(other) or leaf_text(one) != leaf_text(other):
            return False
        mine, theirs = iter_children(one), iter_children(other)
        if len(mine) != len(theirs):
            return False
        pending.extend(zip(mine, theirs, strict=True))
    return True


def leaf_text(node: cst.CSTNode) -> tuple[str | None, ...]:
    """A leaf's text fields (``Name.value``, ``Integer.value``, ``Arg.star``)."""
    fields = (getattr(node, "value", None), getattr(node, "star", None))
    return tuple(text if isinstance(text, str) else None for text in fields)
