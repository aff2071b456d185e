"""The linter never crashes on valid Python (hypothesmith programs, all rules on).

The long run (>= 2,000 programs) is ``bench/fuzz_lint.py``; this is the quick one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.api import lint_text
from nnlint.engine.config import LintConfig
from nnlint.engine.fixer import fix_text
from nnlint.engine.lint_source import compile_quietly
from nnlint.engine.prefilter import prune

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a folder of the repository, not a package
    sys.path.insert(0, str(ROOT))

from bench import fuzz_lint  # noqa: E402

ALL = LintConfig(select=("ALL",))
# Code that mentions torch so that rules' triggers fire on generated programs too.
PRELUDE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(source=hypothesmith.from_grammar())
def test_lint_never_crashes_on_generated_programs(source: str) -> None:
    for text in (source, PRELUDE + source):
        for finding in lint_text(text.encode("utf-8", "surrogatepass"), "f.py", ALL):
            assert finding.line >= 1
            assert finding.column >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=hypothesmith.from_grammar(),
    triggers=st.lists(st.text(min_size=1), max_size=3),
)
def test_pruned_lines_map_back_to_the_same_text(
    source: str, triggers: list[str]
) -> None:
    pruned = prune(source, triggers)
    if pruned is not None:
        source_lines = source.split("\n")
        for number, line in enumerate(pruned.text.split("\n")[:-1], start=1):
            assert source_lines[pruned.source_line(number) - 1] == line


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=hypothesmith.from_grammar())
def test_fix_never_produces_invalid_code(source: str) -> None:
    outcome = fix_text(PRELUDE + source, "f.py", ALL, unsafe=True)
    if outcome.changed:
        compile_quietly(outcome.fixed, "f.py")


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    findings = lint_text(b"import torch\nsoftmax = 1\n" + data, "f.py", ALL)
    assert all(finding.code.startswith("NNL") for finding in findings)


@pytest.mark.parametrize("shape", fuzz_lint.SHAPES)
def test_fix_through_the_cli_keeps_each_file_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """The quick form of ``bench/fuzz_lint.py --files``: exit 0/1, no internal error,
    BOM, encoding and newline style kept; an undecodable file is never rewritten and
    a file libcst cannot reproduce byte for byte (a form feed opening a line) or
    that does not parse as a whole (a NUL byte) is left alone, and stderr says why."""
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(tmp_path / "cache"))
    outcome = fuzz_lint.check_file(tmp_path, "def f(x):\n    return x\n", shape)
    expected = {"undecodable": "unchanged", "formfeed": "skipped", "nul": "skipped"}
    assert outcome == expected.get(shape, "fixed")
