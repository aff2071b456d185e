# Source: https://github.com/gordicaleksa/pytorch-GAT/issues/11
# Bug: a GAT layer creates its scoring vectors with nn.Parameter(torch.Tensor(...));
#   when the explicit init is skipped they hold uninitialised memory (NaNs).
# Kind: uninitialised-parameter
import torch
from torch import nn


class GATLayer(nn.Module):
    def __init__(self, in_features=16, out_features=8, heads=2):
        super().__init__()
        self.heads, self.out_features = heads, out_features
        self.linear_proj = nn.Linear(in_features, heads * out_features, bias=False)
        self.scoring_fn_target = nn.Parameter(torch.Tensor(1, heads, out_features))  # expect: NNL202
        self.scoring_fn_source = nn.Parameter(torch.Tensor(1, heads, out_features))  # expect: NNL202

    def forward(self, x):
        proj = self.linear_proj(x).view(-1, self.heads, self.out_features)
        source = (proj * self.scoring_fn_source).sum(dim=-1)
        target = (proj * self.scoring_fn_target).sum(dim=-1)
        return proj, source, target
