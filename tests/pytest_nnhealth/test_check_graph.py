"""The graph analysis inside check(): bounded in time and memory, blind to the user's
hooks, and subject to nnlint's policy (``# noqa``, selection) like ``nnlint --fx``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnhealth import check  # noqa: E402
from pytest_nnhealth.training.graph import graph_findings  # noqa: E402
from pytest_nnhealth.training.graph_bounds import (  # noqa: E402
    BudgetExceeded,
    GraphLimits,
    budget,
    hookless_copy,
    without_global_hooks,
)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).relu().mean((2, 3)))


class GradCam:
    """The Grad-CAM pattern: a forward hook that keeps every output of a layer and a
    tensor hook on it that keeps its gradient."""

    def __init__(self, layer: nn.Module) -> None:
        self.activations: list[Any] = []
        self.gradients: list[Any] = []
        self.handle = layer.register_forward_hook(self.save)

    def save(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.activations.append(output)
        if output.requires_grad:
            output.register_hook(self.gradients.append)


def images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 16, 16, generator=generator), torch.tensor([0, 1, 2, 3])


def test_grad_cam_hooked_model_is_analysed_inside_its_budget() -> None:
    model = Net()
    cam = GradCam(model.conv)
    model(images()[0])  # the user's own forward: the hook keeps one activation
    limits = GraphLimits(time_s=20.0)
    started = time.perf_counter()
    found, status = graph_findings(model, images(), F.cross_entropy, None, limits)
    elapsed = time.perf_counter() - started
    assert elapsed < limits.time_s
    assert status == (
        "ran: 0 finding(s); traced without the model's 1 forward/backward hook(s)"
    )
    assert found == []
    assert len(cam.activations) == 1  # the analysis never ran the user's hook
    assert list(model.conv._forward_hooks) == [cam.handle.id]  # still registered


def test_graph_time_is_reported_apart_from_the_steps() -> None:
    report = check(Net(), images(), loss_fn=F.cross_entropy, steps=3)
    timings = report.meta["timings"]
    assert report.meta["graph"].startswith("ran:")
    assert 0 < timings["graph_s"] < timings["total_s"]
    assert timings["steps_s"] + timings["graph_s"] <= timings["total_s"]
    off = check(Net(), images(), loss_fn=F.cross_entropy, steps=3, graph=False)
    assert "graph_s" not in off.meta["timings"]


def test_hookless_copy_drops_every_kind_of_module_hook() -> None:
    model = Net()
    model.conv.register_forward_pre_hook(lambda m, a: None)
    model.conv.register_forward_hook(lambda m, a, k, o: None, with_kwargs=True)
    model.head.register_full_backward_hook(lambda m, gi, go: None)
    model.head.register_full_backward_pre_hook(lambda m, go: None)
    clone, removed = hookless_copy(model)
    assert removed == 4
    for module in clone.modules():
        assert not module._forward_hooks
        assert not module._forward_pre_hooks
        assert not module._backward_hooks
        assert not module._backward_pre_hooks
    assert len(model.conv._forward_hooks) == 1  # the caller's model keeps them
    handle = nn.modules.module.register_module_forward_hook(lambda m, a, o: None)
    try:
        with without_global_hooks() as count:
            assert count == 1
            assert not nn.modules.module._global_forward_hooks
        assert len(nn.modules.module._global_forward_hooks) == 1
    finally:
        handle.remove()


class SlowToTrace(nn.Module):
    """Fast in eager mode; 20 s whenever a tracer runs forward (proxies, fakes)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if type(x) is not torch.Tensor:
            for _ in range(2000):
                time.sleep(0.01)
        return self.fc(x)


def test_slow_trace_is_cut_at_the_time_budget() -> None:
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    started = time.perf_counter()
    report = check(
        SlowToTrace(), (x, y), loss_fn=F.cross_entropy, steps=2,
        graph={"time_s": 1.0, "route": "traced"},
    )  # fmt: skip
    assert time.perf_counter() - started < 8.0
    assert report.meta["graph"] == (
        "timeout: graph analysis stopped at its 1 s time budget"
    )
    assert not [f for f in report.findings if f.check.startswith("nnlint:")]


class HogsMemoryWhenTraced(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if type(x) is not torch.Tensor:
            kept = [torch.ones(1_000_000) for _ in range(2000)]  # 8 GB if let run
            del kept
        return self.fc(x)


def test_memory_hungry_trace_is_cut_at_the_memory_budget() -> None:
    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    limits = GraphLimits(memory_mb=200.0, route="traced")
    found, status = graph_findings(
        HogsMemoryWhenTraced(), batch, F.cross_entropy, None, limits
    )
    assert (found, status) == (
        [],
        "failed: graph analysis stopped at its 200 MB memory budget",
    )


class SlowForward(nn.Module):
    """20 s per forward, eager or not: the recorded route runs it for real."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(2000):
            time.sleep(0.01)
        return self.fc(x)


class HogsMemory(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = [torch.ones(1_000_000) for _ in range(2000)]  # 8 GB if let run
        del kept
        return self.fc(x)


@pytest.mark.parametrize(
    ("model", "limits", "status"),
    [
        (SlowForward, {"time_s": 1.0}, "timeout: graph analysis stopped at its 1 s"),
        (HogsMemory, {"memory_mb": 200.0}, "failed: graph analysis stopped at its 200"),
    ],
)
def test_recorded_forward_is_bounded_by_the_budget(
    model: type[nn.Module], limits: dict[str, float], status: str
) -> None:
    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    started = time.perf_counter()
    bounds = GraphLimits.of(limits)
    assert bounds.route == "recorded"
    found, said = graph_findings(model(), batch, F.cross_entropy, None, bounds)
    assert time.perf_counter() - started < 8.0
    assert found == []
    assert said.startswith(status)


def test_budget_exception_is_raised_inside_the_block_and_never_after() -> None:
    """The watcher thread raises asynchronously; blocks that end right at the bound
    must either be cut inside or finish, never raise later (and no thread is left)."""
    threads = threading.active_count()
    outcomes = []
    for attempt in range(40):
        try:
            with budget(GraphLimits(time_s=0.02)):
                time.sleep(0.015 + 0.0005 * (attempt % 20))
        except BudgetExceeded as error:
            outcomes.append(f"{error.status}: {error}")
        else:
            outcomes.append("finished")
        total = 0
        for step in range(20_000):  # an exception escaping late would land here
            total += step
    time.sleep(0.05)
    assert threading.active_count() == threads
    cut = "timeout: stopped at its 0.02 s time budget"
    assert set(outcomes) <= {cut, "finished"}
    assert cut in outcomes


def test_both_routes_find_the_same_softmax_before_cross_entropy() -> None:
    class Tail(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x).softmax(-1)

    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    seen = {}
    for route in ("recorded", "traced"):
        found, status = graph_findings(
            Tail(), batch, F.cross_entropy, None, GraphLimits(route=route)
        )
        assert status == "ran: 1 finding(s)"
        seen[route] = [(f.check, f.module.rsplit(":", 1)[-1]) for f in found]
    assert seen["recorded"] == seen["traced"]
    assert seen["recorded"][0][0] == "nnlint:NNL610"


@pytest.mark.parametrize(
    ("graph", "error"),
    [
        ({"seconds": 3}, ValueError),
        ({"time_s": 0}, ValueError),
        ({"route": "guessed"}, ValueError),
        ("fast", TypeError),
    ],
)
def test_bad_graph_limits_are_rejected_before_training(graph: Any, error: Any) -> None:
    batch = (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    with pytest.raises(error, match="graph"):
        check(nn.Linear(4, 3), batch, loss_fn=F.cross_entropy, graph=graph)


SOFTMAX_NET = """\
import torch
from torch import nn


class SoftmaxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.act = nn.Softmax(dim=-1)

    def forward(self, x):
        return self.act(self.fc(x)){noqa}
"""
SOFTMAX_LINE = 12


def _module(directory: Path, noqa: str) -> Any:
    path = directory / "softmax_net.py"
    path.write_text(SOFTMAX_NET.format(noqa=noqa), encoding="utf-8")
    name = f"softmax_net_{abs(hash((str(directory), noqa)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _graph_checks(tmp_path: Path, noqa: str) -> list[tuple[str, str]]:
    module = _module(tmp_path, noqa)
    batch = (torch.randn(16, 8), torch.randint(0, 4, (16,)))
    report = check(module.SoftmaxNet(), batch, loss_fn=nn.CrossEntropyLoss(), steps=2)
    return [
        (f.check, f.module.rsplit("/", 1)[-1])
        for f in report.findings
        if f.check.startswith("nnlint:")
    ]


def test_noqa_on_the_model_line_silences_the_graph_finding_in_check(
    tmp_path: Path,
) -> None:
    shown = _graph_checks(tmp_path, "")
    assert shown == [("nnlint:NNL610", f"softmax_net.py:{SOFTMAX_LINE}")]
    assert _graph_checks(tmp_path, "  # noqa: NNL610") == []


def test_nnlint_config_ignore_applies_to_check(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnlint]\nper-file-ignores = { "softmax_net.py" = ["NNL61"] }\n',
        encoding="utf-8",
    )
    assert _graph_checks(tmp_path, "") == []


def test_noqa_on_the_model_line_silences_nnlint_fx(tmp_path: Path) -> None:
    def run() -> tuple[int, list[tuple[int, str]]]:
        command = [sys.executable, "-m", "nnlint", "--fx", "--select", "NNL6"]
        command += ["--output-format", "json", "softmax_net.py"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
        found = [(f["line"], f["code"]) for f in json.loads(done.stdout)]
        return done.returncode, found

    factory = textwrap.dedent(
        """
        [tool.nnlint.fx]
        loss = "torch.nn.CrossEntropyLoss"
        models = [{ factory = "softmax_net:make", shapes = [[16, 8]] }]
        """
    )
    (tmp_path / "pyproject.toml").write_text(factory, encoding="utf-8")
    body = SOFTMAX_NET + "\n\ndef make():\n    return SoftmaxNet()\n"
    path = tmp_path / "softmax_net.py"
    path.write_text(body.format(noqa=""), encoding="utf-8")
    assert run() == (1, [(SOFTMAX_LINE, "NNL610")])
    path.write_text(body.format(noqa="  # noqa: NNL610"), encoding="utf-8")
    assert run() == (0, [])


PLUGIN_TEST = """
import torch
from torch import nn

from softmax_net import SoftmaxNet


def test_softmax_net(nnhealth):
    batch = (torch.randn(16, 8), torch.randint(0, 4, (16,)))
    report = nnhealth(SoftmaxNet(), batch, loss_fn=nn.CrossEntropyLoss(), steps=2)
    graph = [f.check for f in report.findings if f.check.startswith("nnlint:")]
    assert graph == {expected!r}, report.meta["graph"]
"""


@pytest.mark.parametrize(
    ("noqa", "expected"),
    [("", ["nnlint:NNL610"]), ("  # noqa: NNL610", [])],
)
def test_noqa_on_the_model_line_silences_pytest_nnhealth(
    pytester: pytest.Pytester, noqa: str, expected: list[str]
) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    pytester.makepyfile(softmax_net=SOFTMAX_NET.format(noqa=noqa))
    pytester.makepyfile(test_softmax=PLUGIN_TEST.format(expected=expected))
    result = pytester.runpytest("--nnhealth", "-p", "no:cacheprovider")
    # Two lint items (the model file, the test file) and the health test pass: the
    # source rules see no loss in softmax_net.py, and the test asserts the graph part.
    result.assert_outcomes(passed=3)
