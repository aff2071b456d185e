"""A classifier head started at zero under the default optimizer: the head's
own gradient is the loss's error times its input, while what it hands to the body
(and its own norm) grows from zero at its fan-in rate (4096 inputs: 1.6e-5). Neither
the first/last gradient ratio against it nor its gradient relative to its weights
then says anything about the model (docs/health/gradient_norms.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pytest_nnhealth import HealthReport, check

WIDE = 4096  # the head's fan-in


def run(body: list[nn.Module]) -> HealthReport:
    """``body``, a Linear to ``WIDE`` units, a LayerNorm and a zero head, checked on
    one batch drawn after it (the caller seeds before building ``body``)."""
    wide = nn.Linear(64, WIDE)
    head = nn.Linear(WIDE, 10)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model = nn.Sequential(*body, wide, nn.ReLU(), nn.LayerNorm(WIDE), head)
    x, y = torch.randn(8, 32), torch.randint(0, 10, (8,))
    return check(model, (x, y), loss_fn=F.cross_entropy, seed=0, graph=False)


def last_three(report: HealthReport, module: str, quantity: str) -> list[float]:
    values = report.layers[module].series[quantity][-3:]
    return [v for v in values if v is not None]


def test_a_healthy_body_behind_a_zero_head_is_clean() -> None:
    torch.manual_seed(0)
    report = run([nn.Linear(32, 64), nn.ReLU()])
    assert [f.check for f in report.findings if f.severity == "error"] == []
    first, widest, head = (last_three(report, n, "grad_norm") for n in "025")
    # The traps are there: against the head alone the first layer's share is below
    # the 1e-3 floor on the last steps, and the head's ||g||/||w|| above the 100 cap,
    # while the first layer gets most of what the body's widest Linear gets.
    assert all(a / b < 1e-3 for a, b in zip(first, head, strict=True))
    assert min(last_three(report, "5", "grad_relative")) > 100
    assert all(a / b > 0.3 for a, b in zip(first, widest, strict=True))
    assert report.losses[-1] < 0.5 * report.losses[0]


def test_a_body_that_loses_its_gradient_behind_a_zero_head_is_reported() -> None:
    torch.manual_seed(0)
    body: list[nn.Module] = [nn.Linear(32, 64)]
    for _ in range(8):  # each sigmoid passes at most 1/4 of the gradient back
        body += [nn.Sigmoid(), nn.Linear(64, 64)]
    report = run(body)
    found = report.by_check("vanishing_gradients")
    assert [f.module for f in found] == ["0"]
    assert found[0].value is not None
    assert found[0].value < 1e-5
