# Source: https://github.com/suolyer/PyTorch_BERT_Biaffine_NER/pull/3
# Bug: a biaffine scorer's weight is nn.Parameter(torch.Tensor(...)) without any
#   initialisation, giving huge values and NaN logits (the PR initialised it).
# Kind: uninitialised-parameter
import torch
from torch import nn


class Biaffine(nn.Module):
    def __init__(self, in_size=64, out_size=5):
        super().__init__()
        self.U = nn.Parameter(torch.Tensor(in_size + 1, out_size, in_size + 1))  # expect: NNL202

    def forward(self, start, end):
        ones = start.new_ones(start.shape[:-1] + (1,))
        start = torch.cat([start, ones], dim=-1)
        end = torch.cat([end, ones], dim=-1)
        return torch.einsum("bxi,ioj,byj->bxyo", start, self.U, end)
