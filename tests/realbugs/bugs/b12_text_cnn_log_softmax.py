# Source: https://github.com/DSKSD/DeepNLP-models-Pytorch/issues/11
# Bug: a CNN text classifier returns log_softmax from forward; the training loop
#   uses nn.CrossEntropyLoss on that output.
# Kind: log-softmax-before-cross-entropy
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class CNNClassifier(nn.Module):
    def __init__(self, vocab=500, dim=32, classes=2, kernel_sizes=(3, 4, 5)):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.convs = nn.ModuleList([nn.Conv2d(1, 8, (k, dim)) for k in kernel_sizes])
        self.fc = nn.Linear(8 * len(kernel_sizes), classes)

    def forward(self, tokens):
        x = self.embedding(tokens).unsqueeze(1)
        pooled = [F.relu(c(x)).squeeze(3).amax(dim=2) for c in self.convs]
        logits = self.fc(torch.cat(pooled, dim=1))
        return F.log_softmax(logits, dim=1)  # expect: NNL102  expect-fx: NNL610


def train(model, batches):
    loss_function = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for tokens, targets in batches:
        model.zero_grad()
        loss = loss_function(model(tokens), targets)
        loss.backward()
        optimizer.step()


def make_model():
    tokens = torch.randint(0, 500, (2, 12))
    return CNNClassifier(), (tokens, torch.tensor([0, 1])), nn.CrossEntropyLoss()
