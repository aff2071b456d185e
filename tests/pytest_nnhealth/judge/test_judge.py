"""The judge on synthetic measurements: windows, first steps, messages.

Records are built by hand: this module and the judge import no torch
(test_torch_free.py checks both in a fresh interpreter).
"""

from __future__ import annotations

import math

import pytest

from pytest_nnhealth.judge.core import first_bad, judge, trailing_run
from pytest_nnhealth.judge.records import LayerStats, NonfiniteEvent, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds


def result(series: dict[str, tuple[str, dict]], losses=None, held=None, **measured):
    layers = {
        name: LayerStats(name, kind, values) for name, (kind, values) in series.items()
    }
    losses = losses or [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    return RunResult(
        layers=layers,
        losses=losses,
        held_loss=held or (losses[0], losses[-1]),
        order=list(series),
        leaves=list(series),
        param_modules=[n for n, (_, v) in series.items() if "grad_norm" in v],
        **measured,
    )


def test_trailing_run_needs_the_whole_window():
    bad = lambda v: v > 0.4  # noqa: E731
    assert trailing_run([0.9, 0.9, 0.9, 0.1, 0.1], bad, 3) is None  # recovered
    assert trailing_run([0.1, 0.9, 0.1, 0.9, 0.9], bad, 3) is None  # not 3 in a row
    assert trailing_run([0.1, 0.5, 0.8, 0.9, 0.81], bad, 3) == (1, 0.81)
    assert trailing_run([None, 0.9, None, 0.9], bad, 3) == (1, 0.9)  # sampled steps
    assert trailing_run([None, None], bad, 3) is None


def test_first_bad_reports_first_step_and_worst_value():
    assert first_bad([0.1, 0.6, 2.0, 0.7], lambda v: v > 0.5) == (1, 2.0)
    assert first_bad([0.1, None], lambda v: v > 0.5) is None


def test_dead_units_message_matches_the_design_example():
    dead = [0.1, 0.81, 0.81, 0.81, 0.81, 0.81]
    [found] = judge(result({"net.4": ("ReLU", {"dead_fraction": dead})}), Thresholds())
    assert found.message == (
        "dead_units in `net.4` (ReLU): 0.81 of units dead from step 1, healthy < 0.40; "
        "learning rate too high or negative bias init; lower lr, use LeakyReLU/GELU, "
        "or add normalisation"
    )
    assert (found.check, found.module, found.value, found.step) == (
        "dead_units",
        "net.4",
        0.81,
        1,
    )
    assert found.limit == "< 0.40"


def test_zero_init_output_layer_recovers_within_the_window():
    grads = {
        "first": ("Linear", {"grad_norm": [0.0, 1e-5, 0.01, 0.05, 0.1, 0.1]}),
        "last": ("Linear", {"grad_norm": [1.0] * 6}),
    }
    assert judge(result(grads), Thresholds()) == []
    grads["first"][1]["grad_norm"][-3:] = [0.0, 0.0, 0.0]
    [found] = judge(result(grads), Thresholds())
    assert (found.check, found.module, found.step) == (
        "vanishing_gradients",
        "first",
        3,
    )


def test_gradient_ratio_ignores_parameter_owners_that_never_ran():
    # timm CoAtNet: `attn.rel_pos` tables are read by a method, never called, so the
    # runner lists them after every module that ran; their gradients are ~1e-4 of
    # the stem's, which once read as exploding_gradients (first/last 6.8e3).
    grads = {
        "stem": ("Conv2d", {"grad_norm": [1.4] * 6}),
        "head": ("Linear", {"grad_norm": [8.0] * 6}),
        "attn.rel_pos": ("RelPosMlp", {"grad_norm": [2e-4] * 6}),
    }
    run = result(grads)
    run.order = ["stem", "head"]
    assert judge(run, Thresholds()) == []
    run.order = ["stem", "head", "attn.rel_pos"]  # ran last: a real first/last ratio
    [found] = judge(run, Thresholds())
    assert (found.check, found.module) == ("exploding_gradients", "stem")
    assert found.value == pytest.approx(7000.0)


def test_dead_fraction_of_a_narrow_layer_must_beat_chance():
    from pytest_nnhealth.judge.core import dead_count_bound

    # Binomial tail at the healthy 25% rate: 9 of 16 units, 15 of 32; wide layers keep
    # the 0.40 limit.
    assert dead_count_bound(16) == 9 / 16
    assert dead_count_bound(32) == 15 / 32
    assert dead_count_bound(256) < 0.40
    # torchvision VGG's 4096-wide classifier ReLUs: math.comb overflowed a float.
    assert 0.25 < dead_count_bound(4096) < 0.27
    squeeze = {"fire.squeeze_activation": ("ReLU", {"dead_fraction": [0.44] * 6})}
    run = result(squeeze, dead_units={"fire.squeeze_activation": 16})
    assert judge(run, Thresholds()) == []  # 7 of 16 (torchvision SqueezeNet 1.1)
    run.dead_units = {"fire.squeeze_activation": 256}
    assert [f.check for f in judge(run, Thresholds())] == ["dead_units"]
    # A user's stricter limit moves the chance bound with it: 0.0 means any dead unit.
    run.dead_units = {"fire.squeeze_activation": 16}
    strict = Thresholds(dead_fraction_max=0.0)
    assert [f.check for f in judge(run, strict)] == ["dead_units"]
    broken = {"fire.squeeze_activation": ("ReLU", {"dead_fraction": [0.69] * 6})}
    run = result(broken, dead_units={"fire.squeeze_activation": 16})
    assert [f.check for f in judge(run, Thresholds())] == ["dead_units"]


def test_update_ratio_high_is_judged_on_the_worst_single_step():
    ratios = {"a": ("Linear", {"update_ratio": [0.01, 0.02, 3.0, 0.01, 0.01, 0.01]})}
    [found] = judge(result(ratios), Thresholds())
    assert (found.check, found.step, found.value) == ("update_ratio_high", 2, 3.0)


def test_update_ratios_of_an_lbfgs_run_are_not_judged():
    ratios = {"a": ("Linear", {"update_ratio": [1.9, 0.6, 3.0, 1e-9, 1e-9, 1e-9]})}
    assert [f.check for f in judge(result(ratios), Thresholds())] == [
        "update_ratio_high"
    ]
    assert judge(result(ratios, quasi_newton=True), Thresholds()) == []


def test_zero_initialised_module_update_ratio_settles_first():
    settling = [None, 1.0, 0.5, 0.33, 0.25, 0.2, 0.17, 0.14, 0.12, 0.11]
    losses = [1.0 - 0.05 * i for i in range(10)]
    assert (
        judge(
            result({"a": ("Linear", {"update_ratio": settling})}, losses), Thresholds()
        )
        == []
    )


def test_divergence_and_no_learning():
    grows = [1.0, 1.5, 4.0, 12.0, 30.0, float("inf")]
    limits = Thresholds(loss_divergence_factor=10.0)
    found = judge(result({}, losses=grows, held=(1.0, 30.0)), limits)
    # Root cause first: the loss grows from step 3, the Inf at step 5 follows from it.
    assert [(f.check, f.step, f.consequence_of) for f in found] == [
        ("loss_divergence", 3, None),
        ("nonfinite", 5, "loss_divergence"),
    ]
    flat = [1.0] * 6
    [found] = judge(result({}, losses=flat, held=(1.0, 0.999)), Thresholds())
    assert found.check == "no_learning"
    assert found.step is None
    assert found.value == pytest.approx(0.001)
    assert "held-batch loss 1.00 -> 1.00 (drop 0.10%)" in found.message


def test_plumbing_grouped_per_module_and_not_doubled_by_low_updates():
    series = {"b": ("Linear", {"update_ratio": [0.0] * 6})}
    measured = {
        "zero_gradients": [("b", "weight"), ("b", "bias")],
        "params_without_grad": [],
        "unregistered": [("blocks[0]", "Linear")],
    }
    found = judge(result(series, **measured), Thresholds())
    # The unregistered module runs in forward, the zero gradient shows in backward.
    assert [(f.check, f.module) for f in found] == [
        ("unregistered_params", "blocks[0]"),
        ("zero_gradients", "b"),
    ]
    assert "weight, bias" in found[1].message


def test_nonfinite_event_from_the_probe():
    measured = {"nonfinite": NonfiniteEvent(2, "act", "backward")}
    losses = [1.0, 0.9, 0.8, math.nan, math.nan, math.nan]
    found = judge(result({"act": ("Tanh", {})}, losses, **measured), Thresholds())
    assert found[0].message.startswith(
        "nonfinite in `act` (Tanh): first NaN/Inf in backward (inputs finite) from "
        "step 2"
    )


def test_rank_collapse_reports_only_where_it_starts():
    top = [0.95, None, 0.97]
    series = {name: ("Linear", {"top_sv_fraction": top}) for name in ("a", "b", "c")}
    series["out"] = ("Linear", {"top_sv_fraction": top})
    [found] = judge(result(series), Thresholds())
    assert (found.check, found.module) == ("rank_collapse", "a")
    assert "(and 2 later layer(s))" in found.message


def test_ignore_drops_symptoms():
    dead = {"r": ("ReLU", {"dead_fraction": [1.0] * 6})}
    assert judge(result(dead), Thresholds(ignore=("dead_units",))) == []


def test_depth_ratio_is_judged_at_init_and_names_the_first_low_layer():
    spread = {
        "in": ("Linear", {"act_batch_std": [1.0, 1.0, 1.0]}),
        "a": ("Tanh", {"act_batch_std": [0.1, 0.5, 1.0]}),
        "b": ("Linear", {"act_batch_std": [1e-4, 0.5, 1.0]}),  # recovers: still found
        "c": ("Tanh", {"act_batch_std": [1e-5, 0.5, 1.0]}),
        "d": ("Linear", {"act_batch_std": [2e-5, 0.5, 1.0]}),
        "out": ("Linear", {"act_batch_std": [1e-5, 0.5, 1.0]}),
    }
    losses = [1.0, 0.5, 0.25]
    [found] = judge(result(spread, losses), Thresholds())
    assert (found.check, found.module, found.step) == ("vanishing_activations", "b", 0)
    # The signal at the end: the largest of the last 3 hidden outputs (b, c, d).
    assert found.value == pytest.approx(1e-4)
    for name, value in (("b", 2e3), ("c", 5e3), ("d", 4e3)):
        spread[name][1]["act_batch_std"][0] = value
    [found] = judge(result(spread, losses), Thresholds())
    assert (found.check, found.module) == ("exploding_activations", "b")
    assert found.value == pytest.approx(2e3)


def test_depth_ratio_ignores_one_small_output_at_the_end():
    """A by-design small last hidden output (CaiT's class token behind a 1e-5 layer
    scale) is not a vanishing signal when the outputs before it carry the input."""
    spread = {
        "in": ("Linear", {"act_batch_std": [1.0]}),
        "a": ("Linear", {"act_batch_std": [0.9]}),
        "b": ("LayerNorm", {"act_batch_std": [1.0]}),
        "cls": ("Dropout", {"act_batch_std": [1e-6]}),
        "out": ("Linear", {"act_batch_std": [1e-6]}),
    }
    assert judge(result(spread, [1.0, 0.5]), Thresholds()) == []


def test_growth_that_overflows_is_the_root_cause_of_the_nan():
    """A gain-3 stack: the std grows ~3x per layer until it overflows at layer 8; the
    first layer past 1e3 is reported first, the NaN as its consequence."""
    names = [f"l{i}" for i in range(12)]
    spread = {
        name: ("Linear", {"act_batch_std": [3.0**i if i < 10 else math.inf]})
        for i, name in enumerate(names)
    }
    measured = {"nonfinite": NonfiniteEvent(0, "l10", "forward")}
    losses = [math.nan] * 6
    found = judge(result(spread, losses, **measured), Thresholds())
    assert [(f.check, f.module, f.step, f.consequence_of) for f in found] == [
        ("exploding_activations", "l7", 0, None),
        ("nonfinite", "l10", 0, "exploding_activations in `l7`"),
    ]
    assert "l7" in found[0].message


def test_statistics_after_a_nan_are_not_reported():
    measured = {"nonfinite": NonfiniteEvent(2, "lin", "forward")}
    series = {
        "early": ("ReLU", {"dead_fraction": [0.9] * 6}),  # dead before the NaN: kept
        "late": ("ReLU", {"dead_fraction": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]}),
    }
    losses = [1.0, 0.9, math.nan, math.nan, math.nan, math.nan]
    found = judge(result(series, losses, **measured), Thresholds())
    # By position: dead from step 0; the NaN (step 2) explains the NaN loss.
    assert [(f.check, f.module, f.consequence_of) for f in found] == [
        ("dead_units", "early", None),
        ("nonfinite", "lin", None),
        ("loss_divergence", "", "nonfinite in `lin`"),  # finite at 0, NaN from 2
    ]


def test_rank_collapse_is_reported_where_it_starts_not_where_it_is_received():
    """``b`` only passes on the rows it receives (a constant class token); a module
    that reads the batch itself (``in``) is where an un-normalised input starts."""
    received = {
        "in": ("Linear", {"top_sv_fraction": [0.2, None, 0.2]}),
        "b": (
            "Linear",
            {
                "top_sv_fraction": [1.0, None, 0.93],
                "input_top_sv_fraction": [1.0, None, 0.76],
            },
        ),
        "out": ("Linear", {"top_sv_fraction": [0.3, None, 0.3]}),
    }
    assert judge(result(received, [1.0, 0.9, 0.8]), Thresholds()) == []
    received["in"][1]["top_sv_fraction"][:] = [0.95, None, 0.95]
    [found] = judge(result(received, [1.0, 0.9, 0.8]), Thresholds())
    assert (found.check, found.module, found.step) == ("rank_collapse", "in", 0)
    assert "(and 1 later layer(s))" in found.message


def test_all_or_nothing_relu_layer_is_a_collapse_not_dying_units():
    """Dead units with many always-on units beside them: every sample is in the same
    linear region (a deep plain ReLU stack at init), reported once, where it starts.
    Dead units with none always on stay dead_units (a negative bias)."""

    def aligned() -> dict[str, list[float | None]]:
        return {"dead_fraction": [0.5] * 6, "always_on_fraction": [0.3] * 6}

    series = {
        "r1": ("ReLU", {"dead_fraction": [0.1] * 6, "always_on_fraction": [0.0] * 6}),
        "r2": ("ReLU", aligned()),
        "r3": ("ReLU", aligned()),
    }
    [found] = judge(result(series), Thresholds())
    assert (found.check, found.module, found.step) == ("rank_collapse", "r2", 0)
    assert "0.50 of units dead and 0.30 always on" in found.message
    assert "(and 1 later layer(s))" in found.message
    # The always-on cut is a threshold: above 0.3 both layers are dying units.
    higher = Thresholds(aligned_always_on_min=0.35)
    checks = [(f.check, f.module) for f in judge(result(series), higher)]
    assert checks == [("dead_units", "r2"), ("dead_units", "r3")]
    series["r2"][1]["always_on_fraction"][:] = [0.0] * 6
    checks = [(f.check, f.module) for f in judge(result(series), Thresholds())]
    assert checks == [("dead_units", "r2"), ("rank_collapse", "r3")]


def test_units_dead_and_all_or_nothing_before_any_update_are_aligned_rows():
    """Dead from step 0 with a third of the units always on at step 0: the rows were
    aligned at initialisation (nothing had trained yet), even when training later
    lowers the always-on share below the cut. Dead from a later step with the same
    always-on history stays dead_units: training may have killed those units."""
    on = [0.39, 0.31, 0.27, 0.22, 0.19, 0.18]
    series = {"r": ("ReLU", {"dead_fraction": [0.47] * 6, "always_on_fraction": on})}
    [found] = judge(result(series), Thresholds())
    assert (found.check, found.module, found.step) == ("rank_collapse", "r", 0)
    assert "0.47 of units dead and 0.39 always on" in found.message
    series["r"][1]["dead_fraction"][:] = [0.1, 0.47, 0.47, 0.47, 0.47, 0.47]
    [found] = judge(result(series), Thresholds())
    assert (found.check, found.module, found.step) == ("dead_units", "r", 1)


def test_low_updates_behind_a_closed_gate_are_not_reported():
    """No gradient signal (relative gradient below the gate cut on every trailing
    step): the small updates are a closed gate upstream, not a too-low lr."""
    series = {
        "xca": ("Linear", {"update_ratio": [1e-7] * 6, "grad_relative": [1e-11] * 6})
    }
    assert judge(result(series), Thresholds()) == []
    [found] = judge(result(series), Thresholds(closed_gate_grad_relative=1e-12))
    assert (found.check, found.module) == ("update_ratio_low", "xca")
