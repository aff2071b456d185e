# Source: https://github.com/nishnik/Deep-Semantic-Similarity-Model-PyTorch/issues/2
# Bug: a DSSM-style model ends in an nn.Softmax layer held as an attribute and is
#   trained with nn.CrossEntropyLoss (the author confirmed it was a mistake).
# Kind: softmax-before-cross-entropy
# Graph: make_model
import torch
from torch import nn


class SemanticSimilarity(nn.Module):
    def __init__(self, features=64, negatives=4):
        super().__init__()
        self.query = nn.Linear(features, 32)
        self.doc = nn.Linear(features, 32)
        self.gamma = nn.Parameter(torch.ones(1))
        self.prob = nn.Softmax(dim=1)
        self.negatives = negatives

    def forward(self, q, docs):
        qv = torch.tanh(self.query(q))
        dv = torch.tanh(self.doc(docs))
        scores = torch.einsum("bd,bnd->bn", qv, dv) * self.gamma
        return self.prob(scores)  # expect: NNL101  expect-fx: NNL610


def fit(model, batches):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters())
    for q, docs, target in batches:
        loss = criterion(model(q, docs), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def make_model():
    q, docs = torch.randn(2, 64), torch.randn(2, 5, 64)
    return SemanticSimilarity(), ((q, docs), torch.tensor([0, 0])), nn.CrossEntropyLoss()
