"""A recording hands rules the graph alone: no ``fx.GraphModule`` is built, so no
Python code is generated for it, and tensors the forward reads that are neither
inputs nor state are named ``get_attr`` nodes that carry their value in meta."""

from __future__ import annotations

from unittest import mock

import pytest

torch = pytest.importorskip("torch")

from torch import fx, nn  # noqa: E402

from nnlint.fx.recording import record  # noqa: E402


class PlainAttributes(nn.Module):
    """Two tensors held as plain attributes (not parameters, not buffers)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.mask = torch.ones(6)
        self.shift = torch.zeros(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.mask + self.shift


def test_a_recording_generates_no_python_code() -> None:
    refuse = AssertionError("a recording compiled python code")
    with mock.patch.object(fx.GraphModule, "recompile", side_effect=refuse):
        result = record(PlainAttributes(), (torch.randn(5, 6),))
    assert result.reason is None
    assert result.view is not None
    assert result.view.module is None
    assert result.view.recorded


def test_plain_tensor_attributes_are_numbered_constants_with_their_shapes() -> None:
    result = record(PlainAttributes(), (torch.randn(5, 6),))
    assert result.view is not None
    view = result.view
    constants = {
        str(n.target): view.shape(n)
        for n in view.nodes
        if n.op == "get_attr" and str(n.target).startswith("_tensor_constant")
    }
    assert constants == {"_tensor_constant0": (6,), "_tensor_constant1": (5, 1)}
