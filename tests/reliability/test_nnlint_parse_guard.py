"""Deep nesting and runaway expressions: one NNL004 finding, never a crash, a
RecursionError, a broken pool or a long stall; every other file is still linted."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nnlint_reliability_helpers import SOFTMAX, run

from nnlint import api
from nnlint.engine import parse_guard, pipeline
from nnlint.engine.config import LintConfig

HEAD = "import torch.nn.functional as F\n"


def _deep(kind: str, n: int) -> str:
    """A statement the softmax rule triggers on, ``n`` levels deep of ``kind``."""
    inner = {
        "parens": "(" * n + "x" + ")" * n,
        "brackets": "[" * n + "x" + "]" * n,
        "calls": "g(" * n + "x" + ")" * n,
        "dicts": "{1: " * n + "x" + "}" * n,
        "plus": " + ".join(["x"] * n),
        "strings": " ".join(['"a"'] * n),
        "not": "not " * n + "x",
        "and": " and ".join(["x"] * n),
        "attributes": "x" + ".a" * n,
        "subscripts": "x" + "[0]" * n,
        "unary": "-" * n + "x",
        "power": " ** ".join(["x"] * n),
        "lambdas": "lambda: " * n + "x",
        "conditionals": "x if x else " * n + "x",
    }[kind]
    return f"{HEAD}y = F.softmax({inner})\n"


KINDS = [
    "parens", "brackets", "calls", "dicts", "plus", "strings", "not", "and",
    "attributes", "subscripts", "unary", "power", "lambdas", "conditionals",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_too_deep_file_is_one_nnl004_finding(kind: str) -> None:
    # 2,000 levels: the native parser segfaults at ~1,500 brackets, Python's
    # recursion limit breaks at ~500 chained operators (parse_guard's docstring).
    findings = api.lint_text(_deep(kind, 2000), "deep.py", LintConfig())
    assert [(f.code, f.line) for f in findings] == [("NNL004", 2)]
    assert findings[0].message.startswith("not linted: ")


@pytest.mark.parametrize("kind", ["parens", "plus", "not", "strings", "attributes"])
def test_moderate_depth_is_linted_normally(kind: str) -> None:
    findings = api.lint_text(_deep(kind, 90), "ok.py", LintConfig())
    assert [f.code for f in findings] == ["NNL108"]


def _table(pieces: int) -> str:
    """A generated lookup table: one expression of ``pieces`` implicit string
    pieces, far past what libcst can walk."""
    return "TABLE = (\n" + "".join(f'    "row{i}"\n' for i in range(pieces)) + ")\n"


def test_a_deep_table_in_a_file_no_rule_reads_is_not_refused() -> None:
    # A text-processing module of a speech project: no rule's words occur in it, so
    # nothing of it would be parsed and there is nothing to refuse.
    assert api.lint_text(_table(600), "tables.py", LintConfig()) == []


def test_a_deep_table_next_to_a_model_is_linted_around() -> None:
    # The table is a statement no selected rule keeps; the softmax statement is
    # parsed and judged, and its line is the file's own.
    text = HEAD + _table(600) + "y = F.softmax(x)\n"
    findings = api.lint_text(text, "model.py", LintConfig())
    assert [(f.code, f.line) for f in findings] == [("NNL108", 604)]


def test_a_deep_expression_in_the_parsed_text_is_still_refused() -> None:
    text = HEAD + _table(600) + "y = F.softmax(TABLE + " + "x + " * 600 + "x)\n"
    findings = api.lint_text(text, "model.py", LintConfig())
    assert [(f.code, f.line) for f in findings] == [("NNL004", 604)]


def test_twenty_thousand_terms_are_refused_quickly() -> None:
    # Parsing a+a+... is super-linear in libcst (3,000 terms: 5.7 s); the guard
    # answers from the tokens alone.
    text = HEAD + "y = F.softmax(" + " + ".join(["a"] * 20_000) + ")\n"
    start = time.perf_counter()
    findings = api.lint_text(text, "big.py", LintConfig())
    assert [f.code for f in findings] == ["NNL004"]
    assert time.perf_counter() - start < 10


def test_recursion_error_anywhere_becomes_nnl004(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nnlint.engine import lint_source as engine

    def overflow(*_: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(engine, "lint_module", overflow)
    findings = api.lint_text(SOFTMAX, "m.py", LintConfig())
    assert [(f.code, f.line) for f in findings] == [("NNL004", 1)]
    assert "recursion limit" in findings[0].message


def test_fix_never_touches_a_refused_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.py"
    deep.write_text(_deep("brackets", 300))
    plain = tmp_path / "plain.py"
    plain.write_text(SOFTMAX)
    before = deep.read_bytes()
    code, out, err = run(capsys, "--fix", "--unsafe-fixes", str(tmp_path))
    assert deep.read_bytes() == before
    assert "dim=-1" in plain.read_text()
    assert (code, err) == (1, "")
    assert "NNL004" in out


def test_other_files_are_linted_next_to_a_deep_one(tmp_path: Path) -> None:
    for index in range(30):
        (tmp_path / f"m{index:02}.py").write_text(SOFTMAX)
    (tmp_path / "deep.py").write_text(_deep("parens", 5000))
    findings = api.lint_paths([tmp_path], LintConfig(), cache=False, jobs=2)
    codes = {(Path(f.path).name, f.code) for f in findings}
    assert ("deep.py", "NNL004") in codes
    assert sum(code == "NNL108" for _, code in codes) == 30


def test_a_crashed_worker_names_its_file_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers are forked: the patched function is what they run.
    original = pipeline.lint_one

    def crash_on_culprit(path: Path, *rest: object) -> object:
        if path.name == "culprit.py":
            os.kill(os.getpid(), signal.SIGKILL)  # like a segfault, quieter
        return original(path, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "lint_one", crash_on_culprit)
    for index in range(30):
        (tmp_path / f"m{index:02}.py").write_text(SOFTMAX)
    (tmp_path / "culprit.py").write_text(SOFTMAX)
    findings = api.lint_paths([tmp_path], LintConfig(), cache=False, jobs=2)
    crashed = [f for f in findings if f.code == "NNL004"]
    assert [Path(f.path).name for f in crashed] == ["culprit.py"]
    assert "crashed" in crashed[0].message
    assert sum(f.code == "NNL108" for f in findings) == 30


@settings(max_examples=40, deadline=None)
@given(
    depth=st.integers(min_value=0, max_value=400),
    opener=st.sampled_from(["(", "[", "{", "f("]),
)
def test_guard_agrees_with_its_limit(depth: int, opener: str) -> None:
    closer = {"(": ")", "[": "]", "{": "}", "f(": ")"}[opener]
    text = "y = " + opener * depth + "1" + closer * depth + "\n"
    refused = parse_guard.check(text)
    # Calls nest the callee too, so "f(" may refuse one level early, never late.
    if depth > parse_guard.MAX_DEPTH:
        assert refused is not None
    elif depth < parse_guard.MAX_DEPTH // 2:
        assert refused is None


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="()[]{}+-.x '\"\n#\\", max_size=300))
def test_guard_never_raises_on_any_text(text: str) -> None:
    result = parse_guard.check(text)
    assert result is None or result.line >= 1
