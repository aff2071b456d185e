"""Graph mode on keyword inputs (``model(**batch)``): parameters left out are fixed at
their defaults for symbolic tracing, export gets the keywords, findings keep their
lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from nnlint.fx import analyze_model  # noqa: E402
from nnlint.fx.inputs import example_inputs  # noqa: E402

# The softmax is applied only when `labels` is None: with labels given (a training
# batch) the model returns its loss, so NNL610 must stay silent; without them the
# inference branch feeds probabilities to the configured loss.
SELF_LOSS = """\
import torch
from torch import nn
import torch.nn.functional as F


class SelfLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(16, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask=None, scale=2.0, labels=None):
        h = self.embed(input_ids) * scale
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        logits = self.head(h.mean(1))
        if labels is None:
            return logits.softmax(-1)
        return F.cross_entropy(logits, labels)
"""


class Model(nn.Module):
    def forward(
        self, x: Any, mask: Any = None, scale: float = 2.0, y: Any = None
    ) -> Any:
        return x


def test_left_out_parameters_are_fixed_at_their_defaults() -> None:
    x, y = torch.zeros(2, 3), torch.zeros(2)
    inputs = example_inputs(Model(), {"y": y, "x": x})
    assert inputs.concrete == {"mask": None, "scale": 2.0}
    assert inputs.keywords == {"x": x, "y": y}  # forward's order
    assert [type(a).__name__ for a in inputs.args] == [
        "Tensor", "NoneType", "float", "Tensor"
    ]  # fmt: skip
    with pytest.raises(TypeError, match="no parameter"):
        example_inputs(Model(), {"x": x, "bogus": y})


def test_keyword_batch_with_labels_traces_the_training_branch(
    example: Callable[[str], Any],
) -> None:
    module = example(SELF_LOSS)
    ids = torch.zeros(4, 5, dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": torch.ones(4, 5)}
    loss = nn.CrossEntropyLoss()
    found = analyze_model(module.SelfLoss(), batch, loss)
    assert [(f.code, f.line) for f in found] == [("NNL610", 18)]
    labelled = {**batch, "labels": torch.zeros(4, dtype=torch.long)}
    assert analyze_model(module.SelfLoss(), labelled, loss) == []
