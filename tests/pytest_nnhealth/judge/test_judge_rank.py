"""rank_collapse on synthetic measurements: which outputs may start a collapse.

Records are built by hand (no torch, test_torch_free.py)."""

from __future__ import annotations

from pytest_nnhealth.judge.core import judge
from pytest_nnhealth.judge.records import LayerStats, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds


def _gated(gate_kind: str, head_input: float) -> RunResult:
    """A gate at init: its input (a small conv over pooled channels) has spread rows
    (0.4), its output is ~0.5 + input/4 (a sigmoid) or ~1 (a Linear with near-zero
    weights and bias 1) for every sample, which the uncentred statistic reads as one
    direction (0.98). ``head_input``: what the next module receives, the gated
    features (spread) or the gate's rows themselves (one direction)."""
    kinds = {"stem": "Conv2d", "gate_in": "Conv1d", "gate": gate_kind, "head": "Linear"}
    tops = {"stem": 0.3, "gate_in": 0.4, "gate": 0.98, "head": 0.3}
    inputs = {"stem": 0.2, "gate_in": 0.3, "gate": 0.4, "head": head_input}
    layers = {
        name: LayerStats(
            name,
            kind,
            {
                "top_sv_fraction": [tops[name], None, tops[name]],
                "input_top_sv_fraction": [inputs[name], None, inputs[name]],
            },
        )
        for name, kind in kinds.items()
    }
    losses = [2.3, 2.0, 1.7]
    return RunResult(
        layers=layers,
        losses=losses,
        held_loss=(losses[0], losses[-1]),
        order=list(kinds),
        leaves=list(kinds),
        param_modules=[],
    )


def test_a_sigmoid_near_one_half_does_not_start_a_collapse():
    """Even when the next layer reads the sigmoid's rows (0.97): the 0.5 offset is
    the sigmoid's, the spread of its input still reaches the next layer."""
    for kind in ("Sigmoid", "Hardsigmoid"):
        assert judge(_gated(kind, head_input=0.97), Thresholds()) == []


def test_one_direction_on_a_side_path_that_no_later_module_receives_is_no_collapse():
    assert judge(_gated("Linear", head_input=0.3), Thresholds()) == []


def test_one_direction_that_the_next_module_receives_is_a_collapse():
    [found] = judge(_gated("Linear", head_input=0.97), Thresholds())
    assert (found.check, found.module, found.step) == ("rank_collapse", "gate", 0)
    assert found.value == 0.98
