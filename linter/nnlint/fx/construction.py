"""Where a submodule of a built model was constructed in the user's source.

A graph finding is positioned where a module is *applied* (``self.head(x)`` in
``forward``); the source rule reporting the same defect often points where it was
*constructed* (``nn.Softmax(dim=1)`` inside ``self.head = nn.Sequential(...)`` in
``__init__``). Both refer to the same module when the construction site is the
statement that assigned it to its parent's attribute. This module finds that statement
by reading the parent's class source with ``ast``; for an element of a torch container
built inline (``nn.Sequential(a, b)``, ``nn.ModuleList([a, b])``) it narrows to the
element. Whenever the site is not provable (a module built in a loop, passed in, set
through a local name) it answers nothing, so nothing is merged on a guess.
"""

from __future__ import annotations

import ast
import inspect
import linecache
from functools import lru_cache
from typing import Any

# (path, first line, last line) of a construction site.
Span = tuple[str, int, int]
_REGISTER = ("add_module", "register_module")


def construction_spans(model: Any, qualified: str) -> tuple[Span, ...]:
    """Sites that constructed submodule ``qualified`` (``"head.1"``) of ``model``."""
    parts = qualified.split(".") if qualified else []
    chain = [model]
    for name in parts:
        child = getattr(chain[-1], "_modules", {}).get(name)
        if child is None:
            return ()
        chain.append(child)
    # The innermost user-written owner assigned the attribute; the torch containers
    # below it (Sequential, ModuleList) only index into what that statement built.
    for depth in range(len(parts) - 1, -1, -1):
        if not _is_torch_class(type(chain[depth])):
            attribute = parts[depth]
            # Each level below: (index, the container class that holds it).
            indices = [
                (parts[level], type(chain[level]).__name__)
                for level in range(depth + 1, len(parts))
            ]
            return tuple(_sites(type(chain[depth]), attribute, indices))
    return ()


def _is_torch_class(cls: type) -> bool:
    return cls.__module__ == "torch" or cls.__module__.startswith("torch.")


def _sites(owner: type, attribute: str, indices: list[tuple[str, str]]) -> list[Span]:
    spans: list[Span] = []
    for cls in owner.__mro__:
        if _is_torch_class(cls) or cls is object:
            continue
        found = _class_node(cls)
        if found is None:
            continue
        path, node = found
        for value in _assigned_values(node, attribute):
            element = _element(value, indices)
            if element is not None:
                last = element.end_lineno or element.lineno
                spans.append((path, element.lineno, last))
    return spans


def _class_node(cls: type) -> tuple[str, ast.ClassDef] | None:
    try:
        path = inspect.getsourcefile(cls)
        start = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None
    if path is None:
        return None
    tree = _parsed(path)
    if tree is None:
        return None
    classes = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and node.name == cls.__name__
        and node.lineno >= start
    ]
    return (path, min(classes, key=lambda node: node.lineno)) if classes else None


def _parsed(path: str) -> ast.Module | None:
    # linecache also holds sources registered for exec'd code (graph rule examples).
    return _parsed_text("".join(linecache.getlines(path)), path)


@lru_cache(maxsize=8)  # keyed by the text: an edited file is parsed again
def _parsed_text(text: str, path: str) -> ast.Module | None:
    try:
        return ast.parse(text, path) if text else None
    except (SyntaxError, ValueError):
        return None


def _assigned_values(cls: ast.ClassDef, attribute: str) -> list[ast.expr]:
    """Values assigned to ``self.<attribute>`` (or registered under that name) in the
    class's own methods."""
    values: list[ast.expr] = []
    for method in cls.body:
        if not isinstance(method, ast.FunctionDef) or not method.args.args:
            continue
        me = method.args.args[0].arg
        for node in ast.walk(method):
            if isinstance(node, ast.Assign) and any(
                _is_attribute(target, me, attribute) for target in node.targets
            ):
                values.append(node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                if _is_attribute(node.target, me, attribute):
                    values.append(node.value)
            elif _registers(node, me, attribute):
                values.append(node.args[1])  # type: ignore[attr-defined]
    return values


def _is_attribute(target: ast.expr, me: str, attribute: str) -> bool:
    return (
        isinstance(target, ast.Attribute)
        and target.attr == attribute
        and isinstance(target.value, ast.Name)
        and target.value.id == me
    )


def _registers(node: ast.AST, me: str, attribute: str) -> bool:
    """``self.add_module("name", module)`` / ``self.register_module(...)``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _REGISTER
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == me
        and len(node.args) == 2
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == attribute
    )


def _element(value: ast.expr, indices: list[tuple[str, str]]) -> ast.expr | None:
    """The sub-expression that built the element at ``indices`` of container calls
    (``nn.Sequential(a, b)``: index "1" is ``b``), or None when the call is not of the
    container's class or its arguments do not show it (``nn.Sequential(*layers)``)."""
    for index, container in indices:
        if not index.isdigit() or not isinstance(value, ast.Call) or value.keywords:
            return None
        if _terminal_name(value.func) != container:
            return None
        items: list[ast.expr] = value.args
        if len(items) == 1 and isinstance(items[0], ast.List | ast.Tuple):
            items = items[0].elts  # nn.ModuleList([a, b])
        if any(isinstance(item, ast.Starred) for item in items):
            return None
        if int(index) >= len(items):
            return None
        value = items[int(index)]
    return value


def _terminal_name(func: ast.expr) -> str | None:
    """``Sequential`` for ``nn.Sequential``, ``torch.nn.Sequential``, ``Sequential``."""
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None
