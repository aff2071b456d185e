"""Probes reuse a measurement only where the tensor is provably the same, unchanged."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.training.health_check import check  # noqa: E402


def test_an_output_already_measured_is_not_reduced_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An identity module and a container returning its last child's output hand the
    activation hook the tensor it just measured: same values, one reduction. An
    in-place activation returns the same object with new values: measured again."""
    from pytest_nnhealth.probes import activations

    calls: list[tuple[int, ...]] = []
    real = activations.output_sums

    def counted(output):  # type: ignore[no-untyped-def]
        calls.append(tuple(output.shape))
        return real(output)

    monkeypatch.setattr(activations, "output_sums", counted)
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(12, 16), nn.ReLU(inplace=True), nn.Identity())
    model = nn.Sequential(inner, nn.Linear(16, 10))
    x, y = torch.randn(32, 12), torch.randint(0, 10, (32,))
    report = check(model, (x, y), loss_fn=F.cross_entropy, steps=3, graph=False)
    # Per statistics step (all 3): "0.0", "0.1" (in place: new values), "1"; "0.2"
    # and "0" reuse "0.1"'s measurement.
    assert len(calls) == 3 * 3
    names = ("0", "0.0", "0.1", "0.2")
    std = {name: report.layers[name].series["act_std"][0] for name in names}
    mean = {name: report.layers[name].series["act_mean"][0] for name in names}
    assert std["0.2"] == std["0.1"] == std["0"]
    assert mean["0.2"] == mean["0.1"] == mean["0"]
    assert mean["0.1"] != mean["0.0"]  # measured after the in-place ReLU
    assert mean["0.1"] > 0


class _Layer(nn.Module):
    """A transformers-style layer: returns ``(hidden,)``, its norm's output."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return (self.norm(x + self.dense(x)),)


class _Model(nn.Module):
    """The layer's tuple, then a block that returns its input's first tensor (measured
    two hooks earlier, not just before) after a side branch."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(12, 16)
        self.layer = _Layer()
        self.side = nn.Linear(16, 4)
        self.head = nn.Linear(16, 10)

    def forward(self, x):  # type: ignore[no-untyped-def]
        (hidden,) = self.layer(self.embed(x))
        self.side(hidden)  # measured, unused: the next reuse is not the last output
        return self.head(hidden + 0)


def test_a_container_and_its_child_are_measured_once_with_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``layer`` returns a one-tensor tuple holding ``layer.norm``'s output: one
    reduction serves both, also at step 0's spread across samples; the values are
    those a fresh reduction of the tuple gives."""
    from pytest_nnhealth.probes import activations

    sums_of: list[tuple[int, ...]] = []
    spreads: list[tuple[int, ...]] = []
    real_sums, real_spread = activations.output_sums, activations.batch_std

    def counted_sums(output):  # type: ignore[no-untyped-def]
        sums_of.append(tuple(output.shape))
        return real_sums(output)

    def counted_spread(output):  # type: ignore[no-untyped-def]
        spreads.append(tuple(output.shape))
        return real_spread(output)

    monkeypatch.setattr(activations, "output_sums", counted_sums)
    monkeypatch.setattr(activations, "batch_std", counted_spread)
    torch.manual_seed(0)
    model = _Model()
    x, y = torch.randn(32, 12), torch.randint(0, 10, (32,))
    report = check(model, (x, y), loss_fn=F.cross_entropy, steps=1, graph=False)
    # embed, layer.dense, layer.norm, side, head: "layer" reuses "layer.norm".
    assert len(sums_of) == 5
    assert len(spreads) == 5
    layers = report.layers
    for key in ("act_mean", "act_std", "act_batch_std"):
        assert layers["layer"].series[key] == layers["layer.norm"].series[key]
    monkeypatch.undo()
    torch.manual_seed(0)
    fresh = _Model()
    with torch.no_grad():
        (hidden,) = fresh.layer(fresh.embed(x))
    mean, std = activations.output_moments((hidden,))
    assert layers["layer"].series["act_mean"][0] == pytest.approx(mean, rel=1e-6)
    assert layers["layer"].series["act_std"][0] == pytest.approx(std, rel=1e-6)


def test_a_tensor_measured_earlier_in_the_step_is_reused() -> None:
    """Reuse is by identity over the whole step, not only of the last output."""
    from pytest_nnhealth.probes.activations import ActivationProbe

    probe = ActivationProbe()
    first, other = torch.randn(8, 4), torch.randn(8, 4)
    measured = probe._measure(first)
    probe._measure(other)
    assert probe._measure((first,)) is measured  # the same device values
    first.add_(1.0)  # an in-place write: new values, measured again
    assert probe._measure(first) is not measured
    probe.end_step()
    assert probe._seen_sums == {}
