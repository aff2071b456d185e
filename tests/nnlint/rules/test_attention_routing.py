"""Attention and routing rules (NNL7xx) beyond their own examples: branches, loops,
helpers across statements, suppression and the output fields."""

from __future__ import annotations

import json
import textwrap

from nnlint.api import lint_text
from nnlint.engine.config import LintConfig
from nnlint.engine.lint_source import check_source
from nnlint.rules import rule_by_code
from nnlint.rules.base import Rule


def _rule(code: str) -> type[Rule]:
    rule = rule_by_code(code)
    assert rule is not None, code
    return rule


def positions(code: str, source: str, *, prune: bool = True) -> list[tuple[int, int]]:
    findings, _ = check_source(
        textwrap.dedent(source), "model.py", [_rule(code)], prune=prune
    )
    return [(f.line, f.column) for f in findings if f.code == code]


def test_scale_on_one_branch_only_is_not_reported() -> None:
    # A fact survives an ``if`` only when it holds on every path.
    source = """\
        import torch

        def attend(q, k, v, cosine):
            s = q @ k.transpose(-2, -1)
            if cosine:
                s = s * 10.0
            return s.softmax(-1) @ v
        """
    assert positions("NNL703", source) == []


def test_unscaled_scores_on_every_path_are_reported() -> None:
    source = """\
        import torch

        def attend(q, k, v, mask):
            s = q @ k.transpose(-2, -1)
            if mask is not None:
                s = s.masked_fill(mask, float("-inf"))
            for _ in range(2):
                s = s + 0.0
            return s.softmax(-1) @ v
        """
    assert positions("NNL703", source) == [(4, 9)]


def test_caller_scaling_in_another_statement_survives_pruning() -> None:
    # The helper and its caller are different top-level statements: the rule's
    # evidence keeps the caller, so pruned and whole-file runs agree.
    source = """\
        import torch
        from torch import nn

        def attend(q, k, v):
            return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v

        class Attention(nn.Module):
            def forward(self, x):
                q = self.q(x) * self.scale
                return attend(q, self.k(x), self.v(x))
        """
    assert positions("NNL703", source) == []
    assert positions("NNL703", source, prune=False) == []


def test_unscaled_helper_with_unscaled_caller_is_reported() -> None:
    source = """\
        import torch

        def attend(q, k, v):
            return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v

        def run(x, w):
            return attend(x @ w, x, x)
        """
    assert positions("NNL703", source) == [(4, 26)]


def test_noqa_and_json_fields() -> None:
    source = textwrap.dedent(
        """\
        import torch

        def route(logits, bias_free):
            top, idx = torch.topk(logits, 1, dim=-1)
            gate = torch.softmax(top, dim=-1)
            top2, idx2 = torch.topk(logits, 1, dim=-1)  # noqa: NNL704
            return gate, idx, torch.softmax(top2, dim=-1), idx2
        """
    )
    findings = lint_text(source.encode(), "m.py", LintConfig(select=("NNL7",)))
    assert [(f.code, f.line, f.severity) for f in findings] == [("NNL704", 4, "error")]
    record = json.loads(json.dumps(findings[0].to_dict()))
    assert record["name"] == "single-expert-gate-normalised"
    assert record["fix"] is None


def test_biased_top_k_values_discarded_are_not_reported() -> None:
    # ``_`` values and indices only: the bias just chooses.
    source = """\
        import torch
        from torch import nn

        class Router(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("expert_bias", torch.zeros(8))

            def forward(self, scores):
                _, idx = torch.topk(scores + self.expert_bias, 2)
                vals, idx2 = torch.topk(scores + self.expert_bias, 2)
                return idx, idx2
        """
    assert positions("NNL702", source) == []
