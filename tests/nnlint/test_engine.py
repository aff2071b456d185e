"""Engine: one walk for all rules, fast traversal, pruning, bad-file handling."""

from __future__ import annotations

import gc
from collections import Counter
from pathlib import Path

import libcst as cst
import pytest

from nnlint import api
from nnlint.analysis.walk import SKIPPED, walk
from nnlint.api import lint_text
from nnlint.engine import pipeline
from nnlint.engine.config import LintConfig
from nnlint.engine.lint_source import check_source, lint_module
from nnlint.engine.pool import MIN_FILES_FOR_POOL
from nnlint.engine.prefilter import prune
from nnlint.engine.statement_scan import statement_starts
from nnlint.rules import Rule
from nnlint.rules.needs import Needs

SAMPLE = '''"""Doc.

class NotReal:  # column 0 inside a docstring
"""
import torch
from torch import nn


@decorator
def unrelated(a):
    return [a,
1]


class Net(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)


if x:
    pass
else:
    y = torch.softmax(z)
'''


class CallNames(Rule):
    """Test rule: reports every call whose callee resolves to ``torch.softmax``."""

    CODE = "NNL901"
    NAME = "test-call"
    MESSAGE = "softmax call"
    NEEDS = Needs(("softmax",))

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) == "torch.softmax":
            self.report(node)


class Order(Rule):
    """Test rule: records the visit/leave order of functions and classes."""

    CODE = "NNL902"
    NAME = "test-order"
    MESSAGE = "order"
    events: list[str] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.events.append(
            f"enter {node.name.value} depth={len(self.context.ancestors)}"
        )

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.events.append(f"leave {node.name.value}")

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.events.append(f"enter {node.name.value}")


def _libcst_node_types(module: cst.Module) -> Counter[str]:
    kinds: Counter[str] = Counter()

    class Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, SKIPPED):
                return False
            kinds[type(node).__name__] += 1
            return True

    module.visit(Collect())
    return kinds


def test_fast_walk_sees_the_same_nodes_as_libcst() -> None:
    module = cst.parse_module(SAMPLE)
    assert Counter(type(node).__name__ for node in walk(module)) == _libcst_node_types(
        module
    )


def test_visit_and_leave_are_paired_and_ancestors_tracked() -> None:
    Order.events = []
    lint_module(cst.parse_module(SAMPLE), "m.py", [Order])
    assert Order.events == [
        "enter unrelated depth=2",
        "leave unrelated",
        "enter Net",
        "enter forward depth=4",
        "leave forward",
    ]


def test_findings_have_one_based_positions() -> None:
    findings = lint_module(cst.parse_module(SAMPLE), "m.py", [CallNames])
    assert [(f.line, f.column, f.end_line, f.end_column) for f in findings] == [
        (17, 16, 17, 40),
        (23, 9, 23, 25),
    ]


def test_statement_starts_skip_strings_brackets_decorators_and_else() -> None:
    lines = [SAMPLE[:offset].count("\n") + 1 for offset in statement_starts(SAMPLE)]
    # 1 docstring, 5/6 imports, 9 decorated def (12 is inside brackets: a false start
    # the parser catches), 15 class, 20 if/else.
    assert lines == [1, 5, 6, 9, 12, 15, 20]


def test_prune_drops_untriggered_statements_and_maps_lines_back() -> None:
    pruned = prune(SAMPLE, ["softmax"])
    assert pruned is not None
    assert "def unrelated" not in pruned.text
    assert "import torch" in pruned.text
    assert "class Net" in pruned.text
    net = pruned.text.splitlines().index("class Net(nn.Module):") + 1
    assert SAMPLE.splitlines()[pruned.source_line(net) - 1] == "class Net(nn.Module):"
    assert prune(SAMPLE, ["no-such-trigger"]) is None


def test_pruned_and_full_parse_agree() -> None:
    full, _ = check_source(SAMPLE, "m.py", [CallNames])
    pruned, module = check_source(SAMPLE, "m.py", [CallNames], prune=True)
    assert module is None  # a partial tree is never handed out for fixes
    assert pruned == full


def test_pruning_falls_back_to_full_parse_when_the_scan_is_fooled() -> None:
    source = "import torch\nx = [\n1, torch.softmax(y)]\n"
    findings, _ = check_source(source, "m.py", [CallNames], prune=True)
    assert [(f.line, f.column) for f in findings] == [(3, 4)]


def test_file_without_triggers_is_not_parsed() -> None:
    assert check_source("def broken(:\n", "m.py", [CallNames]) == ([], None)


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        ("import torch\ny = torch.softmax(x\n", 2, 18, "'(' was never closed"),
        ("x = torch.softmax(1)\n  y = 2\n", 2, 2, "unexpected indent"),
        ("softmax = 1\nprint 'x'\n", 2, 1, "Missing parentheses"),
    ],
)
def test_syntax_error_gives_one_nnl001_with_python_position(
    source: str, line: int, column: int, message: str
) -> None:
    findings, module = check_source(source, "m.py", [CallNames])
    assert module is None
    assert [(f.code, f.line, f.column) for f in findings] == [("NNL001", line, column)]
    assert message in findings[0].message


def test_undecodable_bytes_give_nnl002() -> None:
    findings = lint_text("x = 'café'\n".encode("latin-1"), "m.py", LintConfig())
    assert [(f.code, f.line, f.column) for f in findings] == [("NNL002", 1, 9)]
    assert "byte 0xe9 is not valid utf-8" in findings[0].message


def test_coding_cookie_and_crlf_are_honoured() -> None:
    data = "# -*- coding: latin-1 -*-\r\nname = 'café'\r\n".encode("latin-1")
    assert lint_text(data, "m.py", LintConfig()) == []


def test_selecting_only_nnl001_is_a_syntax_check() -> None:
    config = LintConfig(select=("NNL001",))
    findings = lint_text(b"def f(:\n    pass\n", "m.py", config)
    assert [(f.code, f.line) for f in findings] == [("NNL001", 1)]


def test_process_pool_gives_the_same_findings_as_serial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "all_rules", lambda: (CallNames,))
    for index in range(MIN_FILES_FOR_POOL + 6):
        body = "import torch\n" + "\n" * index + "y = torch.softmax(x)\n"
        (tmp_path / f"m{index:02d}.py").write_text(body, encoding="utf-8")
    config = LintConfig()
    serial = api.lint_paths([tmp_path], config, cache=False, jobs=1)
    parallel = api.lint_paths([tmp_path], config, cache=False, jobs=2)
    assert parallel == serial
    assert [(Path(f.path).name, f.line) for f in serial[:2]] == [
        ("m00.py", 2),
        ("m01.py", 3),
    ]
    assert len(serial) == MIN_FILES_FOR_POOL + 6


class WholeFile(CallNames):
    """Test rule: like CallNames, but needs statements without its trigger too."""

    CODE = "NNL903"
    NEEDS = Needs(("softmax",), scope="file")
    seen: list[str] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.seen.append(node.name.value)


def test_whole_file_rules_switch_pruning_off() -> None:
    WholeFile.seen = []
    check_source(SAMPLE, "m.py", [WholeFile], prune=True)
    # Twice: the first pass (tree from ``ast``) reported, so the real pass ran.
    assert WholeFile.seen == ["unrelated", "forward"] * 2
    WholeFile.seen = []
    check_source(SAMPLE, "m.py", [WholeFile, CallNames], prune=True)
    assert "unrelated" in WholeFile.seen


def test_a_linted_tree_is_freed_without_the_cyclic_collector() -> None:
    # A tree is millions of objects on a real project; one left in a reference cycle
    # (here NNL202 keeps a lambda over itself) waits for the collector, which then
    # scans all of it (bench/lint_stages.py: "garbage collection").
    from nnlint.rules import all_rules
    from nnlint.rules.engine_rules import is_engine_rule

    rules = [rule for rule in all_rules() if not is_engine_rule(rule)]
    examples = [example.code for rule in rules for example in rule.INVALID]
    examples += [source for rule in rules for source in rule.VALID]
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for source in examples:
            lint_module(cst.parse_module(source), "example.py", rules)
        gc.collect()
        kept = {type(o).__name__ for o in gc.garbage if isinstance(o, cst.CSTNode)}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept == set()
