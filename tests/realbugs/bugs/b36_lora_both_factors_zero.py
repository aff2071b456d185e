# Source: https://github.com/nvidia-cosmos/cosmos-predict2.5/pull/15
# Bug: LoRA factors are added before the model's weight init runs, which zeroes
#   every linear weight, so lora_A and lora_B are both zero and nothing trains.
# Kind: zero-init-stacked-layers
import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))


class Block(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.proj = LoRALinear(nn.Linear(dim, dim))

    def init_weights(self):
        nn.init.zeros_(self.proj.lora_A.weight)  # expect: NNL201
        nn.init.zeros_(self.proj.lora_B.weight)
