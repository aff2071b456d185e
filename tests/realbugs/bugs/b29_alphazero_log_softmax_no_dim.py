# Source: https://github.com/suragnair/alpha-zero-general/issues/5
# Bug: a policy/value network returns F.log_softmax(pi) without dim.
# Kind: softmax-without-dim
import torch
import torch.nn.functional as F
from torch import nn


class GameNet(nn.Module):
    def __init__(self, board=36, actions=37):
        super().__init__()
        self.fc1 = nn.Linear(board, 64)
        self.fc_pi = nn.Linear(64, actions)
        self.fc_v = nn.Linear(64, 1)

    def forward(self, s):
        s = F.relu(self.fc1(s))
        pi = self.fc_pi(s)
        v = self.fc_v(s)
        return F.log_softmax(pi), torch.tanh(v)  # expect: NNL108
