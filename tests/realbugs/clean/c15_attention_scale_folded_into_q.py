# Source: https://github.com/getalp/Flaubert/pull/45
# Near-miss: an XLM-style attention divides q by sqrt(dim_per_head) before the
#   product instead of dividing the scores; the maintainers pointed out that this
#   is the same scaling, so nothing is wrong.
import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, dim=64, heads=4):
        super().__init__()
        self.heads = heads
        self.q_lin = nn.Linear(dim, dim)
        self.k_lin = nn.Linear(dim, dim)
        self.v_lin = nn.Linear(dim, dim)

    def shape(self, x):
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x):
        q = self.shape(self.q_lin(x))
        k = self.shape(self.k_lin(x))
        v = self.shape(self.v_lin(x))
        q = q / math.sqrt(q.shape[-1])
        scores = torch.matmul(q, k.transpose(2, 3))
        weights = F.softmax(scores.float(), dim=-1).type_as(scores)
        return torch.matmul(weights, v).transpose(1, 2).flatten(2)
