# Source: https://github.com/NVIDIA-Merlin/models/pull/1175
# Bug: a binary prediction block applies sigmoid by default while its default loss
#   is BCEWithLogitsLoss, so the sigmoid runs twice.
# Kind: sigmoid-before-bce-with-logits
import torch
from torch import nn


class BinaryOutput(nn.Module):
    def __init__(self, in_features=16):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)
        self.activation = nn.Sigmoid()
        self.loss = nn.BCEWithLogitsLoss()

    def forward(self, inputs):
        return self.activation(self.linear(inputs)).squeeze(-1)  # expect: NNL105

    def compute_loss(self, inputs, targets):
        return self.loss(self.forward(inputs), targets.float())
