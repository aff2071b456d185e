# Source: https://github.com/AICPS/hw2vec/issues/23
# Bug: a graph-classification trainer applies F.log_softmax to the MLP output and
#   passes it to the nn.CrossEntropyLoss built in its constructor.
# Kind: log-softmax-before-cross-entropy
import torch.nn.functional as F
from torch import nn


class GraphTrainer:
    def __init__(self, model, class_weights=None):
        self.model = model
        if class_weights is None:
            self.loss_func = nn.CrossEntropyLoss()
        else:
            self.loss_func = nn.CrossEntropyLoss(weight=class_weights.float())

    def train_epoch(self, data):
        output = self.model.embed_graph(data.x, data.edge_index, data.batch)
        output = self.model.mlp(output)
        output = F.log_softmax(output, dim=1)  # expect: NNL102
        return self.loss_func(output, data.label)
