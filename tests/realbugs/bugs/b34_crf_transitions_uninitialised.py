# Source: https://github.com/kmkurn/pytorch-crf/issues/1
# Bug: a CRF module's transition scores are allocated with torch.Tensor and not
#   initialised in __init__, giving NaN losses in the forward computation.
# Kind: uninitialised-parameter
import torch
from torch import nn


class CRF(nn.Module):
    def __init__(self, num_tags=5):
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.Tensor(num_tags))  # expect: NNL202
        self.end_transitions = nn.Parameter(torch.Tensor(num_tags))  # expect: NNL202
        self.transitions = nn.Parameter(torch.Tensor(num_tags, num_tags))  # expect: NNL202

    def forward(self, emissions):
        score = self.start_transitions + emissions[0]
        for step in emissions[1:]:
            score = torch.logsumexp(score.unsqueeze(-1) + self.transitions, dim=0) + step
        return torch.logsumexp(score + self.end_transitions, dim=0)
