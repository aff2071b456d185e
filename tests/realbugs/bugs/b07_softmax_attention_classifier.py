# Source: https://github.com/gitabcworld/MatchingNetworks/issues/5
# Bug: a matching network turns support-set similarities into a softmax
#   distribution in one module; the model class then feeds it to F.cross_entropy.
# Kind: softmax-before-cross-entropy
import torch
import torch.nn.functional as F
from torch import nn


class AttentionalClassify(nn.Module):
    def forward(self, similarities, support_labels_onehot):
        weights = F.softmax(similarities, dim=1)  # expect: NNL101
        return torch.bmm(weights.unsqueeze(1), support_labels_onehot).squeeze(1)


class MatchingNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.classify = AttentionalClassify()

    def forward(self, similarities, support_labels_onehot, target):
        preds = self.classify(similarities, support_labels_onehot)
        loss = F.cross_entropy(preds, target)
        return preds, loss
