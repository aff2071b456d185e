# Source: https://github.com/cvg/glue-factory/issues/89
# Near-miss: a confidence head is Sequential(Linear, Sigmoid) for inference, but
#   the loss indexes its first element (the Linear) and feeds raw logits to
#   BCEWithLogitsLoss.
import torch
from torch import nn


class TokenConfidence(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.token = nn.Sequential(nn.Linear(dim, 1), nn.Sigmoid())
        self.loss_fn = nn.BCEWithLogitsLoss(reduction="none")

    def forward(self, desc):
        return self.token(desc.detach()).squeeze(-1)

    def loss(self, desc, correct):
        logit = self.token[0](desc.detach()).squeeze(-1)
        return self.loss_fn(logit, correct.float()).mean(-1)


def confidence_loss(head, desc, correct):
    with torch.no_grad():
        _ = head(desc)
    return head.loss(desc, correct)
