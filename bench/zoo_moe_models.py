"""Small top-k mixtures of experts for the calibration zoo (``bench/zoo_moe.py``).

``TopKMoE`` routes each token to ``top_k`` of ``experts`` two-layer MLPs. Balancing:

* ``"aux"``: the Switch-Transformer auxiliary loss ``E * sum_e f_e * P_e`` (``f_e`` the
  share of choices that went to expert e, ``P_e`` its mean router probability), kept in
  ``aux_loss`` for the training loss to add;
* ``"bias"``: auxiliary-loss-free balancing as in DeepSeek-V3: sigmoid scores plus a
  per-expert bias buffer choose the experts (the gate weights use the scores without
  the bias), and after each training forward the bias moves by ``bias_rate`` times the
  sign of (mean load - expert load), outside the gradient. A negative ``bias_rate`` is
  the wrong sign: overloaded experts get more tokens;
* ``"none"``: no balancing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Expert(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.down = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


class TopKMoE(nn.Module):
    def __init__(
        self,
        dim: int,
        experts: int,
        top_k: int,
        balance: str = "aux",
        aux_coef: float = 0.01,
        bias_rate: float = 0.0,
        renormalise: bool = True,
    ) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(Expert(dim, 2 * dim) for _ in range(experts))
        self.top_k, self.balance = top_k, balance
        self.aux_coef, self.bias_rate = aux_coef, bias_rate
        self.renormalise = renormalise
        if balance == "bias":
            self.register_buffer("score_bias", torch.zeros(experts))
        self.aux_loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        logits = self.gate(flat)
        probs = F.softmax(logits, dim=-1)
        if self.balance == "bias":
            scores = logits.sigmoid()
            chosen = (scores + self.score_bias).topk(self.top_k, dim=-1).indices
            weights = scores.gather(1, chosen)
        else:
            weights, chosen = probs.topk(self.top_k, dim=-1)
        if self.renormalise:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(flat)
        for index, expert in enumerate(self.experts):
            token, slot = torch.where(chosen == index)
            if token.numel():
                part = expert(flat[token]) * weights[token, slot, None]
                out = out.index_add(0, token, part)
        self._balance(probs, chosen)
        return out.reshape(x.shape)

    def _balance(self, probs: torch.Tensor, chosen: torch.Tensor) -> None:
        count = probs.shape[-1]
        load = torch.bincount(chosen.reshape(-1), minlength=count).float()
        if self.balance == "aux":
            share = load / load.sum()
            self.aux_loss = self.aux_coef * count * (share * probs.mean(0)).sum()
        elif self.balance == "bias" and self.training:
            with torch.no_grad():
                self.score_bias += self.bias_rate * torch.sign(load.mean() - load)


class MoEClassifier(nn.Module):
    """Tokens (batch, length, d_in) -> embed -> pre-LN residual MoE block -> mean pool
    -> classes. Returns (logits, auxiliary loss)."""

    def __init__(
        self, d_in: int, dim: int, classes: int, moe: TopKMoE, offset: float = 0.0
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(d_in, dim)
        self.norm = nn.LayerNorm(dim)
        self.moe = moe
        self.head = nn.Linear(dim, classes)
        # A shared direction in every token's features, as real hidden states have
        # (used by the collapse case: the router sees it un-normalised).
        self.offset = offset

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(x)
        routed_input = self.norm(h) + self.offset
        h = h + self.moe(routed_input)
        return self.head(h.mean(dim=1)), self.moe.aux_loss


def moe_loss(output: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor):
    logits, aux = output
    return F.cross_entropy(logits, target) + aux
