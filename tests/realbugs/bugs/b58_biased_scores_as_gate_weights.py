# Source: https://github.com/vllm-project/vllm/pull/12002
# Bug: a DeepSeek-V3-style grouped top-k router adds the per-expert correction
#   bias to the sigmoid scores and then returns the top-k values of those biased
#   scores as the routing weights; the bias is meant to choose experts only, the
#   weights must come from the scores without it.
# Kind: biased-scores-as-gate-weights
import torch
from torch import nn


class GroupedTopKGate(nn.Module):
    def __init__(self, dim=32, experts=16, groups=4, k=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(experts, dim) * dim**-0.5)
        self.register_buffer("e_score_correction_bias", torch.zeros(experts))
        self.groups, self.k = groups, k

    def forward(self, x):
        scores = torch.sigmoid(x @ self.weight.T)
        scores = scores + self.e_score_correction_bias.unsqueeze(0)
        n = scores.shape[0]
        group_scores = scores.view(n, self.groups, -1).max(dim=-1).values
        group_idx = torch.topk(group_scores, k=2, dim=-1)[1]
        mask = torch.zeros_like(group_scores).scatter_(1, group_idx, 1)
        mask = mask.unsqueeze(-1).expand(n, self.groups, -1).reshape(n, -1)
        scores = scores.masked_fill(~mask.bool(), 0.0)
        weights, ids = torch.topk(scores, k=self.k, dim=-1)  # expect: NNL702
        return weights / weights.sum(dim=-1, keepdim=True), ids
