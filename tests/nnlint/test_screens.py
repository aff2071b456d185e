"""Structural screens (``Needs.screen``) are necessary conditions of their rules.

Every finding a screened rule makes on the whole file (no pre-filter at all) must lie
in a top-level statement its screen passes, on every rule's VALID and INVALID
examples and every file of ``tests/realbugs`` (the corpora: ``bench/screen_share.py
--check``). Then each screen is shown to drop what it is there to drop.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

import pytest

from nnlint.engine.lint_source import lint_module
from nnlint.engine.parsing import parse_module
from nnlint.findings import Finding
from nnlint.rules import Rule

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the bench package lives at the repository root
    sys.path.insert(0, str(ROOT))

from bench.prefilter_equivalence import source_rules  # noqa: E402
from bench.screen_share import (  # noqa: E402
    alone_differences,
    screen_of,
    statement_passes,
)

RULES = source_rules()
SCREENED = {rule.CODE: rule for rule in RULES if screen_of(rule) is not None}
SOURCES = [
    *(source for rule in RULES for source in rule.VALID),
    *(example.code for rule in RULES for example in rule.INVALID),
    *(p.read_text() for p in sorted((ROOT / "tests" / "realbugs").glob("*/*.py"))),
]


def _findings(source: str) -> list[Finding]:
    return lint_module(parse_module(source), "t.py", RULES)


@pytest.fixture(scope="module")
def screened_findings() -> list[tuple[str, Finding]]:
    return [
        (source, finding)
        for source in SOURCES
        for finding in _findings(source)
        if finding.code in SCREENED
    ]


@pytest.mark.parametrize("code", sorted(SCREENED))
def test_every_finding_lies_in_a_statement_the_screen_passes(
    code: str, screened_findings: list[tuple[str, Finding]]
) -> None:
    screen = screen_of(SCREENED[code])
    mine = [(s, f) for s, f in screened_findings if f.code == code]
    assert mine, f"no example or real bug exercises {code}'s screen"
    rejected = [
        f"{f.line}: {s.splitlines()[f.line - 1].strip()}"
        for s, f in mine
        if not statement_passes(s, f.line, screen)
    ]
    assert rejected == []


def test_each_screened_rule_alone_finds_the_same_pruned_and_whole() -> None:
    # Alone: statements that other rules keep must not hide evidence a screen
    # dropped (tests/nnlint/test_needs.py compares with every rule at once).
    differences = [
        difference
        for index, source in enumerate(SOURCES)
        for difference in alone_differences(source, f"s{index}.py", _findings(source))
    ]
    assert differences == []


def test_the_screened_rules_are_the_ones_this_work_covers() -> None:
    mine = {"NNL108", "NNL201", "NNL401", "NNL402", "NNL403", "NNL404", "NNL502"}
    mine |= {"NNL701", "NNL702", "NNL703", "NNL704"}
    assert mine <= set(SCREENED)


def _passes(rule: type[Rule], source: str) -> list[bool]:
    screen = screen_of(rule)
    assert screen is not None
    return [screen(statement) for statement in ast.parse(source).body]


NNL201_CASES = """\
class A(nn.Module):
    def __init__(s):
        s.register_buffer("b", torch.zeros(3))
    def init(s, m):
        nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
class B(nn.Module):
    def __init__(s):
        nn.init.zeros_(s.fc.weight)
class C(nn.Module):
    def init(s, m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.data.fill_(0)
class D(nn.Module):
    def __init__(s):
        s.w = nn.Parameter(torch.zeros(3, 3))
class E(nn.Module):
    def __init__(s):
        s.apply(_init)
class F(nn.Module):
    def forward(s, x):
        s.h = torch.zeros(3)
"""


@pytest.mark.parametrize(
    ("code", "source", "expected"),
    [
        # dim given (positionally or by keyword) / left out / None.
        ("NNL108", "p = F.softmax(x, -1)\nq = x.softmax(dim=1)\n", [False, False]),
        ("NNL108", "p = F.softmax(x)\nm = nn.LogSoftmax(None)\n", [True, True]),
        (
            "NNL108",
            "p = F.softmax(*args)\nq = scores.log_softmax(dim=None)\n",
            [False, True],
        ),
        # Constant inits of a bias, of a LayerNorm under its guard, and a zero
        # buffer are not findings; self's weights, a guarded Linear's, a zero
        # Parameter and a plain function handed to apply may be.
        (
            "NNL201",
            NNL201_CASES,
            [False, True, True, True, True, False],
        ),
        # .data in forward only; init code may use it.
        (
            "NNL502",
            "class A(nn.Module):\n    def __init__(s):\n        s.w.data.fill_(1)\n"
            "class B(nn.Module):\n    def forward(s, x):\n        return x.data\n",
            [False, True],
        ),
        # Top-k and a softmax in one function; a top-k gather on biased scores;
        # a literal k of 1.
        (
            "NNL701",
            "def f(p):\n    return p.topk(2)\ndef g(x):\n    return x.softmax(-1)\n"
            "def h(p):\n    return torch.softmax(p.topk(2).values, -1)\n",
            [False, False, True],
        ),
        (
            "NNL702",
            "def f(s, x):\n    return (x + s.w).topk(2)\n"
            "def g(s, x):\n    return (x + s.expert_bias).topk(2)\n",
            [False, True],
        ),
        (
            "NNL704",
            "a = x.topk(2, dim=-1)\nb = torch.topk(x, k=1)\nc = x.topk(True)\n",
            [False, True, False],
        ),
        # A post-LN block needs a norm and an addition in one class; torch's stack
        # is reported at a call spelled ``Transformer...``.
        (
            "NNL401",
            "class Pre(nn.Module):\n    def __init__(s):\n"
            "        s.n = nn.LayerNorm(8)\n"
            "    def forward(s, x):\n        return s.f(s.n(x))\n"
            "class Post(nn.Module):\n    def __init__(s):\n"
            "        s.n = nn.LayerNorm(8)\n"
            "    def forward(s, x):\n        return s.n(x + s.f(x))\n"
            "net = nn.ModuleList([Post() for _ in range(12)])\n"
            "enc = nn.TransformerEncoder(layer, 12)\n",
            [False, True, False, True],
        ),
        # A LayerNorm class with no conv, embedding or RNN built in it.
        (
            "NNL402",
            "class A(nn.Module):\n    def __init__(s):\n        s.n = nn.LayerNorm(8)\n"
            "class B(nn.Module):\n    def __init__(s):\n"
            "        s.c = nn.Conv2d(3, 8, 1)\n"
            "def f():\n    return nn.Sequential(nn.Embedding(9, 8), nn.LayerNorm(8))\n",
            [False, True, True],
        ),
        # Only a layer that keeps its bias can be reported.
        (
            "NNL403",
            "a = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))\n"
            "b = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8))\n"
            "def init(m):\n    if isinstance(m, nn.BatchNorm2d):\n"
            "        m.weight.data.fill_(1)\n",
            [False, True, False],
        ),
        (
            "NNL404",
            "a = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8))\n"
            "b = nn.Sequential(nn.Dropout(0.1), nn.BatchNorm1d(8))\n"
            "c = F.dropout2d(x, 0.3)\n",
            [False, True, True],
        ),
        (
            "NNL703",
            "def head(x):\n    return F.softmax(x, dim=-1)\n"
            "def attn(q, k):\n    return (q @ k).softmax(-1)\n"
            "class M(nn.Module):\n    def __init__(s):\n        s.sm = nn.Softmax(-1)\n"
            "w = torch.einsum('ij,jk->ik', a, b)\n",
            [False, True, True, True],
        ),
    ],
)
def test_each_screen_drops_what_it_cannot_report_in(
    code: str, source: str, expected: list[bool]
) -> None:
    assert _passes(SCREENED[code], source) == expected


def test_the_corpus_check_counts_findings_per_rule() -> None:
    # The examples exercise every screened rule at least once (above); the counts
    # here make a silently emptied example list visible.
    counts = Counter(
        finding.code
        for source in SOURCES
        for finding in _findings(source)
        if finding.code in SCREENED
    )
    assert all(counts[code] >= 2 for code in SCREENED)


CHAIN = """\
from torch import nn

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Linear(d, d)

    def forward(self, x):
        return self.norm(x + self.ff(x))

class Inner(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.block = Block(d)
        self.proj = nn.Sequential(nn.Linear(d, d))

class Outer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.inner = Inner(d)
        self.extra = nn.ModuleList()

class Net(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.layers = nn.ModuleList([Outer(d) for _ in range(12)])
"""


def test_a_stack_through_screened_out_classes_still_counts_its_depth() -> None:
    # Inner, Outer and Net cannot hold a post-LN block (no norm next to an
    # addition), so NNL401's screen drops them; the evidence follows the chain of
    # constructions back up to Net's 12-deep loop. (Alone: with every rule, other
    # rules keep those classes anyway. One hop of evidence found nothing here.)
    from bench.prefilter_equivalence import pruned_findings, whole_findings

    rule = SCREENED["NNL401"]
    assert _passes(rule, CHAIN)[1:] == [True, False, False, False]
    whole = whole_findings(CHAIN, "t.py", [rule])
    assert [(dict(k)["code"], dict(k)["line"]) for k in whole] == [("NNL401", 10)]
    assert pruned_findings(CHAIN, "t.py", [rule]) == whole
