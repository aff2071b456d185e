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
