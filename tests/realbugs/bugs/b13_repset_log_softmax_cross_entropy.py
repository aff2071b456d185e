# Source: https://github.com/giannisnik/repset/issues/1
# Bug: a set-classification model returns F.log_softmax; its training step calls
#   F.cross_entropy on the output (the author confirmed the double log-softmax).
# Kind: log-softmax-before-cross-entropy
import torch
import torch.nn.functional as F
from torch import nn


class ApproxRepSet(nn.Module):
    def __init__(self, hidden_sets=4, set_size=3, dim=8, classes=5):
        super().__init__()
        self.Wc = nn.Parameter(torch.randn(dim, hidden_sets * set_size))
        self.fc = nn.Linear(hidden_sets, classes)
        self.hidden_sets, self.set_size = hidden_sets, set_size

    def forward(self, x):
        t = F.relu(x @ self.Wc)
        t = t.view(x.size(0), x.size(1), self.hidden_sets, self.set_size)
        t = t.amax(dim=1).sum(dim=2)
        out = self.fc(t)
        return F.log_softmax(out, dim=1)  # expect: NNL102


def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    output = model(x)
    loss = F.cross_entropy(output, y)
    loss.backward()
    optimizer.step()
    return loss


def main(sets, labels, epochs=50):
    model = ApproxRepSet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        train_step(model, optimizer, sets, labels)
