"""Graph mode says what it checked, and reports a defect seen by a source rule and
its graph twin once (issue 11: graph mode honesty)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nnlint.api import graph_twins, merge_graph_findings
from nnlint.findings import Finding
from nnlint.fx.run_summary import GraphRun

# Softmax in forward (line 14) and a cross-entropy criterion in the same file: NNL101
# reads it from the source, NNL610 from the traced graph with the configured loss.
TWINS = """\
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    example_input_array = torch.zeros(2, 8)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1){noqa}


criterion = nn.CrossEntropyLoss()


def train_step(x, y):
    return criterion(Net()(x), y)
"""


def _finding(code: str, line: int, path: str = "net.py") -> Finding:
    return Finding(path, line, 1, line, 2, code, code.lower(), code, "error")


def test_a_graph_twin_on_the_same_line_is_dropped() -> None:
    source = [_finding("NNL101", 14), _finding("NNL102", 20)]
    graph = [
        _finding("NNL610", 14),  # twin of NNL101, same line: dropped
        _finding("NNL610", 20),  # NNL102 is not a twin: kept
        _finding("NNL610", 30),  # no source finding there: kept
        _finding("NNL611", 14),  # not a twin of NNL101: kept
        _finding("NNL610", 14, path="other.py"),  # another file: kept
    ]
    merged = merge_graph_findings(source, graph)
    assert [(f.path, f.line, f.code) for f in merged] == [
        ("net.py", 14, "NNL101"),
        ("net.py", 14, "NNL611"),
        ("net.py", 20, "NNL102"),
        ("net.py", 20, "NNL610"),
        ("net.py", 30, "NNL610"),
        ("other.py", 14, "NNL610"),
    ]


def test_twins_are_declared_by_graph_rules_on_source_codes() -> None:
    from nnlint.engine.pipeline import all_rules

    source_codes = {rule.CODE for rule in all_rules()}
    assert set(graph_twins("NNL610")) == {"NNL101", "NNL103", "NNL105"}
    assert graph_twins("NNL101") == ()
    from nnlint.fx.rules import all_graph_rules

    for rule in all_graph_rules():
        assert set(rule.DUPLICATES) <= source_codes, rule.CODE


def test_summary_counts_what_was_analysed() -> None:
    run = GraphRun(files=3, files_imported=2, configured=1, analysed=4)
    assert run.summary() == (
        "nnlint --fx: 4 models analysed (2 files imported, 1 configured model)"
    )
    one = GraphRun(files=1, files_imported=1, analysed=1)
    assert one.summary() == (
        "nnlint --fx: 1 model analysed (1 file imported, 0 configured models)"
    )


def test_summary_says_when_nothing_was_checked() -> None:
    lines = GraphRun(files=1, scripts=2).summary().splitlines()
    assert lines[0] == (
        "nnlint --fx: no model was built and analysed (0 files imported, "
        "0 configured models); the graph rules checked nothing."
    )
    assert lines[1].startswith("  hint: 2 files not imported because code runs")
    assert "see the NNL60x findings" in lines[2]
    assert "example_input_array" in lines[3]


def _nnlint(directory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nnlint", "--no-cache", *arguments]
    command += ["--output-format", "json", "net.py"]
    return subprocess.run(
        command, cwd=directory, capture_output=True, text=True, timeout=300
    )


def test_cli_reports_one_defect_once(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnlint.fx]\nloss = "torch.nn.CrossEntropyLoss"\n', encoding="utf-8"
    )
    net = tmp_path / "net.py"
    net.write_text(TWINS.format(noqa=""), encoding="utf-8")
    both = _nnlint(tmp_path, "--fx")
    assert both.returncode == 1, both.stderr
    assert [(f["line"], f["code"]) for f in json.loads(both.stdout)] == [(14, "NNL101")]
    assert both.stderr == (
        "nnlint --fx: 1 model analysed (1 file imported, 0 configured models)\n"
    )
    graph_only = _nnlint(tmp_path, "--fx", "--select", "NNL6")
    assert [(f["line"], f["code"]) for f in json.loads(graph_only.stdout)] == [
        (14, "NNL610")
    ]
    # Allowing the source code allows the defect: its graph twin is silent too.
    net.write_text(TWINS.format(noqa="  # noqa: NNL101"), encoding="utf-8")
    allowed = _nnlint(tmp_path, "--fx")
    assert (allowed.returncode, json.loads(allowed.stdout)) == (0, [])


def test_cli_says_when_graph_mode_built_nothing(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "net.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n\n\nmodel = Net()\n",
        encoding="utf-8",
    )
    done = _nnlint(tmp_path, "--fx")
    assert (done.returncode, json.loads(done.stdout)) == (0, [])
    assert done.stderr.splitlines()[:2] == [
        "nnlint --fx: no model was built and analysed (0 files imported, "
        "0 configured models); the graph rules checked nothing.",
        "  hint: 1 file not imported because code runs at import (scripts); "
        "name their models in [tool.nnlint.fx] models",
    ]


def _at(
    code: str,
    line: int,
    end_line: int = 0,
    about: tuple[tuple[str, int, int], ...] = (),
) -> Finding:
    return replace(_finding(code, line), end_line=end_line or line, about=about)


def test_a_graph_twin_about_the_same_module_is_dropped() -> None:
    # NNL101 points at ``nn.Softmax(dim=1)`` in ``__init__`` (line 12); NNL610 at
    # ``self.head(x)`` in ``forward`` (line 16), built at line 12.
    source = [_at("NNL101", 12)]
    graph = [
        _at("NNL610", 16, about=(("net.py", 12, 12),)),  # same module: dropped
        _at("NNL610", 17, about=(("net.py", 11, 11),)),  # another module: kept
        _at("NNL610", 18, about=(("other.py", 12, 12),)),  # another file: kept
        _at("NNL614", 19, about=(("net.py", 12, 12),)),  # not a twin: kept
    ]
    merged = merge_graph_findings(source, graph)
    assert [(f.line, f.code) for f in merged] == [
        (12, "NNL101"),
        (17, "NNL610"),
        (18, "NNL610"),
        (19, "NNL614"),
    ]


def test_a_graph_twin_inside_the_source_findings_call_is_dropped() -> None:
    # A call spread over lines 20-22: the graph node's line is inside its span.
    source = [_at("NNL101", 20, end_line=22)]
    graph = [_at("NNL610", 21), _at("NNL610", 23)]
    merged = merge_graph_findings(source, graph)
    assert [(f.line, f.code) for f in merged] == [(20, "NNL101"), (23, "NNL610")]


BUILT = """\
import torch
from torch import nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3)


class Net(Base):
    def __init__(self, layers):
        super().__init__()
        self.head = nn.Sequential(
            nn.Linear(8, 3),
            nn.Softmax(dim=1),
        )
        self.blocks = nn.ModuleList([nn.ReLU(), nn.GELU()])
        self.unpacked = nn.Sequential(*layers)
        self.made = helper(nn.Tanh(), nn.Sigmoid())
        self.add_module("extra", nn.Identity())


def helper(*parts):
    return nn.Sequential(*parts)


model = Net([nn.ReLU(), nn.ReLU()])
"""


def test_construction_sites_of_submodules(example: Any) -> None:
    pytest.importorskip("torch")
    from nnlint.fx.construction import construction_spans

    model = example(BUILT).model
    here = "example.py"
    assert construction_spans(model, "stem") == ((here, 8, 8),)  # in a base class
    assert construction_spans(model, "head") == ((here, 14, 17),)
    assert construction_spans(model, "head.1") == ((here, 16, 16),)
    assert construction_spans(model, "blocks.1") == ((here, 18, 18),)
    assert construction_spans(model, "extra") == ((here, 21, 21),)
    # Not provable from the statement: no site, so nothing is merged on a guess.
    assert construction_spans(model, "unpacked.0") == ()
    assert construction_spans(model, "made.1") == ()  # a helper, not nn.Sequential
    assert construction_spans(model, "missing") == ()


SPREAD = """\
import torch
from torch import nn


class Net(nn.Module):
    example_input_array = torch.zeros(2, 8)

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(
            nn.Linear(8, 3),
            nn.Softmax(dim=1),{softmax_noqa}
        )

    def forward(self, x):
        return self.head(x)


class Conv(nn.Module):
    example_input_array = torch.zeros(2, 3, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3){conv_noqa}
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y)


criterion = nn.CrossEntropyLoss()


def train_step(x, y):
    return criterion(Net()(x), y)
"""


def test_cli_reports_a_module_built_in_init_and_applied_in_forward_once(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnlint.fx]\nloss = "torch.nn.CrossEntropyLoss"\n', encoding="utf-8"
    )
    net = tmp_path / "net.py"
    net.write_text(SPREAD.format(softmax_noqa="", conv_noqa=""), encoding="utf-8")
    graph_only = _nnlint(tmp_path, "--fx", "--select", "NNL6")
    assert [(f["line"], f["code"]) for f in json.loads(graph_only.stdout)] == [
        (16, "NNL610"),
        (28, "NNL614"),
    ]
    both = _nnlint(tmp_path, "--fx")
    assert [(f["line"], f["code"]) for f in json.loads(both.stdout)] == [
        (12, "NNL101"),
        (24, "NNL403"),
    ]
    # Allowing the defect where the module is built silences the graph twin too.
    allowed = SPREAD.format(
        softmax_noqa="  # noqa: NNL101", conv_noqa="  # noqa: NNL403"
    )
    net.write_text(allowed, encoding="utf-8")
    for arguments in (("--fx",), ("--fx", "--select", "NNL6")):
        done = _nnlint(tmp_path, *arguments)
        assert (done.returncode, json.loads(done.stdout)) == (0, []), arguments
