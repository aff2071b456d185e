"""The sampled update ratio: close to the exact one, with bounded extra memory."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.probes.updates import SAMPLE, UpdateProbe  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec, run, wired_copy  # noqa: E402

CPU = torch.device("cpu")


def wide() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 3))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 64, generator=g)
    return model, (x, torch.randint(0, 3, (32,), generator=g))


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda p: torch.optim.Adam(p, lr=1e-3),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ],
)
def test_sampled_ratio_tracks_exact_ratio_on_the_same_steps(optimizer):
    model, batch = wide()
    spec = RunSpec([batch] * 6, F.cross_entropy, None, optimizer, 6, 0, CPU)
    exact, sampled = UpdateProbe(sample=None), UpdateProbe(sample=1024)
    work, memo, spec = wired_copy(model, spec)
    run(work, memo, spec, [exact, sampled])
    a = exact.series()["update_ratio"]["0"]  # 64 x 256 = 16384 weights: sampled
    b = sampled.series()["update_ratio"]["0"]
    assert sampled.memory().sampled_tensors == 1
    for x, y in zip(a, b, strict=True):
        assert x is not None
        assert y == pytest.approx(x, rel=0.1)


def test_memory_is_reported_and_below_one_parameter_copy():
    model, batch = wide()
    report = check(model, batch, loss_fn=F.cross_entropy, steps=4, graph=False)
    memory = report.meta["update_ratio_memory"]
    # Linear(64, 256).weight (16384 floats) exceeds 2 * SAMPLE: values + int32 indices.
    sampled = SAMPLE * 8
    small = (256 + 256 * 3 + 3) * 4  # bias 0, weight and bias of the output layer
    assert memory["extra_bytes"] == sampled + small
    assert memory["extra_bytes"] < memory["parameter_bytes"]
    assert memory["sampled_tensors"] == 1
