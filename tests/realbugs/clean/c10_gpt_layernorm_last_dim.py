# Source: https://github.com/karpathy/minGPT/issues/113
# Near-miss: GPT blocks build nn.LayerNorm(n_embd) and normalise each token's
#   embedding; the issue asked whether it should be [block_size, n_embd] (it
#   should not).
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, n_embd=48, n_head=4):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


def rms(x, eps=1e-6):
    return F.layer_norm(x, x.shape[-1:], eps=eps)
