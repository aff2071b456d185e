""" "A feeds B" links between adjacent elements of a container (NNL402-NNL404).

Adjacent elements run in order in ``nn.Sequential(a, b)``, a list literal ``[a, b]``
(``layers += [...]``, ``nn.Sequential(*[...])``), an ``OrderedDict([("a", a), ("b",
b)])`` or ``super().__init__(a, b)`` in a Sequential subclass.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from nnlint.analysis.cst_syntax import Resolve, bound_call, called_name, enclosing
from nnlint.analysis.norm_kinds import Link


def _pair_value(element: cst.BaseExpression) -> cst.BaseExpression | None:
    """``m`` for an ``("name", m)`` pair of an ``OrderedDict([...])`` list."""
    if (
        type(element) is cst.Tuple
        and len(element.elements) == 2
        and type(element.elements[0].value) is cst.SimpleString
    ):
        return element.elements[1].value
    return None


def container_elements(node: cst.Call | cst.List) -> list[cst.BaseExpression | None]:
    """Elements in run order; None marks a gap (a starred element breaks adjacency)."""
    if isinstance(node, cst.List):
        values = [
            None if type(element) is cst.StarredElement else element.value
            for element in node.elements
        ]
        pairs = [_pair_value(value) for value in values if value is not None]
        if (
            values
            and all(pair is not None for pair in pairs)
            and len(pairs) == len(values)
        ):
            return list(pairs)
        return values
    return [None if arg.star else arg.value for arg in node.args if arg.keyword is None]


def container_links(
    node: cst.Call | cst.List, resolve: Resolve, scope: cst.CSTNode | None
) -> Iterator[Link]:
    """Adjacent pairs of a container whose elements both have a known kind."""
    resolved = resolved_elements(node, resolve, scope)
    for first, second in zip(resolved, resolved[1:], strict=False):
        if first is None or second is None:
            continue
        yield Link(
            producer=first[0],
            consumer=second[0],
            producer_kind=first[1],
            consumer_kind=second[1],
            producer_ctor=first[2],
            consumer_ctor=second[2],
            exclusive=first[3],
        )


Element = tuple[cst.BaseExpression, str, cst.Call, bool]


def resolved_elements(
    node: cst.Call | cst.List, resolve: Resolve, scope: cst.CSTNode | None
) -> list[Element | None]:
    """Per element of a container: (element, kind, constructor call, used only here),
    or None when the element's kind is unknown."""
    elements = container_elements(node)
    if not any(
        type(element) is cst.Call and resolve(element.func) for element in elements
    ):
        return [None] * len(elements)  # no torch layer here: skip resolving names
    return [_element(element, resolve, scope) for element in elements]


def _element(
    element: cst.BaseExpression | None, resolve: Resolve, scope: cst.CSTNode | None
) -> Element | None:
    if type(element) is cst.Call:
        kind = resolve(element.func)
        return (element, kind, element, True) if kind else None
    if type(element) is cst.Name and scope is not None:
        call, exclusive = bound_call(scope, element.value)
        kind = resolve(call.func) if call is not None else None
        return (element, kind, call, exclusive) if kind and call is not None else None
    return None


def is_sequential_init(
    call: cst.Call, ancestors: list[cst.CSTNode], resolve: Resolve
) -> bool:
    """``super().__init__(...)`` inside a subclass of ``nn.Sequential``."""
    func = call.func
    if not (
        type(func) is cst.Attribute
        and func.attr.value == "__init__"
        and type(func.value) is cst.Call
        and type(func.value.func) is cst.Name
        and func.value.func.value == "super"
    ):
        return False
    owner = enclosing(ancestors, cst.ClassDef)
    return type(owner) is cst.ClassDef and any(
        resolve(base.value) == "torch.nn.Sequential" for base in owner.bases
    )


def is_container(
    node: cst.CSTNode, ancestors: list[cst.CSTNode], resolve: Resolve
) -> bool:
    """A list literal, ``nn.Sequential(...)`` or ``super().__init__`` of a subclass."""
    if type(node) is cst.List:
        return True
    if type(node) is not cst.Call:
        return False
    # Most calls are neither: compare the last name before resolving anything.
    last = called_name(node)
    if last == "__init__":
        return is_sequential_init(node, ancestors, resolve)
    return bool(last) and resolve(node.func) == "torch.nn.Sequential"
