# Source: https://github.com/pytorch/pytorch/issues/1053
# Bug: three Conv1d layers with different kernel sizes are stored in a list literal;
#   .cuda() leaves them on the CPU because they are not registered.
# Kind: unregistered-submodules
import torch
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, word_vec_size=50):
        super().__init__()
        self.conv1d = [  # expect: NNL303
            nn.Conv1d(word_vec_size, 1, 3),
            nn.Conv1d(word_vec_size, 1, 4),
            nn.Conv1d(word_vec_size, 1, 5),
        ]

    def forward(self, x):
        return torch.cat([conv(x).amax(dim=2) for conv in self.conv1d], dim=1)
