"""Renderers are pure functions of findings (and sources): tested at a fixed width."""

from __future__ import annotations

import json

from nnlint.findings import Finding, Fix
from nnlint.output.github import render_github
from nnlint.output.json_list import render_json
from nnlint.output.statistics import render_statistics
from nnlint.output.text import render_text

SOURCE = (
    "import torch\n\tprobs = torch.softmax(logits, dim=-1)\nloss = ce(\n    probs, y)\n"
)
FINDINGS = [
    Finding("m.py", 2, 10, 2, 38, "NNL101", "softmax-before-ce", "softmax feeds CE",
            "error", Fix("use logits", True)),
    Finding("m.py", 3, 8, 4, 13, "NNL201", "multi-line", "spans lines", "warning"),
]  # fmt: skip


def test_text_marks_the_span_under_the_source_line() -> None:
    text = render_text(FINDINGS, sources={"m.py": SOURCE}, width=100)
    assert text.splitlines() == [
        "m.py:2:10: NNL101 [*] softmax feeds CE",
        "2 |  probs = torch.softmax(logits, dim=-1)",
        "  |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^ softmax-before-ce",
        "m.py:3:8: NNL201 spans lines",
        "3 | loss = ce(",
        "  |        ^^^ multi-line",
        "Found 2 findings. 1 fixable with --fix.",
    ]


def test_text_without_sources_or_findings() -> None:
    assert render_text(FINDINGS[:1]).splitlines() == [
        "m.py:2:10: NNL101 [*] softmax feeds CE",
        "Found 1 finding. 1 fixable with --fix.",
    ]
    assert render_text([]) == "All checks passed.\n"
    assert render_text([], summary=False) == ""


def test_long_messages_are_never_cut_and_colour_only_on_request() -> None:
    long = Finding("m.py", 1, 1, 1, 2, "NNL101", "n", "x" * 200)
    lines = render_text([long], width=40, summary=False).splitlines()
    assert lines == ["m.py:1:1: NNL101 " + "x" * 200]
    assert "\x1b[" not in render_text(FINDINGS, sources={"m.py": SOURCE})
    assert "\x1b[" in render_text(FINDINGS, sources={"m.py": SOURCE}, color=True)


def test_json_is_the_list_of_finding_dicts() -> None:
    data = json.loads(render_json(FINDINGS))
    assert data == [finding.to_dict() for finding in FINDINGS]
    assert data[0]["fix"] == {"safe": True, "description": "use logits"}
    assert data[1]["fix"] is None


def test_github_annotations_escape_their_properties() -> None:
    odd = Finding("dir,x/a:b.py", 1, 2, 3, 4, "NNL101", "n", "50% of\nlines", "info")
    assert render_github([FINDINGS[0], odd]).splitlines() == [
        "::error file=m.py,line=2,col=10,endLine=2,endColumn=38,title=NNL101"
        "::softmax feeds CE",
        "::notice file=dir%2Cx/a%3Ab.py,line=1,col=2,endLine=3,endColumn=4,title=NNL101"
        "::50%25 of%0Alines",
    ]


def test_statistics_counts_codes_most_frequent_first() -> None:
    assert render_statistics([FINDINGS[1], FINDINGS[0], FINDINGS[1]]) == (
        "2\tNNL201\t    multi-line\n1\tNNL101\t[*] softmax-before-ce\n"
    )
    assert render_statistics([]) == ""
