# Source: https://github.com/zjunlp/DeepKE/issues/21
# Bug: a relation-classification model ends with a ReLU after its output layer and
#   is trained with nn.CrossEntropyLoss.
# Kind: activation-on-logits
# Graph: make_model
import torch
from torch import nn


class RelationCNN(nn.Module):
    def __init__(self, vocab=300, dim=24, relations=7):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, 32, 3, padding=1)
        self.fc1 = nn.Linear(32, 32)
        self.fc2 = nn.Linear(32, relations)
        self.act = nn.ReLU()

    def forward(self, tokens):
        h = self.conv(self.embed(tokens).transpose(1, 2)).amax(dim=2)
        h = self.act(self.fc1(h))
        out = self.act(self.fc2(h))  # expect: NNL107  expect-fx: NNL610
        return out


def train_epoch(model, loader, optimizer):
    criterion = nn.CrossEntropyLoss()
    for tokens, label in loader:
        optimizer.zero_grad()
        loss = criterion(model(tokens), label)
        loss.backward()
        optimizer.step()


def make_model():
    tokens = torch.randint(0, 300, (2, 9))
    return RelationCNN(), (tokens, torch.tensor([0, 6])), nn.CrossEntropyLoss()
