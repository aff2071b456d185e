"""Where the backward chain loses its gradient, for the ``vanishing_gradients`` hint.

A first/last gradient ratio says *that* the first layer gets little gradient, not
*where* it was lost. Walking the parameter owners from the loss towards the input, the
gradient that reaches a module is bounded by what any module before it receives; the
drop at a point of the chain is therefore measured on the running maximum from the
input side (the envelope), not on two neighbours alone. A module with few parameters
(a bias-only layer) has a small gradient norm, and a parallel branch (a shortcut
conv) may carry little of the signal: the envelope steps over both, as a module
before them has the larger gradient again. Arithmetic on the measured series only
(no torch); the caller chooses the chain (signal_rules leaves out normalisations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_nnhealth.judge.base import Values, fmt


@dataclass(frozen=True)
class Drop:
    """The largest loss of gradient between two consecutive parameter owners.

    ``later`` is nearer the loss, ``earlier`` the next owner towards the input;
    ``factor`` the most any owner up to ``earlier`` receives, as a share of what
    ``later`` receives.
    """

    later: str
    earlier: str
    factor: float

    def sentence(self) -> str:
        return (
            f"the largest drop is x{fmt(self.factor)}, "
            f"between `{self.later}` and `{self.earlier}`"
        )


def level(values: Values, steps: list[int]) -> float | None:
    """Geometric mean of a module's non-zero gradient norms over ``steps``; 0.0 when
    every measured value is zero, None when none was measured. A zero on some steps
    only is a module skipped on those steps (wav2vec 2.0's layer drop), not a level."""
    measured = [v for s in steps if s < len(values) and (v := values[s]) is not None]
    if not measured:
        return None
    positive = [v for v in measured if v > 0]
    if not positive:
        return 0.0
    return math.exp(sum(math.log(v) for v in positive) / len(positive))


def largest_drop(levels: list[tuple[str, float]]) -> Drop | None:
    """The largest drop along ``levels`` (owner, gradient norm) in forward order, or
    None when no owner nearer the loss has a larger gradient than every owner
    before it (nothing is lost on the way back)."""
    drops: list[tuple[str, str, float]] = []
    envelope = -1.0
    for i, (name, value) in enumerate(levels):
        if i and value > envelope:
            drops.append((name, levels[i - 1][0], envelope / value))
        envelope = max(envelope, value)
    return Drop(*min(drops, key=lambda d: d[2])) if drops else None
