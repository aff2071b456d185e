"""check()'s default optimizer: Adam at lr 1e-3 with width-scaled matrices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_nnhealth import check
from pytest_nnhealth.training import default_optimizer as dopt

BASE, LR = dopt.FAN_IN_BASE, dopt.DEFAULT_LR


class Conv1D(nn.Module):
    """Stands in for transformers' GPT-2 layer: ``x @ weight``, weight (in, out)."""

    def __init__(self, fan_in: int, out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_in, out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 1024)
        self.pos = nn.Parameter(torch.zeros(1, 4, 1024))
        self.conv = nn.Conv2d(64, 8, 3)  # fan-in 64 * 9 = 576
        self.mha = nn.MultiheadAttention(1024, 8)
        self.norm = nn.LayerNorm(1024)
        self.gpt = Conv1D(2048, 16)
        self.small = nn.Linear(16, 16)
        self.head = nn.Linear(1024, 50, bias=False)
        self.head.weight = self.embed.weight  # tied: stays an embedding

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.embed(ids) + self.pos))


def test_fan_ins_cover_summing_layers_only() -> None:
    model = Mixed()
    fan_in = dopt.fan_ins(model)
    assert fan_in == {
        id(model.conv.weight): 576,
        id(model.mha.in_proj_weight): 1024,
        id(model.mha.out_proj.weight): 1024,
        id(model.gpt.weight): 2048,
        id(model.small.weight): 16,
    }


def test_default_scales_wide_matrices_by_fan_in() -> None:
    model = Mixed()
    optimizer = dopt.default_optimizer(model)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lr_of[id(model.small.weight)] == LR
    assert lr_of[id(model.conv.weight)] == pytest.approx(LR * BASE / 576)
    assert lr_of[id(model.gpt.weight)] == pytest.approx(LR * BASE / 2048)
    for unscaled in (model.embed.weight, model.pos, model.norm.weight, model.gpt.bias):
        assert lr_of[id(unscaled)] == LR
    held = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(held) == len(list(model.parameters()))  # every tensor, once


def test_narrow_model_keeps_plain_adam() -> None:
    model = nn.Sequential(nn.Linear(8, BASE), nn.ReLU(), nn.Linear(BASE, 3))
    optimizer = dopt.default_optimizer(model)
    assert [g["lr"] for g in optimizer.param_groups] == [LR]
    assert dopt.describe_default(optimizer) == f"Adam(lr={LR})"


class Attention(nn.Module):
    """One pre-norm self-attention block behind a linear patch embedding."""

    def __init__(self, width: int, heads: int = 4, d_in: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.embed = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.head = nn.Linear(width, 4)
        for layer in (self.qkv, self.proj):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        b, n, d = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5).softmax(-1)
        mixed = (weights @ v).transpose(1, 2).reshape(b, n, d)
        return self.head((x + self.proj(mixed)).mean(1))


def _growth(optimizer: object, width: int) -> list[float]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 8, generator=generator)
    y = torch.randint(0, 4, (8,), generator=generator)
    torch.manual_seed(0)
    report = check(
        Attention(width),
        (x, y),
        loss_fn=F.cross_entropy,
        optimizer=optimizer,  # type: ignore[arg-type]
        graph=False,
    )
    return [f.value for f in report.findings if f.check == "attention_logit_growth"]


def test_wide_attention_grows_under_plain_adam_not_under_the_default() -> None:
    plain = _growth(lambda params: torch.optim.Adam(params, lr=LR), 512)
    assert len(plain) == 1
    assert plain[0] > 40  # 512 inputs x lr 1e-3 per step: the logit grows ~1 -> >40
    assert _growth(None, 512) == []


def test_report_names_the_width_scaling() -> None:
    torch.manual_seed(0)
    report = check(
        nn.Sequential(nn.Linear(8, 1024), nn.ReLU(), nn.Linear(1024, 3)),
        (torch.randn(16, 8), torch.randint(0, 3, (16,))),
        loss_fn=F.cross_entropy,
        steps=6,
        graph=False,
    )
    scaled = LR * BASE / 1024
    assert report.meta["optimizer"] == (
        f"Adam(lr={LR}; lr={LR}*{BASE}/fan_in on 1 weight matrices with "
        f"fan_in > {BASE}, times init RMS / default where smaller, lowest "
        f"{scaled:.3g})"
    )


def test_wide_matrices_drawn_below_the_default_step_in_proportion() -> None:
    # T5 at base width: W_q drawn at (d_model * d_kv) ** -0.5 carries the logits'
    # 1/sqrt(d_kv); W_k at d_model ** -0.5 does not. A head drawn at 1e-3 of a
    # std-0.02 init is meant to grow from ~zero; a default-drawn Linear keeps its rate.
    torch.manual_seed(0)
    d_model, d_kv = 768, 64
    q, k = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
    head, plain = nn.Linear(d_model, 10), nn.Linear(d_model, d_model)
    nn.init.normal_(q.weight, std=(d_model * d_kv) ** -0.5)
    nn.init.normal_(k.weight, std=d_model**-0.5)
    nn.init.normal_(head.weight, std=0.02 * 1e-3)
    model = nn.ModuleList([q, k, head, plain])
    optimizer = dopt.default_optimizer(model)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    fan_in_rate = LR * BASE / d_model
    share_q = (3 / d_kv) ** 0.5  # 0.22: its RMS over 1 / sqrt(3 * d_model)
    assert lr_of[id(q.weight)] == pytest.approx(fan_in_rate * share_q, rel=0.01)
    assert dopt.init_share(q.weight, d_model) == pytest.approx(share_q, rel=0.01)
    for kept in (k.weight, head.weight, plain.weight):
        assert lr_of[id(kept)] == fan_in_rate  # above, near zero, within noise of 1
    assert dopt.init_share(head.weight, d_model) < dopt.NEAR_ZERO
