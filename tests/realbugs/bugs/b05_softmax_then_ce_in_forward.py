# Source: https://github.com/bkitano/llama-from-scratch/issues/5
# Bug: a tiny language model computes softmax over the vocabulary, names it
#   "logits" and passes it to F.cross_entropy inside forward.
# Kind: softmax-before-cross-entropy
import torch.nn.functional as F
from torch import nn


class TinyLM(nn.Module):
    def __init__(self, vocab=100, d_model=32):
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, vocab)
        )

    def forward(self, idx, targets=None):
        scores = self.mlp(self.embed(idx))
        logits = F.softmax(scores, dim=-1)  # expect: NNL101
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(-1, self.vocab), targets.view(-1))
        return logits, loss
