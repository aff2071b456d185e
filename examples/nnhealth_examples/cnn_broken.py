"""Broken variants of the CNN classifier.

* ``SoftmaxTailCNN``: ends in an ``nn.Softmax`` held as ``self.act``, trained with
  ``nn.CrossEntropyLoss`` (``factories.py``). Activation statistics look normal; only
  the graph (``nnlint --fx`` or the graph rules in ``check()``) shows it feeds the loss.
* ``DeadReluCNN``: its hidden layer starts with a large negative bias, so the ReLU after
  it outputs zero for every input: dead units that ``check()`` measures.
"""

from __future__ import annotations

import torch
from torch import nn

from nnhealth_examples.cnn import SmallCNN


class SoftmaxTailCNN(SmallCNN):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__(num_classes, width)
        self.act = nn.Softmax(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = super().forward(images)
        return self.act(logits)


class DeadReluCNN(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.hidden = nn.Linear(16 * width, 64)
        self.relu = nn.ReLU()
        self.head = nn.Linear(64, num_classes)
        with torch.no_grad():
            self.hidden.bias.fill_(-8.0)
        self.example_input_array = torch.zeros(2, 3, 16, 16)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.hidden(self.features(images))))
