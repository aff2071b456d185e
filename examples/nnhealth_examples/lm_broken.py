"""Broken variants of the tiny language model.

* ``PostLNLM``: eight post-LN blocks (``norm(x + f(x))``); deep post-LN stacks train
  unstably without warm-up. Visible in the source (nnlint) and in the graph.
* ``MismatchedResidualLM``: the MLP's output width is a constructor argument; with
  ``mlp_out=48`` (``factories.py``) the residual add joins widths 32 and 48. Nothing in
  the source proves it; graph mode sees the real shapes (check() fails at the add).
* ``BroadcastBiasLM``: a learned position bias of shape ``(max_len, 1)`` is added to
  ``(batch, length, d_model)`` activations: it broadcasts silently over the model width
  instead of being one vector per position. Only the traced shapes show it.
* ``sequence_loss``: applies ``F.softmax`` to the logits before ``F.cross_entropy``,
  which expects logits. nnlint's source rules find it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nnhealth_examples.lm import CausalSelfAttention, FeedForward, TinyLM


class PostLNBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(d_model, n_heads, max_len)
        self.norm1 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, 4 * d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class PostLNLM(TinyLM):
    def __init__(self, n_layers: int = 8, d_model: int = 32, max_len: int = 16) -> None:
        super().__init__(d_model=d_model, n_layers=n_layers, max_len=max_len)
        self.blocks = nn.ModuleList(
            [PostLNBlock(d_model, 4, max_len) for _ in range(n_layers)]
        )


class WideOutputBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int, mlp_out: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, max_len)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, 4 * d_model, mlp_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MismatchedResidualLM(TinyLM):
    def __init__(self, d_model: int = 32, mlp_out: int = 32, max_len: int = 16) -> None:
        super().__init__(d_model=d_model, n_layers=1, max_len=max_len)
        self.blocks = nn.ModuleList([WideOutputBlock(d_model, 4, max_len, mlp_out)])


class BroadcastBiasLM(TinyLM):
    def __init__(self, d_model: int = 32, max_len: int = 16) -> None:
        super().__init__(d_model=d_model, max_len=max_len)
        # Meant to replace the position embedding with a (max_len, d_model) table.
        del self.positions
        self.position_bias = nn.Parameter(0.02 * torch.randn(max_len, 1))

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        length = token_ids.shape[1]
        x = self.tokens(token_ids) + self.position_bias[:length]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    probs = F.softmax(logits, dim=-1)
    return F.cross_entropy(probs.flatten(0, 1), targets.flatten())
