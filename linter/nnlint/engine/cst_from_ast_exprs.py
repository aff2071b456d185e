"""Expressions of :mod:`nnlint.engine.cst_from_ast`: one ``ast`` expression node to
the libcst node the real parser builds for it, whitespace and parentheses left at
their defaults (no rule reads them on this pass, see ``docs/architecture.md``)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from nnlint.engine.cst_from_ast_strings import string_literal
from nnlint.engine.cst_from_ast_text import SourceText, Unsupported, code_part

_BINARY: dict[type, type] = {
    ast.Add: cst.Add, ast.Sub: cst.Subtract, ast.Mult: cst.Multiply,
    ast.Div: cst.Divide, ast.FloorDiv: cst.FloorDivide, ast.Mod: cst.Modulo,
    ast.Pow: cst.Power, ast.MatMult: cst.MatrixMultiply, ast.LShift: cst.LeftShift,
    ast.RShift: cst.RightShift, ast.BitAnd: cst.BitAnd, ast.BitOr: cst.BitOr,
    ast.BitXor: cst.BitXor,
}  # fmt: skip
_UNARY: dict[type, type] = {
    ast.USub: cst.Minus, ast.UAdd: cst.Plus, ast.Invert: cst.BitInvert,
    ast.Not: cst.Not,
}  # fmt: skip
_COMPARE: dict[type, type] = {
    ast.Eq: cst.Equal, ast.NotEq: cst.NotEqual, ast.Lt: cst.LessThan,
    ast.LtE: cst.LessThanEqual, ast.Gt: cst.GreaterThan, ast.GtE: cst.GreaterThanEqual,
    ast.Is: cst.Is, ast.IsNot: cst.IsNot, ast.In: cst.In, ast.NotIn: cst.NotIn,
}  # fmt: skip


class ExpressionConverter:
    """Converts ``ast`` expressions parsed from ``source``."""

    def __init__(self, source: SourceText) -> None:
        self.source = source

    def expr(self, node: ast.expr) -> Any:
        convert = _EXPRESSIONS.get(type(node))
        if convert is None:
            raise Unsupported(type(node).__name__)
        return convert(self, node)

    def optional(self, node: ast.expr | None) -> Any:
        return None if node is None else self.expr(node)

    def _name(self, node: ast.Name) -> cst.Name:
        return cst.Name(value=node.id)

    def _attribute(self, node: ast.Attribute) -> cst.Attribute:
        return cst.Attribute(
            value=self.expr(node.value), attr=cst.Name(value=node.attr)
        )

    def _call(self, node: ast.Call) -> cst.Call:
        pieces: list[ast.expr | ast.keyword] = [*node.args, *node.keywords]
        if node.args and node.keywords:
            pieces.sort(key=lambda piece: (piece.lineno, piece.col_offset))
        return cst.Call(func=self.expr(node.func), args=self.arguments(pieces))

    def arguments(self, pieces: Sequence[ast.expr | ast.keyword]) -> list[cst.Arg]:
        args = []
        for piece in pieces:
            if type(piece) is ast.keyword:
                if piece.arg is None:
                    args.append(cst.Arg(value=self.expr(piece.value), star="**"))
                else:
                    keyword = cst.Name(value=piece.arg)
                    args.append(cst.Arg(value=self.expr(piece.value), keyword=keyword))
            elif type(piece) is ast.Starred:
                args.append(cst.Arg(value=self.expr(piece.value), star="*"))
            else:
                args.append(cst.Arg(value=self.expr(piece)))  # type: ignore[arg-type]
        return args

    def _constant(self, node: ast.Constant) -> cst.BaseExpression:
        value = node.value
        kind = type(value)
        if kind is str or kind is bytes:
            return self._string(node)
        if value is None or kind is bool:
            return cst.Name(value=repr(value))
        if kind is int:
            return cst.Integer(value=self.source.segment(node))
        if kind is float:
            return cst.Float(value=self.source.segment(node))
        if kind is complex:
            return cst.Imaginary(value=self.source.segment(node))
        if value is Ellipsis:
            return cst.Ellipsis()
        raise Unsupported(f"constant {kind.__name__}")

    def _string(self, node: ast.expr) -> cst.BaseExpression:
        return string_literal(self.source.segment(node), _field_expression)

    def _binary(self, node: ast.BinOp) -> cst.BinaryOperation:
        return cst.BinaryOperation(
            left=self.expr(node.left),
            operator=_BINARY[type(node.op)](),
            right=self.expr(node.right),
        )

    def _unary(self, node: ast.UnaryOp) -> cst.UnaryOperation:
        operator = _UNARY[type(node.op)]()
        return cst.UnaryOperation(operator=operator, expression=self.expr(node.operand))

    def _boolean(self, node: ast.BoolOp) -> cst.BooleanOperation:
        operator = cst.And if type(node.op) is ast.And else cst.Or
        values = iter(node.values)
        result = self.expr(next(values))
        for value in values:
            result = cst.BooleanOperation(
                left=result, operator=operator(), right=self.expr(value)
            )
        return result

    def _compare(self, node: ast.Compare) -> cst.Comparison:
        targets = [
            cst.ComparisonTarget(
                operator=_COMPARE[type(operator)](), comparator=self.expr(comparator)
            )
            for operator, comparator in zip(node.ops, node.comparators, strict=True)
        ]
        return cst.Comparison(left=self.expr(node.left), comparisons=targets)

    def _subscript(self, node: ast.Subscript) -> cst.Subscript:
        index = node.slice
        if type(index) is ast.Tuple and index.elts and not self.parenthesised(index):
            elements = [self._element_slice(item) for item in index.elts]
        else:
            elements = [self._element_slice(index)]
        return cst.Subscript(value=self.expr(node.value), slice=elements)

    def _element_slice(self, node: ast.expr) -> cst.SubscriptElement:
        if type(node) is ast.Slice:
            inner: cst.BaseSlice = cst.Slice(
                lower=self.optional(node.lower),
                upper=self.optional(node.upper),
                step=self.optional(node.step),
            )
        elif type(node) is ast.Starred:
            raise Unsupported("starred subscript")
        else:
            inner = cst.Index(value=self.expr(node))
        return cst.SubscriptElement(slice=inner)

    def parenthesised(self, node: ast.Tuple) -> bool:
        """Whether a tuple is written in its own parentheses: more ``(`` before its
        first element than that element closes before the comma after it."""
        first = node.elts[0]
        if first.lineno != node.lineno:
            raise Unsupported("tuple parentheses across lines")
        before = self.source.span(
            node.lineno, node.col_offset, first.lineno, first.col_offset
        )
        if "#" in before:
            raise Unsupported("tuple parentheses across lines")
        after = self.source.between(first, node.elts[1] if node.elts[1:] else node)
        closing = code_part(after.split(",", 1)[0])
        return before.count("(") > closing.count(")")

    def elements(self, nodes: list[ast.expr]) -> list[cst.BaseElement]:
        return [
            cst.StarredElement(value=self.expr(item.value))
            if type(item) is ast.Starred
            else cst.Element(value=self.expr(item))
            for item in nodes
        ]

    def _tuple(self, node: ast.Tuple) -> cst.Tuple:
        return cst.Tuple(elements=self.elements(node.elts))

    def _list(self, node: ast.List) -> cst.List:
        return cst.List(elements=self.elements(node.elts))

    def _set(self, node: ast.Set) -> cst.Set:
        return cst.Set(elements=self.elements(node.elts))

    def _dict(self, node: ast.Dict) -> cst.Dict:
        elements: list[cst.BaseDictElement] = [
            cst.StarredDictElement(value=self.expr(value))
            if key is None
            else cst.DictElement(key=self.expr(key), value=self.expr(value))
            for key, value in zip(node.keys, node.values, strict=True)
        ]
        return cst.Dict(elements=elements)

    def _if_expression(self, node: ast.IfExp) -> cst.IfExp:
        return cst.IfExp(
            test=self.expr(node.test),
            body=self.expr(node.body),
            orelse=self.expr(node.orelse),
        )

    def _lambda(self, node: ast.Lambda) -> cst.Lambda:
        return cst.Lambda(params=self.parameters(node.args), body=self.expr(node.body))

    def _comp_for(self, generators: list[ast.comprehension]) -> cst.CompFor:
        inner = None
        for generator in reversed(generators):
            inner = cst.CompFor(
                target=self.expr(generator.target),
                iter=self.expr(generator.iter),
                ifs=[cst.CompIf(test=self.expr(test)) for test in generator.ifs],
                inner_for_in=inner,
                asynchronous=cst.Asynchronous() if generator.is_async else None,
            )
        assert inner is not None  # noqa: S101 - ``ast`` has one generator at least
        return inner

    def _list_comp(self, node: ast.ListComp) -> cst.ListComp:
        return cst.ListComp(
            elt=self.expr(node.elt), for_in=self._comp_for(node.generators)
        )

    def _set_comp(self, node: ast.SetComp) -> cst.SetComp:
        return cst.SetComp(
            elt=self.expr(node.elt), for_in=self._comp_for(node.generators)
        )

    def _generator(self, node: ast.GeneratorExp) -> cst.GeneratorExp:
        for_in = self._comp_for(node.generators)
        return cst.GeneratorExp(elt=self.expr(node.elt), for_in=for_in)

    def _dict_comp(self, node: ast.DictComp) -> cst.DictComp:
        return cst.DictComp(
            key=self.expr(node.key),
            value=self.expr(node.value),
            for_in=self._comp_for(node.generators),
        )

    def _named(self, node: ast.NamedExpr) -> cst.NamedExpr:
        return cst.NamedExpr(target=self.expr(node.target), value=self.expr(node.value))

    def _await(self, node: ast.Await) -> cst.Await:
        return cst.Await(expression=self.expr(node.value))

    def _yield(self, node: ast.Yield) -> cst.Yield:
        return cst.Yield(value=self.optional(node.value))

    def _yield_from(self, node: ast.YieldFrom) -> cst.Yield:
        return cst.Yield(value=cst.From(item=self.expr(node.value)))

    def _starred_alone(self, node: ast.Starred) -> cst.CSTNode:
        raise Unsupported("starred expression outside a display")

    def parameters(self, arguments: ast.arguments) -> cst.Parameters:
        positional = [*arguments.posonlyargs, *arguments.args]
        defaults = [None] * (len(positional) - len(arguments.defaults))
        converted = [
            self._param(argument, default)
            for argument, default in zip(
                positional, [*defaults, *arguments.defaults], strict=True
            )
        ]
        split = len(arguments.posonlyargs)
        star_arg: Any = cst.MaybeSentinel.DEFAULT
        if arguments.vararg is not None:
            star_arg = self._param(arguments.vararg, None, "*")
        elif arguments.kwonlyargs:
            star_arg = cst.ParamStar()
        return cst.Parameters(
            params=converted[split:],
            star_arg=star_arg,
            kwonly_params=[
                self._param(argument, default)
                for argument, default in zip(
                    arguments.kwonlyargs, arguments.kw_defaults, strict=True
                )
            ],
            star_kwarg=None
            if arguments.kwarg is None
            else self._param(arguments.kwarg, None, "**"),
            posonly_params=converted[:split],
            posonly_ind=cst.ParamSlash() if split else cst.MaybeSentinel.DEFAULT,
        )

    def _param(
        self, argument: ast.arg, default: ast.expr | None, star: str = ""
    ) -> Any:
        annotation = argument.annotation
        return cst.Param(
            name=cst.Name(value=argument.arg),
            annotation=None
            if annotation is None
            else cst.Annotation(annotation=self.expr(annotation)),
            default=self.optional(default),
            star=star,
        )


_EXPRESSIONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Name: ExpressionConverter._name,
    ast.Attribute: ExpressionConverter._attribute,
    ast.Call: ExpressionConverter._call,
    ast.Constant: ExpressionConverter._constant,
    ast.BinOp: ExpressionConverter._binary,
    ast.UnaryOp: ExpressionConverter._unary,
    ast.BoolOp: ExpressionConverter._boolean,
    ast.Compare: ExpressionConverter._compare,
    ast.Subscript: ExpressionConverter._subscript,
    ast.Tuple: ExpressionConverter._tuple,
    ast.List: ExpressionConverter._list,
    ast.Set: ExpressionConverter._set,
    ast.Dict: ExpressionConverter._dict,
    ast.IfExp: ExpressionConverter._if_expression,
    ast.Lambda: ExpressionConverter._lambda,
    ast.JoinedStr: ExpressionConverter._string,
    ast.ListComp: ExpressionConverter._list_comp,
    ast.SetComp: ExpressionConverter._set_comp,
    ast.GeneratorExp: ExpressionConverter._generator,
    ast.DictComp: ExpressionConverter._dict_comp,
    ast.NamedExpr: ExpressionConverter._named,
    ast.Await: ExpressionConverter._await,
    ast.Yield: ExpressionConverter._yield,
    ast.YieldFrom: ExpressionConverter._yield_from,
    ast.Starred: ExpressionConverter._starred_alone,
}


def _field_expression(text: str) -> cst.BaseExpression:
    """An f-string field's expression, parsed on its own (in parentheses, as Python
    reads it)."""
    wrapped = "(" + text + ")"
    try:
        tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as error:
        raise Unsupported("f-string field") from error
    return ExpressionConverter(SourceText(wrapped)).expr(tree.body)
