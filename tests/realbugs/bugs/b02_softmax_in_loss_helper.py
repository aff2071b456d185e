# Source: https://github.com/mlelarge/graph_neural_net/pull/37
# Bug: a graph-matching loss normalises the raw scores with softmax and then hands
#   them to CrossEntropyLoss (the PR removed the softmax).
# Kind: softmax-before-cross-entropy
import torch
from torch import nn


class MatchingLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.criterion = nn.CrossEntropyLoss(reduction="mean")

    def forward(self, raw_scores, target):
        probs = torch.softmax(raw_scores, dim=-1)  # expect: NNL101
        return self.criterion(probs.flatten(0, 1), target.flatten())
