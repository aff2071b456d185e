"""Attention and output-logit probes: the recomputed logits match what the model
computes, each path (MultiheadAttention, SDPA, 4-d softmax, opt-in 3-d softmax) is
found and attributed to the right module, and the statistics are right."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from pytest_nnhealth.probes.attention import (  # noqa: E402
    head_stats,
    mark_attention,
    mha_logits,
    sdpa_logits,
)
from pytest_nnhealth.training.health_check import check  # noqa: E402


def test_head_stats_uniform_and_one_hot_heads():
    logits = torch.zeros(2, 2, 5, 4)
    logits[:, 1] = -100.0
    logits[:, 1, :, 2] = 100.0  # head 1 puts everything on key 2
    entropy, near, top, spread, keys = head_stats(logits)
    assert entropy.tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert keys.tolist() == [4.0, 4.0]
    assert near.tolist() == [0.0, 1.0]
    assert top.tolist() == [0.0, 100.0]
    # Head 1's rows: one 100 and three -100 (std over 4 keys: 200 * sqrt(3) / 4).
    assert spread.tolist() == pytest.approx([0.0, 50 * math.sqrt(3)])


def test_head_stats_leaves_out_queries_without_a_choice_and_masked_keys():
    logits = torch.zeros(1, 1, 3, 3)
    causal = torch.ones(3, 3, dtype=torch.bool).tril()
    masked = logits.masked_fill(~causal, torch.finfo(torch.float32).min)
    masked[0, 0, 2, 0] = 7.0  # largest unmasked logit; -inf/finfo.min are not logits
    entropy, near, top, spread, keys = head_stats(masked)
    assert keys.tolist() == [3.0]  # the last query sees all three
    # Query 0 sees 1 key (left out); query 1 is uniform over 2 keys (1.0); query 2
    # is nearly one-hot over 3 keys.
    p = torch.softmax(torch.tensor([7.0, 0.0, 0.0]), 0)
    q2 = float(-(p * p.log()).sum() / math.log(3))
    assert entropy.item() == pytest.approx((1.0 + q2) / 2, abs=1e-5)
    assert near.item() == pytest.approx(0.5)  # query 2's entropy is < 0.1 nats
    assert top.item() == 7.0
    # Spread over the allowed keys only: query 1 (0, 0) -> 0, query 2 (7, 0, 0) ->
    # 7 * sqrt(2) / 3; torch's median of an even count is the lower middle value.
    assert spread.item() == 0.0
    masked[0, 0, 1, 0] = 3.0  # query 1 (3, 0): 1.5, now the lower middle value
    assert head_stats(masked)[3].item() == pytest.approx(1.5)


def test_logit_spread_reads_what_the_softmax_reads_and_what_most_queries_do():
    torch.manual_seed(0)
    logits = torch.randn(4, 2, 8, 8)
    _, _, top, spread, _ = head_stats(logits)
    # A shift per query changes neither the softmax nor the spread.
    shifted = head_stats(logits + 50 * torch.randn(4, 2, 8, 1))
    assert shifted is not None
    assert shifted[3].tolist() == pytest.approx(spread.tolist(), rel=1e-4)
    # One token's logits blown up (an outlier query) move the largest logit, not
    # the median query's spread.
    outlier = logits.clone()
    outlier[0, :, 3] *= 40
    _, _, top_out, spread_out, _ = head_stats(outlier)
    assert (top_out > 5 * top).all()
    assert spread_out.tolist() == pytest.approx(spread.tolist(), rel=0.1)
    # Every query's logits scaled: the spread follows.
    scaled = head_stats(3 * logits)
    assert scaled is not None
    assert scaled[3].tolist() == pytest.approx((3 * spread).tolist(), rel=1e-5)


def test_head_stats_from_the_models_own_softmax_equal_the_recomputed_ones():
    # The softmax path hands head_stats the model's softmax output instead of
    # recomputing it; masked (finfo.min) keys get weight 0 either way.
    torch.manual_seed(0)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    logits = (3 * torch.randn(2, 3, 6, 6)).masked_fill(
        ~causal, torch.finfo(torch.float32).min
    )
    own = head_stats(logits, torch.softmax(logits, dim=-1))
    recomputed = head_stats(logits)
    assert own is not None
    assert recomputed is not None
    assert torch.allclose(own, recomputed, atol=1e-6)
    wrong_shape = head_stats(logits, torch.zeros(2, 3, 6, 5))  # ignored, recomputed
    assert wrong_shape is not None
    assert torch.equal(wrong_shape, recomputed)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("mask", ["none", "bool", "float", "padding", "causal"])
def test_multihead_attention_logits_match_its_weights(batch_first, mask):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    x = torch.randn(3, 5, 8) if batch_first else torch.randn(5, 3, 8)
    kwargs: dict = {}
    if mask == "bool":
        kwargs["attn_mask"] = torch.rand(5, 5) > 0.7
        kwargs["attn_mask"].fill_diagonal_(False)
    elif mask == "float":
        kwargs["attn_mask"] = torch.randn(5, 5)
    elif mask == "padding":
        kwargs["key_padding_mask"] = torch.tensor([[False] * 4 + [True]] * 3)
    elif mask == "causal":
        kwargs["attn_mask"] = nn.Transformer.generate_square_subsequent_mask(5)
        kwargs["is_causal"] = True
    _, weights = mha(x, x, x, average_attn_weights=False, **kwargs)
    logits = mha_logits(mha, (x, x, x), kwargs)
    assert torch.allclose(torch.softmax(logits, -1), weights, atol=1e-5)


@pytest.mark.parametrize("case", ["plain", "causal", "bool", "float", "scale", "gqa"])
def test_sdpa_logits_reproduce_its_output(case):
    torch.manual_seed(0)
    q = torch.randn(2, 4, 6, 8)
    kv_heads = 2 if case == "gqa" else 4
    k, v = torch.randn(2, kv_heads, 6, 8), torch.randn(2, kv_heads, 6, 8)
    kwargs: dict = {
        "causal": {"is_causal": True},
        "bool": {
            "attn_mask": (torch.rand(6, 6) > 0.3) | torch.eye(6, dtype=torch.bool)
        },
        "float": {"attn_mask": torch.randn(2, 1, 6, 6)},
        "scale": {"scale": 0.7},
        "gqa": {"enable_gqa": True},
    }.get(case, {})
    expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    logits = sdpa_logits((q, k, v), kwargs)
    if case == "gqa":
        v = v.repeat_interleave(2, dim=1)
    assert torch.allclose(torch.softmax(logits, -1) @ v, expected, atol=1e-5)


class HandWritten(nn.Module):
    def __init__(self, heads: int = 2, fold: bool = False) -> None:
        super().__init__()
        self.heads, self.fold = heads, fold
        self.qkv = nn.Linear(8, 24)
        self.out = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if self.fold:  # heads folded into the batch: a 3-d softmax
            q, k, v = (t.reshape(b * self.heads, n, -1) for t in (q, k, v))
        weights = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)
        out = (weights @ v).reshape(b, self.heads, n, -1).transpose(1, 2)
        return self.out(out.reshape(b, n, 8))


class Fused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, 2, 4).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, 8)


class Net(nn.Module):
    def __init__(self, attention: nn.Module) -> None:
        super().__init__()
        self.attention = attention
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.attention(x).mean(1))


def _batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(4, 6, 8, generator=gen), torch.randint(0, 3, (4,), generator=gen)


def _attention_rows(report, name):
    series = report.layers[name].series
    return sorted(key for key in series if key.startswith("attn_entropy_h"))


@pytest.mark.parametrize(
    ("attention", "name"),
    [
        (HandWritten(), "attention"),
        (Fused(), "attention"),
        (mark_attention(HandWritten(fold=True), 2), "attention"),
        (nn.MultiheadAttention(8, 2, batch_first=True), "attention"),
    ],
    ids=["softmax-4d", "sdpa", "marked-3d", "multihead"],
)
def test_every_path_is_measured_per_head_on_sampled_steps(attention, name):
    class SelfAttend(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = attention

        def forward(self, x):
            out = (
                self.inner(x, x, x, need_weights=False)[0]
                if isinstance(self.inner, nn.MultiheadAttention)
                else self.inner(x)
            )
            return out

    wrapped = attention if not isinstance(attention, nn.MultiheadAttention) else None
    model = Net(wrapped if wrapped is not None else SelfAttend())
    report = check(model, _batch(), loss_fn=nn.CrossEntropyLoss(), steps=10)
    owner = name if wrapped is not None else "attention.inner"
    assert _attention_rows(report, owner) == ["attn_entropy_h0", "attn_entropy_h1"]
    measured = [n for n, s in report.layers.items() if "attn_entropy" in s.series]
    assert measured == [owner]  # once, on the module computing it, not its parents
    entropy = report.layers[owner].series["attn_entropy"]
    measured = [step for step, value in enumerate(entropy) if value is not None]
    assert measured == [0, 1, 2, 7, 8, 9]  # the sampled steps of a 10-step run
    assert all(0.5 < entropy[step] <= 1.0 for step in measured)


def test_unmarked_three_d_softmax_is_not_attention():
    report = check(
        Net(HandWritten(fold=True)), _batch(), loss_fn=nn.CrossEntropyLoss(), steps=4
    )
    assert not any("attn_entropy" in s.series for s in report.layers.values())


def test_output_logits_and_the_softmax_axis_test():
    x, y = _batch()
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    report = check(model, (x, y), loss_fn=nn.CrossEntropyLoss(), steps=4)
    series = report.layers[""].series
    assert series["logit_shift_grad"][0] < 1e-6  # cross-entropy: a softmax
    assert series["logit_lse"][0] == pytest.approx(
        float(torch.logsumexp(model(x), -1).mean().detach()), rel=0.2
    )
    target = torch.randn(4, 3) + 50.0  # regression: a shift is the signal
    regression = check(model, (x, target), loss_fn=nn.MSELoss(), steps=4)
    assert regression.layers[""].series["logit_shift_grad"][0] > 0.5


@pytest.mark.parametrize("name", ["hf_llama", "hf_bert"])
def test_transformers_eager_and_sdpa_attention_measure_the_same(name):
    """transformers' two attention implementations reach the probe by different paths
    (a 4-d softmax, an SDPA call) and must give the same per-head numbers."""
    pytest.importorskip("transformers")
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import real_zoo_models as rm
    from pytest_nnhealth.probes.attention import AttentionProbe
    from pytest_nnhealth.training.runner import RunSpec, run, work_copy

    ids = torch.randint(1, rm.VOCAB, (2, rm.SEQ), generator=torch.Generator())
    rows = {}
    for implementation in ("eager", "sdpa"):
        torch.manual_seed(0)
        model = getattr(rm, name)()
        model.config._attn_implementation = implementation
        batch = ({"input_ids": ids}, ids)

        def loss(output, target):
            logits = output.logits
            return logits.float().logsumexp(-1).mean()  # any scalar of the logits

        spec = RunSpec([batch] * 3, loss, None, None, 3, 0, torch.device("cpu"))
        work, memo = work_copy(model, spec.device)
        result = run(work, memo, spec, [AttentionProbe()])
        rows[implementation] = {
            layer: stats.series["attn_entropy_h1"]
            for layer, stats in result.layers.items()
            if "attn_entropy_h1" in stats.series
        }
    assert len(rows["eager"]) == 2  # one row per layer's attention module
    assert rows["eager"].keys() == rows["sdpa"].keys()
    for layer, values in rows["eager"].items():
        assert values == pytest.approx(rows["sdpa"][layer], abs=1e-4)
