"""Per-class ``self.<attr>`` facts and per-method indexes (parts of the class model).

Module kinds come from the constructor call a ``self.<attr>`` was assigned (anywhere in
the class); an attribute assigned two different kinds, or anything that is not a plain
constructor call, has no kind and never links. Everything here is read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst

from nnlint.analysis.cst_syntax import Resolve, descendants, is_self_attr


@dataclass
class Member:
    """What ``self.<name>`` was assigned: constructor kind and call, if unambiguous."""

    kind: str | None
    ctor: cst.Call | None


@dataclass
class ClassTable:
    """``self.<attr>`` facts for one class body (nested classes excluded)."""

    members: dict[str, Member] = field(default_factory=dict)
    # Uses of ``self.<attr>`` as a value (``self.conv.weight`` is not one), and those
    # that are the callee of a call.
    loads: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    # Attributes whose ``.bias`` is read or written somewhere in the class.
    bias_used: set[str] = field(default_factory=set)

    def kind(self, name: str) -> str | None:
        member = self.members.get(name)
        return member.kind if member else None


_NESTED_CLASS = frozenset({cst.ClassDef})


def _record(
    table: ClassTable, node: cst.CSTNode, resolve: Resolve, targets: set[int]
) -> None:
    """Update ``table`` with what one node of the class body says about ``self``.

    Hot (every node of every class): dispatches on the exact type, which the parser
    guarantees, as ``isinstance`` against libcst's ABC-derived classes is slow."""
    if type(node) is cst.Assign:
        for target in node.targets:
            _assigned(table, target.target, node.value, resolve, targets)
    elif type(node) is cst.AnnAssign:
        if node.value is not None:
            _assigned(table, node.target, node.value, resolve, targets)
    elif type(node) is cst.Call:
        name = is_self_attr(node.func)
        if name is not None:
            table.calls[name] = table.calls.get(name, 0) + 1
    elif type(node) is cst.Attribute:
        inner = is_self_attr(node.value)
        if inner is not None:
            # ``self.conv.weight`` reads a member of the module, not the module.
            targets.add(id(node.value))
            if node.attr.value == "bias":
                table.bias_used.add(inner)
        name = is_self_attr(node)
        if name is not None and id(node) not in targets:
            table.loads[name] = table.loads.get(name, 0) + 1


def _assigned(
    table: ClassTable,
    target: cst.BaseExpression,
    value: cst.BaseExpression,
    resolve: Resolve,
    targets: set[int],
) -> None:
    name = is_self_attr(target)
    if name is None:
        return
    targets.add(id(target))
    kind = resolve(value.func) if isinstance(value, cst.Call) else None
    ctor = value if isinstance(value, cst.Call) and kind else None
    previous = table.members.get(name)
    if previous is not None and previous.kind != kind:
        kind, ctor = None, None
    table.members[name] = Member(kind, ctor)


def methods(node: cst.ClassDef) -> Iterator[cst.FunctionDef]:
    """Methods defined directly in the class body, ``__init__`` excluded."""
    if not isinstance(node.body, cst.IndentedBlock):
        return
    for statement in node.body.body:
        if (
            isinstance(statement, cst.FunctionDef)
            and statement.name.value != "__init__"
        ):
            yield statement


@dataclass
class MethodIndex:
    """Calls, statement suites and Name occurrences (document order) of one method."""

    calls: list[cst.Call] = field(default_factory=list)
    suites: list[tuple[cst.BaseStatement, ...]] = field(default_factory=list)
    names: list[cst.Name] = field(default_factory=list)

    def add(self, node: cst.CSTNode) -> None:
        # Exact types, as in _record.
        if type(node) is cst.Call:
            self.calls.append(node)
        elif type(node) is cst.Name:
            self.names.append(node)
        elif type(node) is cst.IndentedBlock:
            self.suites.append(tuple(node.body))


def index_class(
    node: cst.ClassDef, resolve: Resolve
) -> tuple[ClassTable, list[MethodIndex]]:
    """One pass over a class body: the ``self`` table and an index per method
    (``__init__`` excluded). Read it through ``module_model.ClassModel``, which
    computes it once per class."""
    table = ClassTable()
    targets: set[int] = set()
    indexes = []
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for statement in body:
        index = None
        if (
            isinstance(statement, cst.FunctionDef)
            and statement.name.value != "__init__"
        ):
            index = MethodIndex()
            indexes.append(index)
        if type(statement) in _NESTED_CLASS:
            continue
        for found in descendants(statement, _NESTED_CLASS):
            _record(table, found, resolve, targets)
            if index is not None:
                index.add(found)
    return table, indexes
