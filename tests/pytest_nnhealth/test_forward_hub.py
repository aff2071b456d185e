"""The probes' module watches go through one forward hook per sampled step
(probes/forward_hub.py)."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.modules import module as module_globals  # noqa: E402

from pytest_nnhealth import check  # noqa: E402


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 8, generator=generator), torch.arange(16) % 4


SEEN: list[tuple[int, int]] = []  # module-level: the check trains a deep copy


class Counting(nn.Module):
    """Records, on each forward, how many forward hooks its layers and the process
    carry (the check's hooks are on for the step that runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        own = sum(len(m._forward_hooks) for m in self.body.modules())
        SEEN.append((own, len(module_globals._global_forward_hooks)))
        return self.body(x)


def test_a_sampled_step_hooks_once_for_all_probes_and_a_plain_step_not_at_all() -> None:
    SEEN.clear()
    report = check(Counting(), batch(), loss_fn=F.cross_entropy, steps=25, graph=False)
    assert report.layers["body.0"].series["act_mean"][24] is not None
    assert len(SEEN) == 26  # 25 steps, then the held batch's forward
    statistics = {0, 1, 2, 10, 20, 22, 23, 24}
    deep = {0, 24}
    for step, (own, shared) in enumerate(SEEN[:25]):
        # Step 0 also carries the attention probe's search hooks (every module, the
        # first sampled step only); no probe hooks the layers one by one.
        assert step == 0 or own == 0, step
        assert shared == (1 if step in statistics | deep else 0), step
    assert SEEN[25] == (0, 0)


class Doubling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def _double(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return output * 2 + 3


def test_a_users_hook_that_replaces_an_output_is_read_after_it_ran() -> None:
    """Global hooks run before a module's own; a module with hooks of its own is
    hooked directly, after them, so the probes read what the user's hook returned."""
    model = Doubling()
    model.inner.register_forward_hook(_double)
    data = batch()
    report = check(model, data, loss_fn=F.cross_entropy, steps=1, graph=False)
    expected = model.inner(data[0]).detach()  # with the user's hook: * 2 + 3
    mean = report.layers["inner"].series["act_mean"][0]
    assert mean == pytest.approx(float(expected.mean()), rel=1e-5)
    assert mean > 2  # not the Linear's own output (mean ~0)
