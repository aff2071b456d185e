# Source: https://github.com/yudi-mars/daisyRec/pull/15
# Bug: a recommender model applies sigmoid to its prediction and trains it with
#   nn.BCEWithLogitsLoss ("otherwise loss does not converge").
# Kind: sigmoid-before-bce-with-logits
# Graph: make_model
import torch
from torch import nn


class NeuMF(nn.Module):
    def __init__(self, users=50, items=80, factors=8):
        super().__init__()
        self.user = nn.Embedding(users, factors)
        self.item = nn.Embedding(items, factors)
        self.predict_layer = nn.Linear(factors, 1)

    def forward(self, u, i):
        h = self.user(u) * self.item(i)
        pred = self.predict_layer(h).view(-1)
        return torch.sigmoid(pred)  # expect: NNL105  expect-fx: NNL610


def fit(model, batches):
    criterion = nn.BCEWithLogitsLoss(reduction="sum")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for u, i, label in batches:
        loss = criterion(model(u, i), label.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def make_model():
    u, i = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    return NeuMF(), ((u, i), torch.tensor([1.0, 0.0, 1.0])), nn.BCEWithLogitsLoss()
