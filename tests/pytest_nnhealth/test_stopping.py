"""budget_s and early_stop: steps that ran, why the run stopped, budget honoured."""

from __future__ import annotations

import time

import pytest

from pytest_nnhealth.training.stopping import Stopper, default_min_steps, steps_text

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.training.health_check import check  # noqa: E402


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 10, generator=g), torch.randint(0, 3, (64,), generator=g)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))


def test_budget_stops_at_the_first_step_ending_past_it():
    ends: list[float] = []

    def slow_step(model, batch):
        time.sleep(0.05)
        ends.append(time.perf_counter())
        x, y = batch
        return F.cross_entropy(model(x), y)

    started = time.perf_counter()
    report = check(
        mlp(), data(), step_fn=slow_step, steps=40, budget_s=0.3, graph=False
    )
    run = report.meta["run"]
    assert run["stopped"] == "budget"
    assert run["planned"] == 40
    assert report.steps == run["steps"] == len(report.losses)
    assert 1 <= report.steps <= 7  # 0.3 s of steps that take >= 0.05 s each
    # The budget is read after a step's backward, update and probes, later than the
    # step function's own end, so the run as a whole lasts at least the budget.
    assert time.perf_counter() - started >= 0.3
    assert len(ends) == report.steps + 1  # the steps and the held batch's loss
    assert len(report.layers["0"].series["act_mean"]) == report.steps
    assert "stopped early: time budget reached" in steps_text(report.steps, report.meta)


def test_early_stop_ends_a_settled_run_after_the_minimum_steps():
    report = check(mlp(), data(), loss_fn=F.cross_entropy, steps=60, early_stop=True,
                   graph=False)  # fmt: skip
    run = report.meta["run"]
    assert run["stopped"] == "settled"
    assert default_min_steps(3) <= report.steps < 60
    assert report.healthy
    assert len(report.losses) == report.steps


def test_early_stop_checkpoints_have_fresh_statistics_and_rank():
    """Verdicts are compared at the checkpoints (every 5th step from 20): each must
    have a fresh value of every sampled quantity, though statistics steps between
    the windows fall every 10th step."""
    from pytest_nnhealth.probes.base import stat_schedule
    from pytest_nnhealth.training.stopping import checkpoints

    points = checkpoints(60, 3, early_stop=True)
    assert 25 in points
    assert 25 not in stat_schedule(60, 3)
    report = check(mlp(), data(), loss_fn=F.cross_entropy, steps=60, early_stop=True,
                   graph=False)  # fmt: skip
    ran = {step for step in points if step < report.steps}
    assert 25 in ran
    for step in ran:
        assert report.layers["0"].series["act_mean"][step] is not None
        assert report.layers["1"].series["dead_fraction"][step] is not None
        assert report.layers["0"].series["rank"][step] is not None


def test_statistics_steps_are_the_windows_and_every_tenth_step():
    from pytest_nnhealth.probes.base import deep_schedule, stat_schedule

    assert stat_schedule(25, 3) == {0, 1, 2, 10, 20, 22, 23, 24}
    assert deep_schedule(25) == {0, 24}
    assert stat_schedule(4, 3) == {0, 1, 2, 3}


def test_without_early_stop_every_step_runs():
    report = check(mlp(), data(), loss_fn=F.cross_entropy, steps=30, graph=False)
    assert report.meta["run"] == {
        "steps": 30, "planned": 30, "stopped": "steps", "budget_s": None,
        "early_stop": False,
    }  # fmt: skip
    assert steps_text(report.steps, report.meta) == "30"


@pytest.mark.parametrize("budget", [0, -1.0, "2", True])
def test_bad_budget_is_a_clear_error(budget):
    with pytest.raises(ValueError, match="budget_s must be a number of seconds > 0"):
        check(mlp(), data(), loss_fn=F.cross_entropy, budget_s=budget)


def test_bad_early_stop_is_a_clear_error():
    with pytest.raises(TypeError, match="early_stop must be True or False"):
        check(mlp(), data(), loss_fn=F.cross_entropy, early_stop="yes")


def stopper(verdicts: list[frozenset]) -> Stopper:
    calls = iter(verdicts)
    return Stopper(
        budget_s=None, early_stop=True, window=3, checkpoints=range(100),
        verdict=lambda _: next(calls), min_steps=4,
    )  # fmt: skip


def falling(n: int) -> list[float]:
    return [1.0 / (i + 1) for i in range(n)]


def test_settled_needs_the_same_verdict_a_window_apart():
    same = frozenset({("dead_units", "net.1")})
    decide = stopper([same] * 10)
    reasons = [decide.after_step(s, lambda s=s: falling(s + 1), dict) for s in range(8)]
    # Checkpoints from step 3 (4 steps); the first comparison a window later, at 6.
    assert reasons == [None] * 6 + ["settled", "settled"]


def test_a_changing_verdict_or_a_rising_loss_is_not_settled():
    a, b = frozenset({("dead_units", "x")}), frozenset()
    decide = stopper([a, b, a, b, a, b, a, b])
    assert all(
        decide.after_step(s, lambda s=s: falling(s + 1), dict) is None
        for s in range(3, 11)
    )
    rising = stopper([a] * 10)
    losses = [1.0, 0.5, 0.4, 0.3, 0.35, 0.6, 0.9, 1.2, 1.5, 2.0]
    assert all(
        rising.after_step(s, lambda s=s: losses[: s + 1], dict) is None
        for s in range(3, 10)
    )
