# Source: https://github.com/reczoo/FuxiCTR/issues/23
# Bug: MaskNet's embedding LayerNorm is built as LayerNorm([num_fields, dim]), which
#   normalises across all fields together instead of each field's embedding.
# Kind: norm-over-wrong-axes
from torch import nn


class MaskNetEmbedding(nn.Module):
    def __init__(self, num_fields=10, embedding_dim=16):
        super().__init__()
        self.embedding = nn.Embedding(1000, embedding_dim)
        self.emb_norm = nn.LayerNorm([num_fields, embedding_dim])

    def forward(self, field_ids):
        emb = self.embedding(field_ids)  # (batch, num_fields, embedding_dim)
        return self.emb_norm(emb)  # expect: NNL402
