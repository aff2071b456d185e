"""bench/norm_fed.py: which small-drawn wide layers feed a normalisation, seen at one
forward (the instrument behind the ``normfree`` candidate of the default optimizer's
bench)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.norm_fed import (  # noqa: E402
    factored_layers,
    normalised_weights,
    scale_invariant,
)

WIDTH = 256


class UnitRows(nn.Module):
    """A normalisation of no known class: each row over its RMS, times a gain."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x * x.pow(2).mean(-1, keepdim=True).add(1e-6).rsqrt()


class Tail(nn.Module):
    """A small-drawn wide Linear whose output reaches ``after`` flattened to rows of
    16 (LeViT's Linear then BatchNorm1d over ``flatten(0, 1)``)."""

    def __init__(self, after: nn.Module, width: int = WIDTH) -> None:
        super().__init__()
        self.inner = nn.Linear(8, width)
        self.wide = nn.Linear(width, width)
        nn.init.normal_(self.wide.weight, std=0.02)  # ~0.55 of PyTorch's RMS
        self.after = after
        self.head = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.wide(torch.relu(self.inner(x)))
        rows = h.view(h.shape[0], -1, 16).flatten(0, 1)
        return self.head(self.after(rows).reshape(h.shape))


def _fed(model: nn.Module) -> bool:
    assert factored_layers(model) == [model.wide]  # the only small-drawn wide layer
    found = normalised_weights(model, torch.randn(8, 8))
    assert found <= {id(model.wide.weight), id(model.wide.bias)}
    return id(model.wide.weight) in found


@pytest.mark.parametrize(
    "norm", [nn.BatchNorm1d(16), nn.LayerNorm(16), UnitRows(16), nn.GroupNorm(4, 16)]
)
def test_a_layer_whose_flattened_output_enters_a_norm_feeds_it(norm: nn.Module) -> None:
    torch.manual_seed(0)
    model = Tail(norm)
    assert _fed(model)
    if isinstance(norm, nn.BatchNorm1d):  # the forward ran in eval mode
        assert int(norm.num_batches_tracked) == 0
    assert model.training


@pytest.mark.parametrize("after", [nn.Identity(), nn.GELU(), nn.Linear(16, 16)])
def test_the_same_layer_before_no_norm_does_not(after: nn.Module) -> None:
    torch.manual_seed(0)
    assert not _fed(Tail(after))


class AddedFirst(Tail):
    """The wide output is written in place (``+=``) before the norm reads it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.inner(x)
        h = self.wide(torch.relu(base))
        h += base
        return self.head(self.after(h))


class Sliced(Tail):
    """Only half the wide output is normalised (q of a fused q/v projection)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.wide(torch.relu(self.inner(x)))
        q, v = h.chunk(2, dim=-1)
        return self.head(torch.cat([self.after(q), v], -1))


def test_a_norm_reading_a_sum_or_a_slice_is_not_fed_by_the_layer() -> None:
    torch.manual_seed(0)
    assert not _fed(AddedFirst(nn.LayerNorm(WIDTH)))
    assert not _fed(Sliced(nn.LayerNorm(WIDTH // 2)))


def test_scale_invariance_leaves_buffers_and_rng_alone() -> None:
    norm, x = nn.BatchNorm1d(16), torch.randn(32, 16) * 3
    state = torch.random.get_rng_state()
    assert scale_invariant(norm, x)
    assert int(norm.num_batches_tracked) == 0
    assert torch.equal(norm.running_mean, torch.zeros(16))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not scale_invariant(nn.Dropout(0.5), x)  # homogeneous, not invariant
    assert not scale_invariant(nn.Tanh(), x)
    assert not scale_invariant(nn.Sequential(nn.LayerNorm(16)), x)  # leaves only
