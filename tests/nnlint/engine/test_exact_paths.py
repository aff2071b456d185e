"""Fast paths that must answer exactly what the slower code they replaced answered:
type-set lookups for ``isinstance`` against libcst's classes, and the pre-filter's
word-set and substring tests for its per-name and per-line regexes."""

from __future__ import annotations

import re
from inspect import isabstract

import libcst as cst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlint.analysis.cst_syntax import enclosing
from nnlint.analysis.walk import child_expressions, subtypes, walk
from nnlint.engine.prefilter import _IMPORT, _imports, _referenced_classes
from nnlint.engine.statement_scan import statement_starts


def _libcst_classes() -> list[type]:
    found: list[type] = []
    pending: list[type] = [cst.CSTNode]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


@pytest.mark.parametrize(
    "base",
    [
        cst.BaseExpression,
        cst.BaseSuite,
        cst.BaseStatement,
        cst.BaseSmallStatement,
        cst.FunctionDef,
        cst.ClassDef,
        cst.Name,
    ],
)
def test_subtypes_answer_as_isinstance_for_every_libcst_class(base: type) -> None:
    kinds = subtypes(base)
    for kind in _libcst_classes():
        assert (kind in kinds) == issubclass(kind, base), kind


def test_no_concrete_libcst_node_class_has_subclasses() -> None:
    # ``type(node) is cst.Call`` in the analyses equals ``isinstance`` only while
    # this holds; a libcst release breaking it must fail here, not lose findings.
    public = [getattr(cst, name) for name in dir(cst)]
    concrete = [
        k
        for k in public
        if isinstance(k, type) and issubclass(k, cst.CSTNode) and not isabstract(k)
    ]
    assert cst.Call in concrete
    assert cst.BaseExpression not in concrete
    assert [k.__name__ for k in concrete if k.__subclasses__()] == []


_CODE = (
    "class Net(nn.Module):\n"
    "    def forward(self, x):\n"
    "        def inner(y):\n"
    "            return (y + 1, [z for z in y], lambda: y)\n"
    "        if x:\n"
    "            pass\n"
    "        return inner(x)[0]\n"
)


def test_enclosing_and_child_expressions_match_isinstance() -> None:
    module = cst.parse_module(_CODE)
    ancestors: list[cst.CSTNode] = []

    def reference(kind: type[cst.CSTNode]) -> cst.CSTNode | None:
        return next((n for n in reversed(ancestors[:-1]) if isinstance(n, kind)), None)

    def visit(node: cst.CSTNode) -> int:
        ancestors.append(node)
        for kind in (cst.FunctionDef, cst.ClassDef, cst.BaseCompoundStatement):
            assert enclosing(ancestors, kind) is reference(kind)
        inside = sum(visit(child) for child in node.children)
        ancestors.pop()
        return inside + (enclosing([node, node], cst.FunctionDef) is not None)

    assert visit(module) == 2  # the two functions
    for node in walk(module):
        assert list(child_expressions(node)) == _child_expressions_reference(node)
    lambdas = [n for n in walk(module) if list(child_expressions(n))]
    assert lambdas


def _child_expressions_reference(node: cst.CSTNode) -> list[cst.CSTNode]:
    from nnlint.analysis.walk import iter_children

    found: list[cst.CSTNode] = []
    for child in iter_children(node):
        if isinstance(child, cst.BaseExpression):
            found.append(child)
        elif not isinstance(child, cst.BaseSuite):
            found.extend(_child_expressions_reference(child))
    return found


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ("import torch\n", True),
        ("from torch import nn\n", True),
        ("try:\n    import apex\nexcept ImportError:\n    apex = None\n", True),
        ("if TYPE_CHECKING:\n\tfrom x import y\n", True),
        ("def f():\n    import torch\n", False),  # a definition is no import
        ("x = 1  # imported from elsewhere\n", False),
        ("frommer = 2\n", False),
        ("", False),
    ],
)
def test_imports(chunk: str, expected: bool) -> None:
    assert _imports(chunk) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="imporfrt \t\n#x=:", max_size=40))
def test_imports_substring_test_never_settles_what_the_regex_would_keep(
    chunk: str,
) -> None:
    if _IMPORT.search(chunk):
        assert "import" in chunk or "from" in chunk


def _referenced_reference(source: str, seeds: set[int]) -> set[int]:
    """The per-name regex version the word set replaced."""
    starts = statement_starts(source)
    ends = [*starts[1:], len(source)]
    classes = {
        i: m.group(1)
        for i, s in enumerate(starts)
        if (m := re.compile(r"(?:@[^\n]*\n)*class[ \t]+(\w+)").match(source, s))
        and i not in seeds
    }
    found: set[int] = set()
    frontier = seeds
    while frontier and classes:
        text = "\n".join(source[starts[i] : ends[i]] for i in frontier)
        frontier = {
            i for i, name in classes.items() if re.search(rf"(?<!\w){name}(?!\w)", text)
        }
        for i in frontier:
            del classes[i]
        found |= frontier
    return found


_NAMES = st.sampled_from(["Block", "Blocks", "Stem", "Net", "Mlp", "Mlp2", "é"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            _NAMES, st.lists(_NAMES, max_size=3), st.sampled_from(["", "_", "."])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_referenced_classes_as_the_per_name_regexes(
    classes: list[tuple[str, list[str], str]],
) -> None:
    source = "".join(
        f"class {name}:\n    x = [{', '.join(glue + used for used in uses)}]\n"
        for name, uses, glue in classes
    )
    starts = statement_starts(source)
    ends = [*starts[1:], len(source)]
    for seed in range(len(starts)):
        assert _referenced_classes(
            source, starts, ends, {seed}
        ) == _referenced_reference(source, {seed})
