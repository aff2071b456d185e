# Source: https://github.com/microsoft/LoRA/issues/76
# Near-miss: a LoRA embedding zero-initialises A and draws B from a normal; one of
#   the two factors being zero is enough (the author's reply), so it trains.
import torch
from torch import nn


class LoRAEmbedding(nn.Embedding):
    def __init__(self, num_embeddings=100, embedding_dim=16, r=4):
        super().__init__(num_embeddings, embedding_dim)
        self.lora_A = nn.Parameter(self.weight.new_zeros((r, num_embeddings)))
        self.lora_B = nn.Parameter(self.weight.new_zeros((embedding_dim, r)))
        self.reset_lora()

    def reset_lora(self):
        nn.init.zeros_(self.lora_A)
        nn.init.normal_(self.lora_B)

    def forward(self, ids):
        after_a = nn.functional.embedding(ids, self.lora_A.t())
        return super().forward(ids) + after_a @ self.lora_B.t()


def build():
    return LoRAEmbedding(), torch.arange(4)
