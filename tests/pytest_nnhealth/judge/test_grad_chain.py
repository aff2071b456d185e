"""The place where a backward chain loses its gradient, named in the
``vanishing_gradients`` finding (judge/grad_chain.py). Records built by hand, no torch.
"""

from __future__ import annotations

import pytest

from pytest_nnhealth.judge.core import judge
from pytest_nnhealth.judge.grad_chain import largest_drop, level
from pytest_nnhealth.judge.records import LayerStats, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

STEPS = 6


def chain(norms: dict[str, float | list[float]]) -> RunResult:
    """Owners in forward order with a constant (or given) gradient norm per step."""
    layers = {}
    for name, value in norms.items():
        series = value if isinstance(value, list) else [value] * STEPS
        layers[name] = LayerStats(name, "Linear", {"grad_norm": list(series)})
    losses = [2.3, 2.2, 2.1, 2.0, 1.9, 1.8]
    names = list(norms)
    return RunResult(layers, losses, (2.3, 1.8), names, names, names)


# wav2vec 2.0 at width 64, seed 1, the geometric mean of the last three steps (a
# subset of its owners): each head Linear at a fixed std 0.02 passes about
# 0.02 * sqrt(fan_in) of its gradient on. The final LayerNorm's parameters have a
# norm set by its width (64 scales and shifts on a unit-scale input); it is no point
# of the chain.
WAV2VEC2 = {
    "conv.0": ("Conv1d", 1.6e-4),
    "conv.0.norm": ("GroupNorm", 1.7e-4),
    "conv.1": ("Conv1d", 6.3e-4),
    "conv.2": ("Conv1d", 6.5e-4),
    "feature_projection": ("Linear", 1.2e-3),
    "layers.0.output_dense": ("Linear", 2.5e-3),
    "layers.1.output_dense": ("Linear", 4.5e-3),
    "layers.1.final_layer_norm": ("LayerNorm", 2.9e-2),
    "projector": ("Linear", 0.16),
    "classifier": ("Linear", 0.42),
}


def test_the_drop_below_the_head_is_named():
    run = chain({name: value for name, (_, value) in WAV2VEC2.items()})
    for name, (kind, _) in WAV2VEC2.items():
        run.layers[name].type = kind
    [found] = judge(run, Thresholds())
    assert (found.check, found.module) == ("vanishing_gradients", "conv.0")
    assert found.value == pytest.approx(1.6e-4 / 0.42)
    where = "the largest drop is x0.03, between `projector` and `layers.1.output_dense`"
    assert found.message.endswith(f"better init; {where}")
    assert found.hint.endswith(where)
    # Counted as a point of the chain, the LayerNorm would take the drop's place.
    run.layers["layers.1.final_layer_norm"].type = "Linear"
    [found] = judge(run, Thresholds())
    assert found.message.endswith(
        "x0.16, between `layers.1.final_layer_norm` and `layers.1.output_dense`"
    )


def test_a_small_module_inside_the_chain_is_not_a_drop():
    # A LayerNorm has few parameters, so a small gradient norm; the owner before it
    # gets as much as the one after it: nothing is lost there.
    drop = largest_drop(
        [("embed", 1e-5), ("fc1", 0.5), ("norm", 0.01), ("fc2", 0.6), ("out", 1.0)]
    )
    assert drop is not None
    assert (drop.later, drop.earlier) == ("fc1", "embed")
    assert drop.factor == pytest.approx(2e-5)


def test_a_healthy_chain_has_no_finding_and_no_drop_to_name():
    flat = {"a": 1.0, "b": 0.9, "c": 1.1}
    assert judge(chain(flat), Thresholds()) == []
    assert largest_drop([("a", 1.0), ("b", 0.5), ("c", 0.2)]) is None  # first is max


def test_the_drop_is_measured_on_the_steps_that_decided_the_finding():
    # At init the loss is far up the chain; by the last steps it is near the input.
    norms = {
        "first": [1e-5] * STEPS,
        "second": [1e-5, 1e-5, 1e-5, 1.0, 1.0, 1.0],
        "last": [1.0, 1.0, 1.0, 10.0, 10.0, 10.0],
    }
    [found] = judge(chain(norms), Thresholds())
    assert found.message.endswith("x1.00e-05, between `second` and `first`")


def test_level_is_a_geometric_mean_and_zero_stays_zero():
    assert level([None, 1e-2, 1.0, None], [1, 2, 3]) == pytest.approx(0.1)
    assert level([1.0, 0.0, 1.0], [0, 1, 2]) == 1.0  # skipped on one step
    assert level([0.0, 0.0, 1.0], [0, 1]) == 0.0
    assert level([None, None], [0, 1]) is None


def test_a_first_layer_without_gradient_is_where_it_is_all_lost():
    norms = {"first": 0.0, "mid": 0.3, "last": 1.0}
    [found] = judge(chain(norms), Thresholds())
    assert found.message.endswith("x0.00e+00, between `mid` and `first`")


def head_run(head_at_init: float | None, stem: list[float]) -> RunResult:
    """A stem, one hidden Linear, a final LayerNorm and a classifier head whose
    gradient stays at the loss's error times its input (~6) while the body receives
    ~1e-2 of it; ``head_at_init`` is the head's relative gradient at step 0 (None:
    its weights were all zero)."""
    run = chain(
        {
            "stem": stem,
            "fc": [0.0, 1.0e-2, 1.1e-2, 9.8e-3, 8.8e-3, 7.9e-3],
            "norm": [0.0, 2.9e-3, 5.6e-2, 5.7e-2, 5.7e-2, 5.8e-2],
            "head": [2.8, 2.8, 6.3, 6.1, 6.0, 5.8],
        }
    )
    run.layers["norm"].type = "LayerNorm"
    run.layers["head"].series["grad_relative"] = [head_at_init, 250.0, 60.0, 30, 25, 23]
    return run


# timm's sequencer2d_s at 56 px, seed 0, under the default optimizer (steps 0-1 and
# 21-24 of the run): the classifier starts at zero and, at its fan-in rate
# (512 inputs: 1.25e-4), grows slowly; the stem gets ~0.5 of the last hidden
# Linear's gradient at every step, while the loss falls 2.30 -> 0.87.
SEQUENCER_STEM = [0.0, 7.0e-3, 5.4e-3, 4.8e-3, 4.4e-3, 4.15e-3]


def test_a_zero_initialised_head_is_crossed_before_depth_is_judged():
    # Against the head alone the stem gets 7.1e-4 (below 1e-3) on the last steps; the
    # shortfall is the hop through the head's still-small weights, not depth.
    assert judge(head_run(None, SEQUENCER_STEM), Thresholds()) == []
    # The same gradients under a head drawn at a nonzero std: its small gain is an
    # init to fix (the speech encoders' heads), and the finding stays.
    [found] = judge(head_run(5.0, SEQUENCER_STEM), Thresholds())
    assert (found.check, found.module) == ("vanishing_gradients", "stem")
    assert found.value == pytest.approx(4.15e-3 / 5.8)
    assert found.message.endswith("between `head` and `fc`")


def test_a_body_that_loses_its_gradient_behind_a_zero_head_is_still_reported():
    # The stem gets ~1e-5 of the hidden Linear's gradient: lost through depth.
    stem = [0.0, 1e-7, 1e-7, 9e-8, 9e-8, 8e-8]
    [found] = judge(head_run(None, stem), Thresholds())
    assert (found.check, found.module, found.step) == ("vanishing_gradients", "stem", 0)
    assert found.value == pytest.approx(8e-8 / 5.8)
    assert found.message.endswith("between `fc` and `stem`")


def test_the_relative_gradient_of_a_tensor_started_at_zero_is_not_judged():
    # A zero head's norm is the optimizer's steps so far: at a small lr its
    # ||g||/||w|| stays above the cap of 100 whatever the model.
    run = head_run(None, [0.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    run.layers["head"].series["grad_relative"] = [None, 900.0, 450.0, 300, 225, 180]
    assert judge(run, Thresholds()) == []
    run.layers["head"].series["grad_relative"][0] = 900.0  # drawn, not zero
    [found] = judge(run, Thresholds())
    assert (found.check, found.module, found.value) == (
        "exploding_gradients",
        "head",
        180,
    )
