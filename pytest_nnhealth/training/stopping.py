"""When a check stops stepping before ``steps``: a time budget, or early stop once
every judged quantity has settled.

**Budget.** After each step, stop when the run's stepping time has reached
``budget_s``: the budget is overrun by at most the step in progress.

**Settled.** The judge reads state quantities on their last ``window`` measured values
and events on the worst single step, so more steps can change its verdict only if (a) a
state quantity crosses its bound, or (b) an event (a divergence, a too-large update)
is still to come. Checked at the statistics steps (where every quantity has a fresh
value), from ``min_steps`` on:

* the judge's verdict (the set of ``(symptom, module)``) on the steps so far equals its
  verdict at the previous checkpoint, at least ``window`` steps earlier: every trailing
  window has moved on without changing a verdict;
* the loss is not rising: the last ``window`` losses all stay below the lowest loss
  before them, so no divergence is under way.

``min_steps`` rests on the judge's own windows and on the divergence evidence: a module
starting at zero weights has its first ``2 * window`` updates left out of the
update-ratio rule and needs ``window`` judged ones after them (``3 * window``);
zero-gradient and no-learning rules need ``2 * window``; and a divergence can first
show after 20 steps (DESIGN.md), which the zoo confirmed. The calibration that sets it
(and whether early stop is on by default) is in docs/check.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

Verdict = frozenset[tuple[str, str]]


# DESIGN.md: "a divergence can first appear after 20 steps"; the zoo's slow divergence
# (loss falling for ~12 steps, then rising) was lost at 2 of 3 seeds with early stop
# allowed from step 9 (docs/check.md).
DIVERGENCE_STEPS = 20


def default_min_steps(window: int) -> int:
    return max(3 * window, DIVERGENCE_STEPS)


class Stopper:
    """Decides after each step whether to stop; ``reason`` says why it did."""

    def __init__(
        self,
        *,
        budget_s: float | None,
        early_stop: bool,
        window: int,
        checkpoints: Collection[int],
        verdict: Callable[[Any], Verdict],
        min_steps: int | None = None,
    ) -> None:
        self.budget_s = budget_s
        self.early_stop = early_stop
        self.window = window
        self.checkpoints = checkpoints
        self.verdict = verdict
        self.min_steps = default_min_steps(window) if min_steps is None else min_steps
        self.started = time.perf_counter()
        self._history: list[tuple[int, Verdict]] = []

    def after_step(
        self, step: int, losses: Callable[[], list[float]], partial: Callable[[], Any]
    ) -> str | None:
        """``"budget"`` or ``"settled"`` to stop after ``step``, else None.
        ``partial()`` builds the run result so far (only called at checkpoints)."""
        if (
            self.budget_s is not None
            and time.perf_counter() - self.started >= self.budget_s
        ):
            return "budget"
        if not self.early_stop or step + 1 < self.min_steps:
            return None
        if step not in self.checkpoints:
            return None
        if not self._loss_settled(losses()):
            self._history.clear()
            return None
        verdict = self.verdict(partial())
        earlier = [v for s, v in self._history if s <= step - self.window]
        self._history.append((step, verdict))
        return "settled" if earlier and earlier[-1] == verdict else None

    def _loss_settled(self, losses: list[float]) -> bool:
        head, tail = losses[: -self.window], losses[-self.window :]
        if not head or not tail:
            return False
        if any(v != v for v in losses):  # NaN: already a finding, nothing to wait for
            return True
        return max(tail) < min(head)


# Set from the calibration in docs/check.md ("Early stop"): on by default only if it
# loses no detection of the calibration zoo's broken models.
DEFAULT_EARLY_STOP = False


def validate(budget_s: Any, early_stop: Any) -> None:
    if budget_s is not None and (
        isinstance(budget_s, bool)
        or not isinstance(budget_s, (int, float))
        or not budget_s > 0
    ):
        raise ValueError(
            f"check(): budget_s must be a number of seconds > 0 or None, got "
            f"{budget_s!r}"
        )
    if not isinstance(early_stop, bool):
        raise TypeError(
            f"check(): early_stop must be True or False, got {early_stop!r}"
        )


def checkpoints(steps: int, window: int, early_stop: bool) -> frozenset[int]:
    """Steps where early stop compares verdicts: every 5th step (at least ``window``
    apart) from ``min_steps`` on, and only when two fit in the run (one comparison
    needs two). The runner makes them statistics and deep steps too (statistics
    steps between the windows fall only every 10th step), so each compared verdict
    has fresh values of every judged quantity."""
    if not early_stop:
        return frozenset()
    first = default_min_steps(window)
    spacing = 5 * -(-window // 5)  # a multiple of 5
    found = frozenset(range(-(-first // spacing) * spacing, steps - 1, spacing))
    return found if len(found) >= 2 else frozenset()


class StopRule:
    """What check() asked for; ``new()`` gives each run (seed) its own Stopper."""

    def __init__(
        self, budget_s: float | None, early_stop: bool, steps: int, seeds: int,
        limits: Any,
    ) -> None:  # fmt: skip
        self.budget_s = None if budget_s is None else budget_s / seeds
        self.early_stop = early_stop
        self.limits = limits
        self.checkpoints = checkpoints(steps, limits.window, early_stop)

    def new(self) -> Stopper:
        from pytest_nnhealth.judge.core import judge

        limits = self.limits

        def verdict(result: Any) -> Verdict:
            return frozenset((f.check, f.module) for f in judge(result, limits))

        return Stopper(
            budget_s=self.budget_s,
            early_stop=bool(self.checkpoints),
            window=limits.window,
            checkpoints=self.checkpoints,
            verdict=verdict,
        )


def factory(
    budget_s: float | None, early_stop: bool, steps: int, seeds: int, limits: Any
) -> StopRule | None:
    """A rule for check()'s runs; each seed's run gets ``budget_s / seeds``."""
    if budget_s is None and not early_stop:
        return None
    return StopRule(budget_s, early_stop, steps, seeds, limits)


_REASONS = {
    "budget": "time budget reached",
    "settled": "every judged quantity settled",
}


def steps_text(steps: int, meta: dict[str, Any]) -> str:
    """``"25"``, or ``"16 of 25 (stopped early: every judged quantity settled)"``."""
    run = meta.get("run") or {}
    reason = _REASONS.get(run.get("stopped", ""))
    if reason is None:
        return str(steps)
    return f"{steps} of {run.get('planned', '?')} (stopped early: {reason})"
