# Source: https://github.com/linnaeushuang/pensieve-pytorch/issues/4
# Bug: an actor network calls F.softmax without dim (implicit dimension choice).
# Kind: softmax-without-dim
import torch
import torch.nn.functional as F
from torch import nn


class ActorNetwork(nn.Module):
    def __init__(self, state_dim=6, actions=6):
        super().__init__()
        self.fc = nn.Linear(state_dim, 128)
        self.outputLayer = nn.Linear(128, actions)

    def forward(self, x):
        fcOutput = F.relu(self.fc(x))
        out = F.softmax(self.outputLayer(fcOutput))  # expect: NNL108
        return out


def act(actor, state):
    with torch.no_grad():
        return torch.multinomial(actor(state), 1)
