"""Shared analysis for the normalisation rules (NNL4xx): module kinds, "A feeds B".

Two places in PyTorch source say "the output of module A goes straight into module B":

* a container, where adjacent elements run in order: ``nn.Sequential(a, b)``, a list
  literal ``[a, b]`` (``layers += [...]``, ``nn.Sequential(*[...])``), an
  ``OrderedDict([("a", a), ("b", b)])`` or ``super().__init__(a, b)`` in a Sequential
  subclass;
* a ``forward``-like method, as a nested call ``self.b(self.a(x))`` or as two
  consecutive statements ``h = self.a(x)`` / ``h = self.b(h)``.

Module kinds come from the constructor call a ``self.<attr>`` was assigned (anywhere in
the class); an attribute assigned two different kinds, or anything that is not a plain
constructor call, has no kind and never links. Everything here is read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from nnlint.walk import iter_children

Resolve = Callable[[cst.BaseExpression], "str | None"]


def _nn(*names: str) -> frozenset[str]:
    return frozenset(f"torch.nn.{name}" for name in names)


CONV = _nn(
    *(
        f"{kind}{dims}d"
        for kind in ("Conv", "ConvTranspose", "LazyConv")
        for dims in "123"
    ),
    *(f"LazyConvTranspose{dims}d" for dims in "123"),
)
LINEAR = _nn("Linear", "LazyLinear")
BATCH_NORM = _nn(
    *(f"{kind}{dims}d" for kind in ("BatchNorm", "LazyBatchNorm") for dims in "123"),
    "SyncBatchNorm",
)
LAYER_NORM = _nn("LayerNorm", "RMSNorm")
# AlphaDropout keeps mean and variance (it is built for SELU nets), so it is left out.
DROPOUT = _nn("Dropout", "Dropout1d", "Dropout2d", "Dropout3d") | frozenset(
    f"torch.nn.functional.{name}"
    for name in ("dropout", "dropout1d", "dropout2d", "dropout3d")
)
# Shape-preserving, element-wise modules and functions: the layout of their input passes
# through unchanged.
ELEMENTWISE = (
    _nn(
        "ReLU",
        "ReLU6",
        "GELU",
        "SiLU",
        "LeakyReLU",
        "ELU",
        "SELU",
        "CELU",
        "Mish",
        "Tanh",
        "Sigmoid",
        "Hardswish",
        "Hardsigmoid",
        "Hardtanh",
        "Softplus",
        "PReLU",
        "Identity",
    )
    | DROPOUT
    | frozenset(
        f"torch.nn.functional.{name}"
        for name in (
            "relu",
            "relu6",
            "gelu",
            "silu",
            "leaky_relu",
            "elu",
            "mish",
            "hardswish",
        )
    )
)


def is_self_attr(node: cst.BaseExpression) -> str | None:
    """``X`` for ``self.X``, else None (hot: exact type checks, see _record)."""
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


def descendants(
    node: cst.CSTNode, prune: frozenset[type] = frozenset()
) -> Iterator[cst.CSTNode]:
    """Nodes below ``node`` in source order (whitespace skipped, see
    :mod:`nnlint.walk`), not entering nodes whose type is in ``prune``.

    libcst's own ``visit`` rebuilds every node it passes; this only reads fields."""
    stack = list(iter_children(node))
    stack.reverse()
    while stack:
        current = stack.pop()
        yield current
        if type(current) not in prune:
            children = list(iter_children(current))
            children.reverse()
            stack.extend(children)


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


@dataclass
class ClassFacts:
    """One pass over a class body: the ``self`` table and per-method indexes."""

    table: ClassTable
    indexes: list[MethodIndex]


def class_facts(node: cst.ClassDef, resolve: Resolve, module: cst.Module) -> ClassFacts:
    """Facts about ``node``, computed once per file and shared by all rules."""
    cache = _file_cache(module)
    facts = cache.get(id(node))
    if facts is None:
        facts = _analyse(node, resolve)
        cache[id(node)] = facts
    return facts


def class_table(node: cst.ClassDef, resolve: Resolve, module: cst.Module) -> ClassTable:
    return class_facts(node, resolve, module).table


def _analyse(node: cst.ClassDef, resolve: Resolve) -> ClassFacts:
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
    return ClassFacts(table, indexes)


_local = threading.local()


def _file_cache(module: cst.Module) -> dict[int, ClassFacts]:
    """Per-file cache keyed by node identity. The module itself is held, so its nodes'
    ids cannot be reused by another file's nodes while the entry lives."""
    if getattr(_local, "module", None) is not module:
        _local.module = module
        _local.facts = {}
    facts: dict[int, ClassFacts] = _local.facts
    return facts


@dataclass(frozen=True)
class Link:
    """Module (or function) A's output goes straight into B.

    ``producer``/``consumer`` are the expressions as written (a call site in a forward
    chain, an element in a container); ``*_ctor`` are the constructor calls, when known.
    ``exclusive`` says A's output is used nowhere else (so A's bias only reaches B).
    """

    producer: cst.BaseExpression
    consumer: cst.BaseExpression
    producer_kind: str
    consumer_kind: str
    producer_ctor: cst.Call | None
    consumer_ctor: cst.Call | None
    producer_attr: str | None = None
    exclusive: bool = True


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


def only_statement(statement: cst.BaseStatement) -> cst.BaseSmallStatement | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        return statement.body[0]
    return None


def _assigns_name(statement: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    """``(v, call)`` for ``v = call(...)``."""
    small = only_statement(statement)
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and isinstance(small.value, cst.Call)
    ):
        return small.targets[0].target.value, small.value
    return None


def _rebinds(statement: cst.BaseStatement, name: str) -> bool:
    small = only_statement(statement)
    return isinstance(small, cst.Assign) and any(
        isinstance(target.target, cst.Name) and target.target.value == name
        for target in small.targets
    )


class ForwardChains:
    """Links found in the non-``__init__`` methods of one class."""

    def __init__(self, facts: ClassFacts, resolve: Resolve) -> None:
        self.table = facts.table
        self.resolve = resolve
        self.indexes = facts.indexes

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
            while isinstance(inner, cst.Call) and self._kind(inner) in through:
                inner = first_arg(inner)
            if isinstance(inner, cst.Call):
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
                if not isinstance(value, cst.Call) or not isinstance(
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
        while position > 0 and isinstance(wanted, cst.Name):
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


def _pair_value(element: cst.BaseExpression) -> cst.BaseExpression | None:
    """``m`` for an ``("name", m)`` pair of an ``OrderedDict([...])`` list."""
    if (
        isinstance(element, cst.Tuple)
        and len(element.elements) == 2
        and isinstance(element.elements[0].value, cst.SimpleString)
    ):
        return element.elements[1].value
    return None


def container_elements(node: cst.Call | cst.List) -> list[cst.BaseExpression | None]:
    """Elements in run order; None marks a gap (a starred element breaks adjacency)."""
    if isinstance(node, cst.List):
        values = [
            None if isinstance(element, cst.StarredElement) else element.value
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


def bound_call(scope: cst.CSTNode | None, name: str) -> tuple[cst.Call | None, bool]:
    """The constructor call a local ``name`` is bound to in ``scope`` (the enclosing
    function), and whether the name is used exactly once besides that binding."""
    if scope is None:
        return None, False
    count = 0
    values: list[cst.BaseExpression] = []
    for node in descendants(scope):
        if isinstance(node, cst.Name) and node.value == name:
            count += 1
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Name) and target.target.value == name:
                    values.append(node.value)
    if len(values) != 1 or not isinstance(values[0], cst.Call):
        return None, False
    return values[0], count == 2


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
        isinstance(element, cst.Call) and resolve(element.func) for element in elements
    ):
        return [None] * len(elements)  # no torch layer here: skip resolving names
    return [_element(element, resolve, scope) for element in elements]


def _element(
    element: cst.BaseExpression | None, resolve: Resolve, scope: cst.CSTNode | None
) -> Element | None:
    if isinstance(element, cst.Call):
        kind = resolve(element.func)
        return (element, kind, element, True) if kind else None
    if isinstance(element, cst.Name) and scope is not None:
        call, exclusive = bound_call(scope, element.value)
        kind = resolve(call.func) if call is not None else None
        return (element, kind, call, exclusive) if kind and call is not None else None
    return None


def enclosing(
    ancestors: list[cst.CSTNode], kind: type[cst.CSTNode]
) -> cst.CSTNode | None:
    for node in reversed(ancestors[:-1]):
        if isinstance(node, kind):
            return node
    return None


def is_sequential_init(
    call: cst.Call, ancestors: list[cst.CSTNode], resolve: Resolve
) -> bool:
    """``super().__init__(...)`` inside a subclass of ``nn.Sequential``."""
    func = call.func
    if not (
        isinstance(func, cst.Attribute)
        and func.attr.value == "__init__"
        and isinstance(func.value, cst.Call)
        and isinstance(func.value.func, cst.Name)
        and func.value.func.value == "super"
    ):
        return False
    owner = enclosing(ancestors, cst.ClassDef)
    return isinstance(owner, cst.ClassDef) and any(
        resolve(base.value) == "torch.nn.Sequential" for base in owner.bases
    )


def is_container(
    node: cst.CSTNode, ancestors: list[cst.CSTNode], resolve: Resolve
) -> bool:
    """A list literal, ``nn.Sequential(...)`` or ``super().__init__`` of a subclass."""
    if isinstance(node, cst.List):
        return True
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    # Most calls are neither: compare the last name before resolving anything.
    last = func.attr.value if isinstance(func, cst.Attribute) else None
    if isinstance(func, cst.Name):
        last = func.value
    if last == "__init__":
        return is_sequential_init(node, ancestors, resolve)
    return last is not None and resolve(func) == "torch.nn.Sequential"
