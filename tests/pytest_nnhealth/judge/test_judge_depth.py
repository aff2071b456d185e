"""The depth ratio on synthetic measurements: where the scale is set by construction.

Records are built by hand (no torch, test_torch_free.py)."""

from __future__ import annotations

from pytest_nnhealth.judge.core import judge
from pytest_nnhealth.judge.records import LayerStats, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds


def _stack(kinds: dict[str, str], spreads: dict[str, float]) -> RunResult:
    layers = {
        name: LayerStats(name, kind, {"act_batch_std": [spreads[name], None, None]})
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


def test_an_affine_that_does_not_normalise_is_judged_like_a_weight_layer():
    [found] = judge(_small_embedding("NoNorm"), Thresholds())
    assert (found.check, found.module) == ("exploding_activations", "ln0")


def test_growth_after_the_normalisation_is_still_judged_from_it():
    [found] = judge(_small_embedding("LayerNorm", later=5e3), Thresholds())
    assert (found.check, found.module) == ("exploding_activations", "a")
