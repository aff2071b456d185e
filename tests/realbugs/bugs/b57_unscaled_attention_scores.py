# Source: https://github.com/huggingface/blog/pull/2893
# Bug: a key/value-cache attention example computes q @ k^T, applies the softmax
#   and weights the values, without dividing the scores by sqrt(d_k), although the
#   formula next to it has the factor.
# Kind: unscaled-attention-scores
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class CachedSelfAttention(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.wq = nn.Linear(dim, dim)
        self.wk = nn.Linear(dim, dim)
        self.wv = nn.Linear(dim, dim)

    def forward(self, x, past_k, past_v):
        q, k, v = self.wq(x), self.wk(x), self.wv(x)
        keys = torch.cat([past_k, k], dim=1)
        values = torch.cat([past_v, v], dim=1)
        scores = torch.matmul(q, keys.transpose(-2, -1))  # expect: NNL703  expect-fx: NNL618
        weights = F.softmax(scores, dim=-1)
        return torch.matmul(weights, values)


def make_model():
    past = torch.randn(2, 4, 64)
    batch = ((torch.randn(2, 3, 64), past, past), torch.randn(2, 3, 64))
    return CachedSelfAttention(), batch, nn.MSELoss()
