"""Outputs whose rows or scale are set by construction, on synthetic measurements:
a sigmoid's 0.5 offset and a constant gate (rank_collapse), a normalisation after a
tiny embedding (the depth ratio). Found on the second unseen wave
(docs/unseen-architectures.md).

Records are built by hand (no torch, test_torch_free.py)."""

from __future__ import annotations

from pytest_nnhealth.judge.core import judge
from pytest_nnhealth.judge.records import LayerStats, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds


def _run(layers: dict[str, LayerStats]) -> RunResult:
    losses = [2.3, 2.0, 1.7]
    return RunResult(
        layers=layers,
        losses=losses,
        held_loss=(losses[0], losses[-1]),
        order=list(layers),
        leaves=list(layers),
        param_modules=[],
    )


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
    return _run(layers)


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


def _stack(kinds: dict[str, str], spreads: dict[str, float]) -> RunResult:
    layers = {
        name: LayerStats(name, kind, {"act_batch_std": [spreads[name], None, None]})
        for name, kind in kinds.items()
    }
    return _run(layers)


def _small_embedding(second: str, later: float = 0.9) -> RunResult:
    """An embedding initialised at ~1e-4 (its spread), then ``second``: a LayerNorm
    brings every later output to unit scale; a Linear would have grown it 1e4x."""
    kinds = {"emb": "Embedding", "ln0": second, "a": "Linear", "b": "GELU"}
    kinds |= {"c": "Linear", "head": "Linear"}
    spreads = {"emb": 1e-4, "ln0": 1.0, "a": later, "b": later, "c": later}
    return _stack(kinds, spreads | {"head": 1.0})


def test_a_normalisation_after_a_tiny_embedding_is_not_an_explosion():
    for norm in ("LayerNorm", "RMSNorm", "T5LayerNorm", "BatchNorm1d"):
        assert judge(_small_embedding(norm), Thresholds()) == [], norm


def test_the_same_jump_through_a_weight_layer_is_an_explosion():
    [found] = judge(_small_embedding("Linear"), Thresholds())
    assert (found.check, found.module, found.step) == (
        "exploding_activations",
        "ln0",
        0,
    )
    assert found.value is not None
    assert found.value > 1e3


def test_timm_normalisations_spelt_their_own_way_restart_the_count():
    """timm spells its RMS normalisation ``RmsNorm`` (Gemma 4 / Qwen3 vision encoders,
    ConvNeXt-RMS), has an RMS norm called ``SimpleNorm``, float32 variants
    (``LayerNormFp32``) and a one-group ``GroupNorm1``: each sets its output's
    scale like the names above (found reading the third unseen wave's models)."""
    timm = ("RmsNorm", "RmsNorm2d", "RmsNormAct2dFp32", "SimpleNorm", "LayerNormFp32")
    for norm in (*timm, "GroupNorm1", "GroupNorm1Act"):
        assert judge(_small_embedding(norm), Thresholds()) == [], norm


def test_an_affine_that_does_not_normalise_is_judged_like_a_weight_layer():
    [found] = judge(_small_embedding("NoNorm"), Thresholds())
    assert (found.check, found.module) == ("exploding_activations", "ln0")


def test_growth_after_the_normalisation_is_still_judged_from_it():
    [found] = judge(_small_embedding("LayerNorm", later=5e3), Thresholds())
    assert (found.check, found.module) == ("exploding_activations", "a")
