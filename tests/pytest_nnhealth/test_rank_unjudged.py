"""The rank is measured only where the rank rule reads it, and the rule's "passed on"
test reads judged modules only (issue 10: the probe's cost on small models)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.judge.core import judge  # noqa: E402
from pytest_nnhealth.judge.records import LayerStats, RunResult  # noqa: E402
from pytest_nnhealth.judge.thresholds import Thresholds  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402

RANK_SERIES = ("top_sv_fraction", "rank", "input_top_sv_fraction")


def test_unjudged_kinds_get_no_rank_series():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(12, 16),
        nn.Dropout(0.1),
        nn.Identity(),
        nn.Linear(16, 16),
        nn.Sigmoid(),
        nn.Linear(16, 10),
        nn.Softmax(dim=-1),
    )
    x, y = torch.randn(32, 12), torch.randint(0, 10, (32,))
    report = check(model, (x, y), loss_fn=F.nll_loss, steps=3, graph=False)
    for name in ("0", "3", "5"):  # Linear: measured on the deep steps (0 and 2)
        series = report.layers[name].series
        assert series["top_sv_fraction"][0] is not None
        assert series["rank"][2] is not None
    assert report.layers["3"].series["input_top_sv_fraction"][0] is not None
    for name in ("1", "2", "4", "6"):  # Dropout, Identity, Sigmoid, Softmax
        assert not set(RANK_SERIES) & set(report.layers[name].series)


def _run(series: dict[str, tuple[str, dict]]) -> RunResult:
    return RunResult(
        layers={n: LayerStats(n, kind, v) for n, (kind, v) in series.items()},
        losses=[1.0, 0.9, 0.8],
        held_loss=(1.0, 0.8),
        order=list(series),
        leaves=list(series),
        param_modules=[],
    )


def test_passed_on_reads_the_next_judged_input_not_a_pass_through():
    """A residual branch's last Linear collapses; its Dropout receives that (as it
    always does), the next judged module receives the sum, which still tells the
    samples apart: not passed on, so not reported. Where the next judged module
    receives collapsed rows, it is."""
    healthy = {"top_sv_fraction": [0.3, None, 0.3]}
    series = {
        "in": ("Linear", dict(healthy)),
        "branch": (
            "Linear",
            {
                "top_sv_fraction": [0.97, None, 0.97],
                "input_top_sv_fraction": [0.3, None, 0.3],
            },
        ),
        "drop": ("Dropout", {"input_top_sv_fraction": [0.97, None, 0.97]}),
        "next": (
            "Linear",
            {**healthy, "input_top_sv_fraction": [0.4, None, 0.4]},
        ),
        "out": ("Linear", {**healthy, "input_top_sv_fraction": [0.3, None, 0.3]}),
    }
    assert judge(_run(series), Thresholds()) == []
    series["next"][1]["input_top_sv_fraction"][:] = [0.96, None, 0.96]
    [found] = judge(_run(series), Thresholds())
    assert (found.check, found.module, found.step) == ("rank_collapse", "branch", 0)
