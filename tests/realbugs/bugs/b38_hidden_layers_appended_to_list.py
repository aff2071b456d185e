# Source: https://github.com/pytorch/pytorch/issues/715
# Bug: an NLI model appends [Linear, activation] pairs to a plain list attribute in
#   a loop; their parameters are not part of the model.
# Kind: unregistered-submodules
from torch import nn


class SNLINet(nn.Module):
    def __init__(self, n_layers=2, n_hid=64):
        super().__init__()
        self.hids = []  # expect: NNL303
        for _ in range(n_layers):
            self.hids.append([nn.Linear(n_hid, n_hid), nn.Tanh()])
        self.classifier = nn.Linear(n_hid, 3)

    def forward(self, x):
        for linear, act in self.hids:
            x = act(linear(x))
        return self.classifier(x)
