"""A small forward walk over one function body for the attention and routing rules.

The NNL7xx rules ask where a tensor came from inside one function: "were these
attention scores scaled before the softmax?", "are these gates the top-k values of
biased scores?". :class:`FlowWalker` answers by evaluating every statement of a
function in source order to a set of :data:`Tag` facts per local name. A rule
subclasses it and says what operations *create* facts (``on_call``, ``on_binary``);
the walker carries facts through assignments, unpacking, reshapes, dtype casts,
masking and indexing, and merges branches so that a fact survives an ``if`` only
when it holds on every path (a possible problem on one path is not reported, which
keeps the rules silent rather than wrong).

Nothing is imported: names are resolved through the file's imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import libcst as cst

from nnlint.analysis.names import ImportMap
from nnlint.analysis.walk import walk

# A fact about a value: (what it is, the node it came from).
Tag = tuple[str, cst.CSTNode | None]
Facts = frozenset[Tag]
NOTHING: Facts = frozenset()

# Tensor methods that keep what a value means: shape, dtype, device, masking.
PASS_METHODS = frozenset(
    {
        "view", "reshape", "transpose", "permute", "contiguous", "float", "half",
        "double", "bfloat16", "to", "type", "type_as", "masked_fill", "masked_fill_",
        "unsqueeze", "squeeze", "flatten", "unflatten", "clone", "detach", "expand",
        "expand_as", "view_as", "reshape_as", "movedim", "swapaxes", "mT", "T",
    }
)  # fmt: skip
# torch functions doing the same.
PASS_FUNCTIONS = frozenset(
    {
        "torch.transpose", "torch.permute", "torch.reshape", "torch.squeeze",
        "torch.unsqueeze", "torch.flatten", "torch.where", "torch.movedim",
        "torch.nn.functional.dropout", "einops.rearrange", "einops.repeat",
    }
)  # fmt: skip
SOFTMAX_FUNCTIONS = frozenset({"torch.nn.functional.softmax", "torch.softmax"})


class FlowWalker:
    """Evaluates one function's statements to facts; rules override the hooks."""

    # Subscripts/attributes that pick the first element of a (values, indices) pair.
    FIRST: ClassVar[frozenset[str]] = frozenset({"values"})
    SECOND: ClassVar[frozenset[str]] = frozenset({"indices"})

    def __init__(self, imports: ImportMap) -> None:
        self.imports = imports

    # -- hooks for rules -------------------------------------------------------------
    def on_call(self, node: cst.Call, name: str | None, args: list[Facts]) -> Facts:
        """Facts of a call. ``name`` is the qualified name of a function, or
        ``.method`` for a method call (``args[0]`` then holds the receiver)."""
        if name in PASS_FUNCTIONS or (
            name is not None and name[1:] in PASS_METHODS and name.startswith(".")
        ):
            return args[0] if args else NOTHING
        return NOTHING

    def on_binary(self, node: cst.BinaryOperation, left: Facts, right: Facts) -> Facts:
        if type(node.operator) is cst.Add or type(node.operator) is cst.Subtract:
            return left | right
        return NOTHING

    def on_statement(self, node: cst.CSTNode, env: dict[str, Facts]) -> None:
        """Called for each simple statement after it is applied (for rules that
        look at uses, such as a bare ``x.mul_(s)``)."""

    def element(self, facts: Facts, index: int) -> Facts:
        """Facts of element ``index`` of a tuple-valued result (``a, b = f()``)."""
        return NOTHING

    # -- the walk ----------------------------------------------------------------------
    def run(
        self, function: cst.FunctionDef, seeds: dict[str, Facts] | None = None
    ) -> dict[str, Facts]:
        """Walk ``function``; ``seeds`` are facts known of its parameters."""
        env: dict[str, Facts] = dict(seeds or {})
        self.block(function.body, env)
        return env

    def block(self, body: cst.BaseSuite, env: dict[str, Facts]) -> None:
        statements: Sequence[cst.CSTNode]
        if type(body) is cst.IndentedBlock:
            statements = body.body
        elif type(body) is cst.SimpleStatementSuite:
            statements = [body]
        else:
            statements = []
        for statement in statements:
            self.statement(statement, env)

    def statement(self, node: cst.CSTNode, env: dict[str, Facts]) -> None:
        if (
            type(node) is cst.SimpleStatementLine
            or type(node) is cst.SimpleStatementSuite
        ):
            for small in node.body:
                self.small(small, env)
                self.on_statement(small, env)
        elif type(node) is cst.If:
            self.branches(node, env)
        elif type(node) is cst.For or type(node) is cst.While:
            # A loop may run zero times: what it binds merges with what was before.
            inner = dict(env)
            self.block(node.body, inner)
            self.merge(env, [inner, dict(env)])
        elif type(node) is cst.With:
            self.block(node.body, env)
        elif type(node) is cst.Try:
            self.block(node.body, env)

    def branches(self, node: cst.If, env: dict[str, Facts]) -> None:
        paths = []
        current: cst.If | cst.Else | None = node
        while current is not None:
            path = dict(env)
            self.block(current.body, path)
            paths.append(path)
            orelse = current.orelse if type(current) is cst.If else None
            current = orelse
        if not isinstance(_last_else(node), cst.Else):
            paths.append(dict(env))
        self.merge(env, paths)

    @staticmethod
    def merge(env: dict[str, Facts], paths: list[dict[str, Facts]]) -> None:
        """A fact holds after a branch only if it holds on every path."""
        names = set().union(*paths)
        for name in names:
            common = paths[0].get(name, NOTHING)
            for path in paths[1:]:
                common &= path.get(name, NOTHING)
            env[name] = common

    def small(self, node: cst.BaseSmallStatement, env: dict[str, Facts]) -> None:
        if type(node) is cst.Assign:
            if self.pairwise(node, env):
                return
            facts = self.evaluate(node.value, env)
            for target in node.targets:
                self.bind(target.target, facts, env)
        elif type(node) is cst.AnnAssign and node.value is not None:
            self.bind(node.target, self.evaluate(node.value, env), env)
        elif type(node) is cst.AugAssign:
            operation = cst.BinaryOperation(
                left=node.target,
                operator=_BINARY[type(node.operator)](),
                right=node.value,
            )
            facts = self.on_binary(
                operation,
                self.evaluate(node.target, env),
                self.evaluate(node.value, env),
            )
            self.bind(node.target, facts, env)
        elif type(node) is cst.Expr:
            self.evaluate(node.value, env)
        elif type(node) is cst.Return and node.value is not None:
            self.evaluate(node.value, env)

    def pairwise(self, node: cst.Assign, env: dict[str, Facts]) -> bool:
        """``a, b = x[0], y[1]``: each name takes its own element's facts."""
        value = node.value
        if len(node.targets) != 1 or type(value) is not cst.Tuple:
            return False
        target = node.targets[0].target
        if not (type(target) is cst.Tuple or type(target) is cst.List):
            return False
        if len(target.elements) != len(value.elements) or any(
            type(e) is cst.StarredElement for e in (*target.elements, *value.elements)
        ):
            return False
        facts = [self.evaluate(e.value, env) for e in value.elements]
        for item, fact in zip(target.elements, facts, strict=True):
            self.bind(item.value, fact, env)
        return True

    def bind(
        self, target: cst.BaseExpression, facts: Facts, env: dict[str, Facts]
    ) -> None:
        if type(target) is cst.Name:
            env[target.value] = facts
        elif type(target) is cst.Tuple or type(target) is cst.List:
            for index, item in enumerate(target.elements):
                if type(item) is cst.Element:
                    self.bind(item.value, self.element(facts, index), env)

    def evaluate(self, node: cst.BaseExpression, env: dict[str, Facts]) -> Facts:
        if type(node) is cst.Name:
            return env.get(node.value, NOTHING)
        if type(node) is cst.Call:
            return self.call(node, env)
        if type(node) is cst.BinaryOperation:
            left = self.evaluate(node.left, env)
            right = self.evaluate(node.right, env)
            return self.on_binary(node, left, right)
        if type(node) is cst.Subscript:
            return self.subscript(node, env)
        if type(node) is cst.Attribute:
            inner = self.evaluate(node.value, env)
            attr = node.attr.value
            if attr in self.FIRST:
                return self.element(inner, 0)
            if attr in self.SECOND:
                return self.element(inner, 1)
            return inner if attr in PASS_METHODS else NOTHING
        if type(node) is cst.UnaryOperation:
            return self.evaluate(node.expression, env)
        if type(node) is cst.IfExp:
            self.evaluate(node.test, env)
            return self.evaluate(node.body, env) & self.evaluate(node.orelse, env)
        if type(node) is cst.Tuple or type(node) is cst.List:
            # ``torch.cat((a, b))``: the container stands for what it holds.
            found = NOTHING
            for child in _children(node):
                found |= self.evaluate(child, env)
            return found
        for child in _children(node):
            self.evaluate(child, env)
        return NOTHING

    def subscript(self, node: cst.Subscript, env: dict[str, Facts]) -> Facts:
        inner = self.evaluate(node.value, env)
        if len(node.slice) == 1:
            index = node.slice[0].slice
            if type(index) is cst.Index and type(index.value) is cst.Integer:
                return self.element(inner, int(index.value.value))
        return inner

    def call(self, node: cst.Call, env: dict[str, Facts]) -> Facts:
        func = node.func
        name = self.imports.resolve(func)
        function = _mapped_lambda(node) if name is None else None
        if function is not None:  # the lambda's body is evaluated once, by ``mapped``
            return self.mapped(function, self.evaluate(node.args[1].value, env), env)
        args = [self.evaluate(arg.value, env) for arg in node.args]
        if name is None and type(func) is cst.Attribute and not _on_self(func):
            receiver = self.evaluate(func.value, env)
            return self.on_call(node, "." + func.attr.value, [receiver, *args])
        if name is None:
            self.evaluate(func, env)
        return self.on_call(node, name, args)

    def mapped(
        self, function: cst.Lambda, items: Facts, env: dict[str, Facts]
    ) -> Facts:
        """``map(lambda t: body, items)``: the body's facts with ``t`` standing for
        what the items hold (``q, k = map(lambda t: t * scale, (q, k))``)."""
        inner = dict(env)
        inner[function.params.params[0].name.value] = items
        return self.evaluate(function.body, inner)


def _mapped_lambda(node: cst.Call) -> cst.Lambda | None:
    """The lambda of the builtin ``map`` applied with a one-parameter lambda to one
    iterable, else None."""
    if not (
        type(node.func) is cst.Name
        and node.func.value == "map"
        and len(node.args) == 2
        and not any(arg.star or arg.keyword for arg in node.args)
    ):
        return None
    function = node.args[0].value
    if type(function) is cst.Lambda and len(function.params.params) == 1:
        return function
    return None


def _on_self(func: cst.Attribute) -> bool:
    """``self.<attr>(...)``: a submodule or method of the class, not a tensor method."""
    return type(func.value) is cst.Name and func.value.value == "self"


def _children(node: cst.CSTNode) -> list[cst.BaseExpression]:
    """Sub-expressions of a container expression (tuples, lists, comprehensions are
    only walked for the calls inside them)."""
    found: list[cst.BaseExpression] = []
    if type(node) is cst.Tuple or type(node) is cst.List:
        found.extend(e.value for e in node.elements if type(e) is cst.Element)
    elif type(node) is cst.Comparison:
        found.append(node.left)
    elif type(node) is cst.BooleanOperation:
        found.extend((node.left, node.right))
    return found


def _last_else(node: cst.If) -> cst.If | cst.Else | None:
    current: cst.If | cst.Else | None = node
    while type(current) is cst.If and current.orelse is not None:
        current = current.orelse
    return current


_BINARY: dict[type[cst.BaseAugOp], type[cst.BaseBinaryOp]] = {
    cst.AddAssign: cst.Add,
    cst.SubtractAssign: cst.Subtract,
    cst.MultiplyAssign: cst.Multiply,
    cst.DivideAssign: cst.Divide,
    cst.FloorDivideAssign: cst.FloorDivide,
    cst.MatrixMultiplyAssign: cst.MatrixMultiply,
    cst.PowerAssign: cst.Power,
    cst.ModuloAssign: cst.Modulo,
    cst.LeftShiftAssign: cst.LeftShift,
    cst.RightShiftAssign: cst.RightShift,
    cst.BitAndAssign: cst.BitAnd,
    cst.BitOrAssign: cst.BitOr,
    cst.BitXorAssign: cst.BitXor,
}


def functions(module: cst.Module) -> list[cst.FunctionDef]:
    """Every function and method of the file, nested ones included."""

    return [node for node in walk(module) if type(node) is cst.FunctionDef]
