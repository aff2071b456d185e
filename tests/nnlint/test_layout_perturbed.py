"""Every rule's VALID/INVALID examples give the same codes with their layout changed.

A rule decides on structure, never on layout (docs/architecture.md: the first pass
runs on a tree built from ``ast``, whose whitespace, comment and parenthesis fields
are all defaults). Each example is rewritten four ways that Python reads as the same
program: extra parentheses around call arguments, assigned and returned values,
operands and elements; a comment and a line break after every comma of a call; spaces
before call parentheses and around ``=``, with a trailing comma after the last
argument; a comment line before every statement. The whole pipeline (pre-filter,
screens, first pass, real pass) must then report the same number of findings of the
rule as on the example as written.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
import pytest

from nnlint.engine.lint_source import check_source
from nnlint.rules import Rule, all_rules
from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import is_engine_rule

RULES = [rule for rule in all_rules() if not is_engine_rule(rule)]


def _parenthesised(node: cst.BaseExpression) -> cst.BaseExpression:
    return node.with_changes(
        lpar=[cst.LeftParen(), *node.lpar], rpar=[*node.rpar, cst.RightParen()]
    )


class _ExtraParentheses(cst.CSTTransformer):
    """``f(x, k=y)`` -> ``f((x), k=(y))``; ``a = b`` -> ``a = (b)``; ``return
    a + b`` -> ``return ((a) + (b))``; ``[a, b]`` -> ``[(a), (b)]``."""

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(value=_parenthesised(updated.value))

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        return updated.with_changes(value=_parenthesised(updated.value))

    def leave_Return(self, original: cst.Return, updated: cst.Return) -> cst.Return:
        if updated.value is None:
            return updated
        return updated.with_changes(value=_parenthesised(updated.value))

    def leave_BinaryOperation(
        self, original: cst.BinaryOperation, updated: cst.BinaryOperation
    ) -> cst.BinaryOperation:
        return updated.with_changes(
            left=_parenthesised(updated.left), right=_parenthesised(updated.right)
        )

    def leave_Element(self, original: cst.Element, updated: cst.Element) -> cst.Element:
        return updated.with_changes(value=_parenthesised(updated.value))


class _BrokenArguments(cst.CSTTransformer):
    """A comment and a line break after every comma between call arguments."""

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if not isinstance(updated.comma, cst.Comma):
            return updated
        broken = cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(
                whitespace=cst.SimpleWhitespace("  "),
                comment=cst.Comment("# a comment between arguments"),
            ),
            indent=True,
            last_line=cst.SimpleWhitespace("        "),
        )
        return updated.with_changes(comma=cst.Comma(whitespace_after=broken))


class _Spaced(cst.CSTTransformer):
    """Spaces PEP 8 frowns on and Python accepts: ``f (x)``, ``f(k = 1)``, ``a  =  b``,
    and a trailing comma after the last argument."""

    _ONE = cst.SimpleWhitespace(" ")

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        args = list(updated.args)
        if (
            args
            and not args[-1].star
            and not isinstance(args[-1].value, cst.GeneratorExp)
        ):
            args[-1] = args[-1].with_changes(comma=cst.Comma())
        return updated.with_changes(whitespace_after_func=self._ONE, args=args)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if updated.keyword is None:
            return updated
        spaced = cst.AssignEqual(
            whitespace_before=self._ONE, whitespace_after=self._ONE
        )
        return updated.with_changes(equal=spaced)

    def leave_AssignTarget(
        self, original: cst.AssignTarget, updated: cst.AssignTarget
    ) -> cst.AssignTarget:
        two = cst.SimpleWhitespace("  ")
        return updated.with_changes(
            whitespace_before_equal=two, whitespace_after_equal=two
        )


class _CommentLines(cst.CSTTransformer):
    """A comment line before every simple and compound statement."""

    _LINE = cst.EmptyLine(comment=cst.Comment("# (a comment line)"))

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        return updated.with_changes(leading_lines=[*updated.leading_lines, self._LINE])

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        return updated.with_changes(leading_lines=[*updated.leading_lines, self._LINE])

    def leave_ClassDef(
        self, original: cst.ClassDef, updated: cst.ClassDef
    ) -> cst.ClassDef:
        return updated.with_changes(leading_lines=[*updated.leading_lines, self._LINE])


PERTURBATIONS: dict[str, Callable[[], cst.CSTTransformer]] = {
    "parentheses": _ExtraParentheses,
    "line-breaks": _BrokenArguments,
    "spaces": _Spaced,
    "comments": _CommentLines,
}


def perturbed(source: str, how: str) -> str:
    text = cst.parse_module(source).visit(PERTURBATIONS[how]()).code
    compile(text, "perturbed.py", "exec")  # still Python
    return text


def _count(rule: type[Rule], source: str) -> int:
    findings, _ = check_source(source, "example.py", RULES, prune=True)
    return sum(finding.code == rule.CODE for finding in findings)


def _examples() -> list[object]:
    return [
        pytest.param(rule, example, how, id=f"{rule.CODE}-{kind}-{index}-{how}")
        for rule in RULES
        for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID))
        for index, example in enumerate(examples)
        for how in PERTURBATIONS
    ]


@pytest.mark.parametrize(("rule", "example", "how"), _examples())
def test_layout_changes_no_code(
    rule: type[Rule], example: Invalid | str, how: str
) -> None:
    source = example.code if isinstance(example, Invalid) else example
    assert _count(rule, perturbed(source, how)) == _count(rule, source)


def test_perturbations_change_the_text() -> None:
    source = "import torch\nx = torch.cat([a, b], dim=1)\n"
    assert perturbed(source, "parentheses") == (
        "import torch\nx = (torch.cat(([(a), (b)]), dim=(1)))\n"
    )
    assert "# a comment between arguments\n" in perturbed(source, "line-breaks")
    assert perturbed(source, "comments").count("# (a comment line)\n") == 2
    assert perturbed(source, "spaces") == (
        "import torch\nx  =  torch.cat ([a, b], dim = 1,)\n"
    )
