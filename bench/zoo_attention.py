"""Calibration-zoo cases for attention and output-logit health (issue 13).

Small causal language models on ``token_batch`` (16 sequences of 8 tokens), each
attention path the probe knows: hand-written ``softmax(q @ k^T / sqrt(d))`` (the
zoo's ``TinyLM``), ``nn.MultiheadAttention`` inside ``nn.TransformerEncoder`` and
``F.scaled_dot_product_attention``. Broken cases: Q/K projections initialised 8x
too large (heads collapse onto one key from step 0), Adam at lr 3e-2 with no QK-norm
(attention logits grow ~20x in 25 steps) and an output head trained at lr 0.3 over a
256-token vocabulary (the mean logit, which cross-entropy cannot see, drifts by
12-17 nats while the loss still falls).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from bench import zoo_models as zm
from bench.zoo_build import OptimizerFactory, ZooCase, adam, custom_case, token_batch

VOCAB, DIM, HEADS, LAYERS, LENGTH = 16, 32, 2, 2, 8


class MHALM(nn.Module):
    """Pre-LN ``nn.TransformerEncoder`` (``nn.MultiheadAttention``) with a causal
    mask: the attention probe recomputes its weights from the module's inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(LENGTH, DIM)
        layer = nn.TransformerEncoderLayer(
            DIM, HEADS, 4 * DIM, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
        x = self.encoder(x, mask=mask, is_causal=True)
        return self.head(self.ln_f(x)).flatten(0, 1)


class SdpaAttention(nn.Module):
    """Causal self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, HEADS, -1).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, length, DIM))


class SdpaLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(LENGTH, DIM)
        self.norms = nn.ModuleList(nn.LayerNorm(DIM) for _ in range(2 * LAYERS))
        self.attn = nn.ModuleList(SdpaAttention() for _ in range(LAYERS))
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))
            for _ in range(LAYERS)
        )
        self.ln_f = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        for index, (attn, mlp) in enumerate(zip(self.attn, self.mlp, strict=True)):
            x = x + attn(self.norms[2 * index](x))
            x = x + mlp(self.norms[2 * index + 1](x))
        return self.head(self.ln_f(x)).flatten(0, 1)


def large_qk_lm() -> zm.TinyLM:
    """Q and K projections 8x the default init: logits 64x, one key per query."""
    model = zm.TinyLM(vocab=VOCAB, dim=DIM, heads=HEADS, layers=LAYERS, length=LENGTH)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight[: 2 * DIM].mul_(8.0)
    return model


def wide_vocab_lm() -> zm.TinyLM:
    return zm.TinyLM(vocab=256, dim=DIM, heads=HEADS, layers=LAYERS, length=LENGTH)


def head_lr(lr: float) -> OptimizerFactory:
    """Adam at 1e-3, except the last two tensors (the output head) at ``lr``."""

    def factory(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        tensors = list(params)
        groups = [{"params": tensors[:-2]}, {"params": tensors[-2:], "lr": lr}]
        return torch.optim.Adam(groups, lr=1e-3)

    return factory


def tiny_lm() -> zm.TinyLM:
    return zm.TinyLM(vocab=VOCAB, dim=DIM, heads=HEADS, layers=LAYERS, length=LENGTH)


HEALTHY = [
    ZooCase(
        "transformer_mha_adamw",
        custom_case(MHALM, adam(1e-3, 0.01), token_batch),
        True,
        notes="nn.TransformerEncoder, pre-LN, causal mask (nn.MultiheadAttention)",
    ),
    ZooCase(
        "transformer_sdpa_adamw",
        custom_case(SdpaLM, adam(1e-3, 0.01), token_batch),
        True,
        notes="pre-LN blocks calling F.scaled_dot_product_attention(is_causal=True)",
    ),
]

BROKEN = [
    ZooCase(
        "attention_qk_init_large",
        custom_case(large_qk_lm, adam(1e-3, 0.01), token_batch),
        False,
        frozenset({"attention_entropy_collapse"}),
        "blocks.0.attn",
        "Q/K projections initialised 8x too large: normalised attention entropy "
        "~0.03 from step 0",
    ),
    ZooCase(
        "attention_logits_lr_high",
        custom_case(tiny_lm, adam(3e-2, 0.01), token_batch),
        False,
        frozenset({"attention_logit_growth"}),
        "blocks",
        "Adam lr 3e-2, no QK-norm: the largest attention logit grows from ~1 to 25-35",
    ),
    ZooCase(
        "lm_head_lr_high",
        custom_case(wide_vocab_lm, head_lr(0.3), token_batch),
        False,
        frozenset({"logit_drift"}),
        "",
        "output head at Adam lr 0.3 over 256 tokens: the mean logit drifts by 12-17 "
        "nats while the loss falls",
    ),
]
