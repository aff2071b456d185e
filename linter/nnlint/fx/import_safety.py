"""Which files graph mode may import: modules of definitions, never scripts.

Importing a file runs its top-level code, so graph mode imports a discovered file only
when nothing that runs at import can be *this file's own code doing work*. Read
statically (``ast``, no import), every statement executed at import time must be:

* ``import`` / ``from ... import``, ``pass``, a docstring or other constant;
* an assignment (``=``, annotated, augmented) of an *inert* expression, which covers
  constants, ``__all__ = [...]``, aliases and type hints;
* ``def`` / ``async def`` whose decorators, defaults and annotations pass, or
  ``class`` whose decorators, bases and keywords pass and whose body (it runs at
  import) follows these same rules; a class body may not define
  ``__init_subclass__`` and ``metaclass=`` may not name a class of this file (both
  run this file's code when a class is created);
* ``if`` with an inert test (``TYPE_CHECKING``, a version check) and ``try`` around
  statements that follow these rules; ``if __name__ == "__main__":`` blocks are never
  run by an import, so anything goes inside them;
* ``assert`` with an inert test.

An expression is *inert* when it contains no call, ``await``, ``yield`` or ``:=``,
except calls with inert arguments to the value builders below, resolved through the
file's imports (so ``F.softmax`` or a local ``partial`` never match by spelling):
builtins that build values (``dict``, ``range``, ``len``...), ``functools.partial``,
``typing`` helpers, ``collections.namedtuple``, ``dataclasses.field``,
``logging.getLogger``, ``os.environ.get``/``os.getenv``, ``os.path`` and
``pathlib.Path``, ``torch.device``, torch's tensor factories (``torch.zeros``..., for
``example_input_array`` class attributes) and ``torch.nn`` constructors (a
module-level ``criterion = nn.CrossEntropyLoss()``): library code that builds a value
and runs nothing of the user's (what it allocates is under the worker's memory cap).
A lambda is inert when its defaults are.

A decorator passes when it is a name or attribute path (optionally called with inert
arguments) that is *not* a function or class of this file: library decorators
(``@dataclass``, ``@torch.no_grad()``, ``@register_model``) only define, while a
decorator of this file runs this file's code. ``@name.setter``/``getter``/``deleter``
of a property pass.

Anything else (a call statement such as ``main()``, ``model = train(Net())``, a loop,
``with``, a default argument or decorator running this file's code) makes the file a
script: it is not imported. Such a model can still be named in ``[tool.nnlint.fx]
models``, which imports it through its factory on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

_BUILTINS = frozenset(
    "dict list tuple set frozenset int float complex str bytes bool range len min max "
    "abs round sorted reversed enumerate zip slice object property staticmethod "
    "classmethod".split()
)
_LIBRARY = frozenset(
    "functools.partial typing.TypeVar typing.NewType typing.NamedTuple typing.cast "
    "typing.ParamSpec typing_extensions.TypeVar collections.namedtuple "
    "dataclasses.field logging.getLogger os.environ.get os.getenv pathlib.Path "
    "torch.device torch.zeros torch.ones torch.rand torch.randn torch.randint "
    "torch.empty torch.full torch.arange torch.linspace torch.eye torch.tensor "
    "torch.as_tensor torch.zeros_like torch.ones_like torch.randn_like".split()
)
_LIBRARY_PREFIXES = ("os.path.", "torch.nn.")
_PROPERTY_PARTS = frozenset({"setter", "getter", "deleter"})


def is_script(tree: ast.Module) -> bool:
    """True when importing ``tree``'s file would run more than definitions."""
    reader = _Reader(tree)
    return not reader.block(tree.body, reader.module_names)


class _Reader:
    def __init__(self, tree: ast.Module) -> None:
        self.imports = _imports(tree.body)
        self.module_names = _defined(tree.body)

    def block(self, body: Iterable[ast.stmt], local: frozenset[str]) -> bool:
        return all(self.statement(node, local) for node in body)

    def statement(self, node: ast.stmt, local: frozenset[str]) -> bool:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass)):
            return True
        if isinstance(node, ast.Expr):
            return isinstance(node.value, ast.Constant)
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Assert)):
            return self.inert(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self.function(node, local)
        if isinstance(node, ast.ClassDef):
            return self.klass(node, local)
        if isinstance(node, ast.If):
            if _is_main_guard(node.test):
                return self.block(node.orelse, local)
            return self.inert(node.test) and self.block(
                [*node.body, *node.orelse], local
            )
        if isinstance(node, ast.Try):
            handlers = [child for h in node.handlers for child in h.body]
            types = [h.type for h in node.handlers if h.type is not None]
            body = [*node.body, *handlers, *node.orelse, *node.finalbody]
            return all(map(self.inert, types)) and self.block(body, local)
        return False

    def function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, local: frozenset[str]
    ) -> bool:
        arguments = node.args
        evaluated = [*arguments.defaults, *arguments.kw_defaults, node.returns]
        evaluated += [a.annotation for a in _all_arguments(arguments)]
        return self.decorators(node.decorator_list, local) and all(
            self.inert(value) for value in evaluated if value is not None
        )

    def klass(self, node: ast.ClassDef, local: frozenset[str]) -> bool:
        own = _defined(node.body)
        if "__init_subclass__" in own:
            return False
        metaclass = [k.value for k in node.keywords if k.arg == "metaclass"]
        if any(_root(value) in local for value in metaclass):
            return False
        evaluated = [*node.bases, *(k.value for k in node.keywords)]
        return (
            self.decorators(node.decorator_list, local)
            and all(map(self.inert, evaluated))
            and self.block(node.body, local | own)
        )

    def decorators(self, decorators: list[ast.expr], local: frozenset[str]) -> bool:
        for decorator in decorators:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if _dotted(target) is None:
                return False
            is_property = (
                isinstance(target, ast.Attribute) and target.attr in _PROPERTY_PARTS
            )
            if _root(target) in local and not is_property:
                return False
            if isinstance(decorator, ast.Call) and not self.arguments_inert(decorator):
                return False
        return True

    def inert(self, node: ast.AST) -> bool:
        for child in _evaluated(node):
            if isinstance(child, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
                return False
            if isinstance(child, ast.Call) and not self.builder(child):
                return False
        return True

    def builder(self, call: ast.Call) -> bool:
        name = _dotted(call.func)
        if name is None:
            return False
        head, _, rest = name.partition(".")
        if head in self.module_names:
            return False  # this file's own code, whatever it is called
        if head not in self.imports:
            return not rest and head in _BUILTINS
        full = ".".join(filter(None, [self.imports[head], rest]))
        return full in _LIBRARY or full.startswith(_LIBRARY_PREFIXES)

    def arguments_inert(self, call: ast.Call) -> bool:
        return all(map(self.inert, [*call.args, *(k.value for k in call.keywords)]))


def _evaluated(node: ast.AST) -> Iterable[ast.AST]:
    """``node`` and its sub-expressions that run when it is evaluated (a lambda's
    body runs only when called)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, ast.Lambda):
            stack += [*current.args.defaults, *filter(None, current.args.kw_defaults)]
        else:
            stack += ast.iter_child_nodes(current)


def _imports(body: Iterable[ast.stmt]) -> dict[str, str]:
    """Local name -> qualified name, for every import the module runs (nested in
    ``if``/``try`` included)."""
    names: dict[str, str] = {}
    for node in body:
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        head = alias.name.partition(".")[0]
                        names[head] = head
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                for alias in child.names:
                    local = alias.asname or alias.name
                    names[local] = f"{child.module}.{alias.name}"
    return names


def _defined(body: Iterable[ast.stmt]) -> frozenset[str]:
    """Functions and classes a block defines (its own code, when called)."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return frozenset(node.name for node in body if isinstance(node, kinds))


def _all_arguments(arguments: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, *extra]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _root(node: ast.expr) -> str | None:
    name = _dotted(node)
    return None if name is None else name.partition(".")[0]


def _is_main_guard(test: ast.expr) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
    ):
        return False
    operands = [test.left, *test.comparators]
    names = [o for o in operands if isinstance(o, ast.Name) and o.id == "__name__"]
    mains = [
        o for o in operands if isinstance(o, ast.Constant) and o.value == "__main__"
    ]
    return len(names) == 1 and len(mains) == 1
