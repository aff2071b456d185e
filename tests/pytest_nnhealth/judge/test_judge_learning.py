"""The held batch's loss: a rise after training on that batch is read as steps too
large, a standstill as steps too small or no gradient (docs/health/learning.md).
Records built by hand (no torch)."""

from __future__ import annotations

import pytest

from pytest_nnhealth.judge.core import judge
from pytest_nnhealth.judge.hints import hint
from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

# timm NesT-T at seed 2 under Adam lr 1e-3 without warm-up (unseen wave 2): the loss
# swings between 1.5 and 2.8, then climbs; the held batch ends at 3.97 from 2.28,
# below loss_divergence's 3x. At lr 1e-4 the same run falls to 0.04.
SWINGING = [2.28, 2.60, 2.79, 2.36, 1.74, 1.53, 1.60, 1.71, 1.99, 1.55, 1.90, 1.68]
SWINGING += [1.83, 1.80, 1.93, 1.69, 1.93, 2.74, 1.61, 1.71, 1.77, 2.36, 3.80, 3.45]


def _run(losses: list[float], held_after: float) -> RunResult:
    return RunResult({}, losses, (losses[0], held_after), [], [], [])


def test_a_loss_that_rose_on_its_own_batch_points_at_too_large_steps():
    [found] = judge(_run(SWINGING, 3.97), Thresholds())
    assert found.check == "no_learning"
    assert found.value == pytest.approx((2.28 - 3.97) / 2.28)
    assert found.message.startswith(
        "no_learning in the model: held-batch loss 2.28 -> 3.97 (drop -74.12%)"
    )
    assert "steps too large for the model, not too small" in found.hint
    assert found.message.endswith(found.hint)
    assert "learning rate too low" not in found.message


def test_a_loss_that_stood_still_keeps_the_too_small_reading():
    flat = [2.30] * 24
    # a little below, and a little above (within the 1% margin: noise, not a rise)
    for after in (2.295, 2.305):
        [found] = judge(_run(flat, after), Thresholds())
        assert found.check == "no_learning"
        assert found.hint == hint("no_learning")
        assert "learning rate too low" in found.message
