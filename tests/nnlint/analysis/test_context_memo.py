"""The per-file memo: ``context.get(analysis)`` runs each analysis once per context."""

from __future__ import annotations

import libcst as cst

from nnlint.analysis.context import AnalysisContext
from nnlint.analysis.names import ImportMap


def _context(source: str) -> AnalysisContext:
    module = cst.parse_module(source)
    return AnalysisContext("m.py", module, ImportMap.from_module(module))


def test_an_analysis_runs_once_per_context_and_every_caller_gets_its_result() -> None:
    runs: list[cst.Module] = []

    def count_classes(context: AnalysisContext) -> int:
        runs.append(context.module)
        return sum(isinstance(s, cst.ClassDef) for s in context.module.body)

    context = _context("class A: pass\nclass B: pass\n")
    assert context.get(count_classes) == 2
    assert context.get(count_classes) == 2
    assert runs == [context.module]


def test_two_analyses_have_their_own_slots_and_two_files_their_own_memos() -> None:
    def first(context: AnalysisContext) -> str:
        return "first:" + context.path

    def second(context: AnalysisContext) -> str:
        return "second:" + context.path

    one, other = _context("x = 1\n"), _context("y = 2\n")
    other.path = "n.py"
    assert (one.get(first), one.get(second)) == ("first:m.py", "second:m.py")
    assert (other.get(first), other.get(second)) == ("first:n.py", "second:n.py")


def test_resolve_reads_the_files_imports() -> None:
    context = _context("import torch.nn.functional as F\nF.softmax\n")
    statement = context.module.body[1]
    assert isinstance(statement, cst.SimpleStatementLine)
    expression = statement.body[0]
    assert isinstance(expression, cst.Expr)
    assert context.resolve(expression.value) == "torch.nn.functional.softmax"
