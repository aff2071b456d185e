""" "A feeds B" links in the ``forward``-like methods of one class (NNL402-NNL404).

A link is a nested call ``self.b(self.a(x))`` or two consecutive statements
``h = self.a(x)`` / ``h = self.b(h)``; calls of kinds the caller names can be looked
through (``self.norm(self.act(self.conv(x)))``).
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from nnlint.analysis.class_facts import ClassTable, MethodIndex
from nnlint.analysis.cst_syntax import Resolve, first_arg, is_self_attr, only_statement
from nnlint.analysis.norm_kinds import Link


def _callee(
    call: cst.Call, table: ClassTable, resolve: Resolve
) -> tuple[str | None, cst.Call | None, str | None]:
    """(kind, constructor, self attribute) of what ``call`` calls."""
    attr = is_self_attr(call.func)
    if attr is not None:
        member = table.members.get(attr)
        if member is None:
            return None, None, None
        return member.kind, member.ctor, attr
    return resolve(call.func), None, None


def _assigns_name(statement: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    """``(v, call)`` for ``v = call(...)``."""
    small = only_statement(statement)
    if (
        type(small) is cst.Assign
        and len(small.targets) == 1
        and type(small.targets[0].target) is cst.Name
        and type(small.value) is cst.Call
    ):
        return small.targets[0].target.value, small.value
    return None


def _rebinds(statement: cst.BaseStatement, name: str) -> bool:
    small = only_statement(statement)
    return type(small) is cst.Assign and any(
        type(target.target) is cst.Name and target.target.value == name
        for target in small.targets
    )


class ForwardChains:
    """Links found in the non-``__init__`` methods of one class (ask the class
    model, ``ClassModel.links``, which finds them once per class)."""

    def __init__(
        self, table: ClassTable, indexes: list[MethodIndex], resolve: Resolve
    ) -> None:
        self.table = table
        self.resolve = resolve
        self.indexes = indexes

    def links(self, through: frozenset[str] = frozenset()) -> Iterator[Link]:
        """Every A -> B link; calls whose kind is in ``through`` are looked through."""
        for index in self.indexes:
            yield from self._nested(index, through)
            yield from self._consecutive(index, through)

    def _link(
        self, producer: cst.Call, consumer: cst.Call, exclusive: bool
    ) -> Link | None:
        p_kind, p_ctor, p_attr = _callee(producer, self.table, self.resolve)
        c_kind, c_ctor, _ = _callee(consumer, self.table, self.resolve)
        if p_kind is None or c_kind is None:
            return None
        return Link(
            producer, consumer, p_kind, c_kind, p_ctor, c_ctor, p_attr, exclusive
        )

    def _nested(self, index: MethodIndex, through: frozenset[str]) -> Iterator[Link]:
        for call in index.calls:
            inner = first_arg(call)
            while type(inner) is cst.Call and self._kind(inner) in through:
                inner = first_arg(inner)
            if type(inner) is cst.Call:
                link = self._link(inner, call, exclusive=True)
                if link is not None:
                    yield link

    def _consecutive(
        self, index: MethodIndex, through: frozenset[str]
    ) -> Iterator[Link]:
        for suite in index.suites:
            for position, statement in enumerate(suite):
                small = only_statement(statement)
                value = getattr(small, "value", None)
                if type(value) is not cst.Call or not isinstance(
                    first_arg(value), cst.Name
                ):
                    continue
                found = self._producer_before(suite, position, value, through)
                if found is not None:
                    producer, name = found
                    exclusive = _rebinds(statement, name) or not _used_after(
                        index, first_arg(value), name
                    )
                    link = self._link(producer, value, exclusive)
                    if link is not None:
                        yield link

    def _producer_before(
        self,
        suite: tuple[cst.BaseStatement, ...],
        position: int,
        consumer: cst.Call,
        through: frozenset[str],
    ) -> tuple[cst.Call, str] | None:
        wanted = first_arg(consumer)
        while position > 0 and type(wanted) is cst.Name:
            assigned = _assigns_name(suite[position - 1])
            if assigned is None or assigned[0] != wanted.value:
                return None
            if self._kind(assigned[1]) not in through:
                return assigned[1], assigned[0]
            position, wanted = position - 1, first_arg(assigned[1])
        return None

    def _kind(self, call: cst.Call) -> str | None:
        return _callee(call, self.table, self.resolve)[0]


def _used_after(index: MethodIndex, use: cst.BaseExpression | None, name: str) -> bool:
    seen = False
    for node in index.names:
        if node is use:
            seen = True
        elif seen and node.value == name:
            return True
    return False
