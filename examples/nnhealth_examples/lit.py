"""A tiny LightningModule: ``check(module, loader)`` trains it with its own
``training_step`` and ``configure_optimizers``, no Trainer needed."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LitClassifier(L.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(
            nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
        )
        # Lightning's convention; nnlint --fx and check()'s graph analysis read it.
        self.example_input_array = torch.zeros(4, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def make_loader(size: int = 256, batch_size: int = 32) -> DataLoader:
    """Labelled by a fixed rule (which of two features is larger, and by how much)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(size, 8, generator=generator)
    y = (x[:, 0] > x[:, 1]).long() + (x[:, 0] - x[:, 1] > 1).long()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)
