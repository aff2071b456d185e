# Source: https://github.com/NVIDIA/Megatron-LM/issues/894
# Bug: a top-k router takes top-k of the raw logits and then the softmax of the
#   kept logits; with top-1 routing that softmax is over a single value, the gate
#   is always 1 and the router gets no gradient from the language-model loss (MoE
#   models trained to a higher loss than expected).
# Kind: single-expert-gate-normalised
import torch
from torch import nn


class TopOneRouter(nn.Module):
    def __init__(self, dim=32, experts=8):
        super().__init__()
        self.gate = nn.Linear(dim, experts, bias=False)

    def forward(self, x):
        logits = self.gate(x).view(-1, self.gate.out_features)
        scores, top_indices = torch.topk(logits, k=1, dim=1)  # expect: NNL704
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).type_as(logits)
        return probs, top_indices
