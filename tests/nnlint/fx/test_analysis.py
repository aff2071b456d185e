"""The graph-mode engine: tracing (symbolic, export fallback, untraceable), shape
propagation on fake tensors, loss resolution and ``analyze_model``'s contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from nnlint.fx import analyze_model  # noqa: E402
from nnlint.fx.locations import frames, user_frame  # noqa: E402
from nnlint.fx.losses import loss_family  # noqa: E402
from nnlint.fx.shapes import propagate  # noqa: E402
from nnlint.fx.tracing import trace  # noqa: E402

SOFTMAX_TAIL = """\
import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)
        self.act = nn.Softmax(dim=-1)

    def forward(self, x):
        logits = self.fc(x)
        return self.act(logits)


model = Classifier()
example_inputs = (torch.randn(4, 16),)
"""

SHAPE_BRANCH = """\
import torch
from torch import nn


class Flexible(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        if x.dim() > 2:
            x = x.flatten(1)
        return torch.softmax(self.fc(x), dim=-1)


model = Flexible()
example_inputs = (torch.randn(2, 3, 4),)
"""


def test_softmax_tail_with_cross_entropy_at_the_right_line(
    example: Callable[[str], Any],
) -> None:
    module = example(SOFTMAX_TAIL)
    findings = analyze_model(module.model, module.example_inputs, nn.CrossEntropyLoss())
    assert [(f.code, f.path, f.line, f.column, f.severity) for f in findings] == [
        ("NNL610", "example.py", 13, 16, "error")
    ]


@pytest.mark.parametrize(
    "loss",
    [
        nn.CrossEntropyLoss(label_smoothing=0.1),
        F.cross_entropy,
        "torch.nn.CrossEntropyLoss",
        lambda out, y: F.cross_entropy(out, y),
    ],
    ids=["module", "functional", "config-string", "user-function"],
)
def test_loss_forms(loss: Any, example: Callable[[str], Any]) -> None:
    module = example(SOFTMAX_TAIL)
    codes = [f.code for f in analyze_model(module.model, module.example_inputs, loss)]
    assert codes == ["NNL610"]


def test_unknown_loss_stays_silent(example: Callable[[str], Any]) -> None:
    module = example(SOFTMAX_TAIL)
    findings = analyze_model(
        module.model, module.example_inputs, lambda out, y: out.sum()
    )
    assert findings == []


def test_loss_family() -> None:
    assert loss_family(nn.BCEWithLogitsLoss()) == "bce_with_logits"
    assert loss_family(nn.NLLLoss) == "nll"
    assert loss_family("CrossEntropyLoss") == "cross_entropy"
    assert loss_family("torch.nn.functional:kl_div") == "kl_div"
    assert loss_family(nn.MSELoss()) is None
    both = lambda a, b: F.cross_entropy(a, b) + F.nll_loss(a, b)  # noqa: E731
    assert loss_family(both) is None  # ambiguous: say nothing


def test_untraceable_model_is_one_info_finding(example: Callable[[str], Any]) -> None:
    module = example(
        "import torch\nfrom torch import nn\n\n"
        "class Gate(nn.Module):\n"
        "    def forward(self, x):\n"
        "        if x.sum() > 0:\n"
        "            return torch.softmax(x, -1)\n"
        "        return x\n\n"
        "model = Gate()\nexample_inputs = (torch.randn(2, 3),)\n"
    )
    findings = analyze_model(module.model, module.example_inputs, nn.CrossEntropyLoss())
    assert [(f.code, f.line, f.severity) for f in findings] == [("NNL600", 6, "info")]
    assert "control flow" in findings[0].message
    assert "torch.export" in findings[0].message


def test_export_captures_shape_dependent_control_flow(
    example: Callable[[str], Any],
) -> None:
    module = example(SHAPE_BRANCH)
    result = trace(module.model, module.example_inputs)
    assert result.view is not None
    assert result.view.exported
    findings = analyze_model(module.model, module.example_inputs, "CrossEntropyLoss")
    assert [(f.code, f.path, f.line) for f in findings] == [
        ("NNL610", "example.py", 13)
    ]


def test_shapes_propagate_on_fake_tensors_without_touching_the_model() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trace(model, (torch.randn(2, 3, 8, 8),))
    assert result.view is not None
    assert propagate(result.view, (torch.randn(2, 3, 8, 8),)) is None
    nodes = {n.name: n for n in result.view.graph.nodes}
    assert result.view.shape(nodes["_1"]) == (2, 4, 6, 6)
    assert result.view.shape(nodes["_2"]) == (2, 144)
    assert type(nodes["_1"].meta["val"]).__name__ == "FakeTensor"
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # BatchNorm stats untouched


def test_meta_device_model_needs_no_memory() -> None:
    # 10^10 weights (40 GB if real): shapes still propagate; nothing is allocated.
    model = nn.Sequential(nn.Linear(100_000, 100_000, device="meta"), nn.Softmax(-1))
    inputs = (torch.empty(2, 100_000, device="meta"),)
    findings = analyze_model(model, inputs, nn.CrossEntropyLoss(), origin=("m.py", 7))
    assert [(f.code, f.path, f.line) for f in findings] == [("NNL610", "m.py", 7)]


def test_model_state_flags_and_mode_are_unchanged(
    example: Callable[[str], Any],
) -> None:
    module = example(SOFTMAX_TAIL)
    model = module.model.eval()
    model.fc.bias.requires_grad_(False)
    analyze_model(model, module.example_inputs, nn.CrossEntropyLoss())
    assert not model.training
    assert [p.requires_grad for p in model.parameters()] == [True, False]


def test_forward_failure_is_reported_at_the_failing_line(
    example: Callable[[str], Any],
) -> None:
    module = example(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(10, 2)\n\n"
        "    def forward(self, x):\n"
        "        h = x.flatten(1)\n"
        "        return self.fc(h)\n\n"
        "model = Net()\nexample_inputs = (torch.randn(2, 3, 4),)\n"
    )
    findings = analyze_model(module.model, module.example_inputs)
    assert [(f.code, f.line, f.column) for f in findings] == [("NNL605", 11, 16)]
    assert "forward fails" in findings[0].message


def test_user_frame_skips_library_frames(tmp_path: Any) -> None:
    trace_text = (
        'File "/proj/model.py", line 12, in forward\n    x = self.act(x)\n'
        'File "/lib/torch/nn/modules/activation.py", line 3, in forward\n'
    )
    assert frames(trace_text) == [
        ("/proj/model.py", 12),
        ("/lib/torch/nn/modules/activation.py", 3),
    ]
    assert user_frame(trace_text, ["/lib/torch"]) == ("/proj/model.py", 12)
    assert user_frame(None, []) is None


def test_inputs_as_list_dict_or_single_tensor() -> None:
    from nnlint.fx.analysis import positional_inputs

    class Two(nn.Module):
        def forward(self, x, mask=None, scale=1.0):  # type: ignore[no-untyped-def]
            return x

    x, m = torch.zeros(1), torch.ones(1)
    assert positional_inputs(Two(), [x, m]) == (x, m)
    assert positional_inputs(Two(), {"mask": m, "x": x}) == (x, m)
    assert positional_inputs(Two(), x) == (x,)


def test_check_reports_softmax_before_cross_entropy(
    example: Callable[[str], Any],
) -> None:
    """``check()`` merges graph findings as ``nnlint:<CODE>`` (defects without a
    dynamic signature fail a health test too)."""
    check_module = pytest.importorskip("pytest_nnhealth.training.health_check")
    module = example(SOFTMAX_TAIL)
    batch = (torch.randn(8, 16), torch.randint(0, 10, (8,)))
    report = check_module.check(
        module.model, batch, loss_fn=nn.CrossEntropyLoss(), steps=2
    )
    graph = [f for f in report.findings if f.check.startswith("nnlint:")]
    assert [(f.check, f.module, f.severity) for f in graph] == [
        ("nnlint:NNL610", "example.py:13", "error")
    ]


def test_log_softmax_before_cross_entropy_is_only_a_warning() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=-1))
    findings = analyze_model(model, (torch.zeros(2, 4),), nn.CrossEntropyLoss())
    assert [(f.code, f.severity) for f in findings] == [("NNL610", "warning")]
    assert "redundant" in findings[0].message


def test_untraceable_and_broken_is_a_forward_failure(
    example: Callable[[str], Any],
) -> None:
    """Both tracers fail, but an eager run on fake tensors shows a real shape bug:
    that is reported (NNL605 at the add), not "untraceable"."""
    module = example(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 16)\n\n"
        "    def forward(self, x):\n"
        "        if x.dim() == 2:\n"
        "            x = x + self.fc(x)\n"
        "        return x\n\n"
        "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n"
    )
    findings = analyze_model(module.model, module.example_inputs)
    assert [(f.code, f.line) for f in findings] == [("NNL605", 11)]
