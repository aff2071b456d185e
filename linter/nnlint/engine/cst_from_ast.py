"""libcst trees built from Python's ``ast``, for the engine's first pass.

libcst's native parser costs 7-8 times what ``ast.parse`` costs on the same text, most
of it for whitespace and punctuation nodes that no rule reads. :func:`module_from_ast`
parses with ``ast`` and builds the same libcst node classes the real parser builds,
with the same node types, names and literal texts, every whitespace, comment and
parenthesis field left at its default. Rules run on it unchanged; only when they
report something does the engine parse the text for real (positions, messages and
fixes come from that pass, see :mod:`nnlint.engine.lint_source`).

Whatever the converter is not sure of gives None (parse for real): text that ``ast``
rejects, ``match`` statements, and the rare layouts the helpers of
:mod:`nnlint.engine.cst_from_ast_text` cannot read. That the trees agree is checked
on every corpus file by ``bench/cst_from_ast_identical.py``.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable
from typing import Any

import libcst as cst

from nnlint.engine.cst_from_ast_small import SmallStatements
from nnlint.engine.cst_from_ast_text import SourceText, Unsupported, code_part
from nnlint.engine.parsing import fast_construction

_TAB_INDENT = re.compile(r"^[ \f]*\t", re.MULTILINE)


def module_from_ast(text: str) -> cst.Module | None:
    """The libcst-shaped tree of ``text``, or None: use the real parser."""
    try:
        return build(text)
    except (SyntaxError, ValueError, Unsupported, RecursionError, MemoryError):
        return None


def build(text: str) -> cst.Module:
    """:func:`module_from_ast` that raises: ``SyntaxError`` (and what ``ast.parse``
    raises) or :class:`Unsupported` with the reason."""
    if "\t" in text and _TAB_INDENT.search(text):
        # Python accepts indentation mixing tabs and spaces that libcst's tokenizer
        # refuses ("no matching outer block for dedent", a real file of the fifth
        # set): the real parser must say whether the text is an NNL001.
        raise Unsupported("a tab in indentation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(text)
    with fast_construction(shared_defaults=True):
        return StatementConverter(SourceText(text)).module(tree)


class StatementConverter(SmallStatements):
    """Converts a whole ``ast`` module: compound statements here, small statements
    and expressions inherited."""

    def module(self, tree: ast.Module) -> cst.Module:
        return cst.Module(body=self.statements(tree.body))

    def statements(self, body: list[ast.stmt]) -> list[Any]:
        """Statements in order, small ones joined by ``;`` in one line node."""
        converted: list[Any] = []
        line: list[cst.BaseSmallStatement] = []
        previous: ast.stmt | None = None
        for statement in body:
            compound = _COMPOUND.get(type(statement))
            if compound is not None:
                converted.append(compound(self, statement))
                previous = None
                continue
            small = self.small(statement)
            if previous is not None and self._same_line(previous, statement):
                line.append(small)
            else:
                line = [small]
                converted.append(cst.SimpleStatementLine(body=line))
            previous = statement
        return converted

    def _same_line(self, previous: ast.stmt, statement: ast.stmt) -> bool:
        if statement.lineno == previous.end_lineno:
            return True
        lines = self.source.between(previous, statement).split("\n")
        if any(code_part(line).rstrip().endswith("\\") for line in lines):
            raise Unsupported("statements joined across a backslash")
        return False

    def small(self, statement: ast.stmt) -> cst.BaseSmallStatement:
        convert = _SMALL.get(type(statement))
        if convert is None:
            raise Unsupported(type(statement).__name__)
        return convert(self, statement)

    def suite(self, body: list[ast.stmt]) -> cst.BaseSuite:
        if self.source.starts_line(body[0]):
            return cst.IndentedBlock(body=self.statements(body))
        return cst.SimpleStatementSuite(body=[self.small(item) for item in body])

    def _else(self, body: list[ast.stmt]) -> cst.Else | None:
        return cst.Else(body=self.suite(body)) if body else None

    # -- compound statements -----------------------------------------------------
    def _function(self, node: ast.FunctionDef) -> cst.FunctionDef:
        if getattr(node, "type_params", None):
            raise Unsupported("type parameters")
        returns = node.returns
        return cst.FunctionDef(
            name=cst.Name(value=node.name),
            params=self.parameters(node.args),
            body=self.suite(node.body),
            decorators=self._decorators(node.decorator_list),
            returns=None if returns is None else cst.Annotation(self.expr(returns)),
            asynchronous=cst.Asynchronous()
            if type(node) is ast.AsyncFunctionDef
            else None,
        )

    def _decorators(self, nodes: list[ast.expr]) -> list[cst.Decorator]:
        return [cst.Decorator(decorator=self.expr(node)) for node in nodes]

    def _class(self, node: ast.ClassDef) -> cst.ClassDef:
        if getattr(node, "type_params", None):
            raise Unsupported("type parameters")
        return cst.ClassDef(
            name=cst.Name(value=node.name),
            body=self.suite(node.body),
            bases=self.arguments(node.bases),
            keywords=self.arguments(node.keywords),
            decorators=self._decorators(node.decorator_list),
        )

    def _if(self, node: ast.If) -> cst.If:
        orelse: cst.If | cst.Else | None = None
        branch = node.orelse
        if len(branch) == 1 and type(branch[0]) is ast.If and self._elif(branch[0]):
            orelse = self._if(branch[0])
        elif branch:
            orelse = cst.Else(body=self.suite(branch))
        return cst.If(
            test=self.expr(node.test), body=self.suite(node.body), orelse=orelse
        )

    def _elif(self, node: ast.If) -> bool:
        text = self.source.lines[node.lineno - 1]
        return text.encode()[node.col_offset : node.col_offset + 4] == b"elif"

    def _for(self, node: ast.For) -> cst.For:
        return cst.For(
            target=self.expr(node.target),
            iter=self.expr(node.iter),
            body=self.suite(node.body),
            orelse=self._else(node.orelse),
            asynchronous=cst.Asynchronous() if type(node) is ast.AsyncFor else None,
        )

    def _while(self, node: ast.While) -> cst.While:
        return cst.While(
            test=self.expr(node.test),
            body=self.suite(node.body),
            orelse=self._else(node.orelse),
        )

    def _with(self, node: ast.With) -> cst.With:
        items = [
            cst.WithItem(
                item=self.expr(item.context_expr),
                asname=None
                if item.optional_vars is None
                else cst.AsName(name=self.expr(item.optional_vars)),
            )
            for item in node.items
        ]
        asynchronous = cst.Asynchronous() if type(node) is ast.AsyncWith else None
        return cst.With(
            items=items, body=self.suite(node.body), asynchronous=asynchronous
        )

    def _try(self, node: ast.Try) -> cst.Try | cst.TryStar:
        star = type(node) is ast.TryStar
        handler_class = cst.ExceptStarHandler if star else cst.ExceptHandler
        handlers: list[Any] = [
            handler_class(
                body=self.suite(handler.body),
                type=self.optional(handler.type),
                name=None
                if handler.name is None
                else cst.AsName(name=cst.Name(value=handler.name)),
            )
            for handler in node.handlers
        ]
        final = cst.Finally(body=self.suite(node.finalbody)) if node.finalbody else None
        return (cst.TryStar if star else cst.Try)(
            body=self.suite(node.body),
            handlers=handlers,
            orelse=self._else(node.orelse),
            finalbody=final,
        )


_COMPOUND: dict[type, Callable[[Any, Any], cst.BaseCompoundStatement]] = {
    ast.FunctionDef: StatementConverter._function,
    ast.AsyncFunctionDef: StatementConverter._function,
    ast.ClassDef: StatementConverter._class,
    ast.If: StatementConverter._if,
    ast.For: StatementConverter._for,
    ast.AsyncFor: StatementConverter._for,
    ast.While: StatementConverter._while,
    ast.With: StatementConverter._with,
    ast.AsyncWith: StatementConverter._with,
    ast.Try: StatementConverter._try,
    ast.TryStar: StatementConverter._try,
}
_SMALL: dict[type, Callable[[Any, Any], cst.BaseSmallStatement]] = {
    ast.Expr: SmallStatements._expression,
    ast.Assign: SmallStatements._assign,
    ast.AugAssign: SmallStatements._augmented,
    ast.AnnAssign: SmallStatements._annotated,
    ast.Return: SmallStatements._return,
    ast.Delete: SmallStatements._delete,
    ast.Pass: lambda converter, node: cst.Pass(),
    ast.Break: lambda converter, node: cst.Break(),
    ast.Continue: lambda converter, node: cst.Continue(),
    ast.Raise: SmallStatements._raise,
    ast.Assert: SmallStatements._assert,
    ast.Global: SmallStatements._global,
    ast.Nonlocal: SmallStatements._nonlocal,
    ast.Import: SmallStatements._import,
    ast.ImportFrom: SmallStatements._import_from,
}
