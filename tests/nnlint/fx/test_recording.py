"""The recorded route (one real forward, ``nnlint.fx.recording``) against the traced
route (symbolic tracing, then ``torch.export``): the same findings, code and line, on
every graph rule's VALID/INVALID example and on the graph tests' models; and what a
recording must keep (the model's state, no activations, the user's lines).

Expected differences, each with its reason:

* NNL600's INVALID examples: data-dependent control flow defeats both tracers, but a
  recording writes down the path that ran, so the model is analysed (no NNL600; the
  other rules find nothing in these models).
* Forward failures (NNL605, NNL611's failing adds): the recording stops and the traced
  route reports the failure, so the findings are the same by construction; the test
  asserts which route answered.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.modules import module as module_globals  # noqa: E402

from nnlint.fx import analysis  # noqa: E402
from nnlint.fx.analysis import analyze_routed  # noqa: E402
from nnlint.fx.recording import record  # noqa: E402
from nnlint.fx.rules import all_graph_rules  # noqa: E402

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[2] / "examples"
# Examples a recording analyses where both tracers give up (module docstring).
ANALYSED_ONLY_WHEN_RECORDED = {("NNL600", "invalid", 0), ("NNL600", "invalid", 1),
                               ("NNL600", "invalid", 2)}  # fmt: skip


def _rule_examples() -> list[Any]:
    cases = []
    for rule in all_graph_rules():
        for kind, examples in (
            ("valid", list(rule.VALID)),
            ("invalid", [invalid.code for invalid in rule.INVALID]),
        ):
            for index, source in enumerate(examples):
                key = (rule.CODE, kind, index)
                cases.append(pytest.param(key, source, id="-".join(map(str, key))))
    return cases


def _test_module_examples() -> list[Any]:
    """Module-level example sources of the other graph tests (a string defining
    ``model`` and ``example_inputs``)."""
    cases = []
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                text = node.value.value
                if isinstance(text, str) and "example_inputs =" in text:
                    name = f"{path.stem}.{ast.unparse(node.targets[0])}"
                    cases.append(pytest.param(text, id=name))
    return cases


def _both(model: Any, inputs: Any, loss_fn: Any = None) -> dict[str, Any]:
    """Findings by both routes, the recorded one on the whole batch (messages print
    shapes with the batch axis; ``test_slicing`` compares the sliced recording)."""
    found = {}
    for route in ("traced", "recorded"):
        with mock.patch.object(analysis, "batch_slice", return_value=None):
            findings, how = analyze_routed(model, inputs, loss_fn, route=route)
        spots = [(f.code, f.path, f.line, f.column, f.message) for f in findings]
        found[route] = (sorted(spots), how)
    return found


@pytest.mark.parametrize(("key", "source"), _rule_examples())
def test_rule_examples_give_the_same_findings_by_both_routes(
    key: tuple[str, str, int], source: str, example: Callable[[str], Any]
) -> None:
    module = example(source)
    found = _both(module.model, module.example_inputs, getattr(module, "loss_fn", None))
    (traced, traced_how), (recorded, recorded_how) = found["traced"], found["recorded"]
    if key in ANALYSED_ONLY_WHEN_RECORDED:
        assert [code for code, *_ in traced] == ["NNL600"]
        assert (recorded, recorded_how) == ([], "recorded")
        return
    assert recorded == traced
    failed = any(
        code in ("NNL605", "NNL611") and "fails" in m for code, *_, m in traced
    )
    # A forward that raises is answered by the traced route; otherwise it is recorded.
    assert recorded_how == (traced_how if failed else "recorded")


@pytest.mark.parametrize("source", _test_module_examples())
def test_graph_test_models_give_the_same_findings(
    source: str, example: Callable[[str], Any]
) -> None:
    module = example(source)
    for loss in (None, nn.CrossEntropyLoss()):
        found = _both(module.model, module.example_inputs, loss)
        assert found["recorded"] == (found["traced"][0], "recorded")


@pytest.mark.skipif(not (EXAMPLES / "nnhealth_examples").is_dir(), reason="examples/")
@pytest.mark.parametrize(
    "factory",
    [
        "make_cnn", "make_softmax_tail_cnn", "make_dead_relu_cnn", "make_lm",
        "make_post_ln_lm", "make_mismatched_residual_lm", "make_broadcast_bias_lm",
    ],
)  # fmt: skip
def test_example_package_models_give_the_same_findings(
    factories: ModuleType, factory: str
) -> None:
    model, batch, loss_fn = getattr(factories, factory)()
    found = _both(model, (batch[0],), loss_fn)
    assert found["recorded"][0] == found["traced"][0]
    assert found["traced"][0] or factory in (
        "make_cnn",
        "make_lm",
        "make_dead_relu_cnn",
    )


class Block(nn.Module):
    """Batch norm (running statistics), dropout (random numbers), an in-place ReLU,
    a residual add, a tuple result and a data-dependent branch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.norm = nn.BatchNorm1d(6)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(0.5)
        self.scale = nn.Parameter(torch.ones(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm(self.fc(x)))
        top, _ = h.topk(2, dim=-1)
        if h.sum() > 0:
            h = h * 2
        return self.drop(h) * self.scale + x + top.mean()


def test_recording_leaves_the_model_and_the_rng_as_they_were() -> None:
    model = Block().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 6)
    rng = torch.get_rng_state()
    result = record(model, (x,))
    assert result.view is not None
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.norm.num_batches_tracked.item() == 0


def test_recorded_graph_spells_nodes_as_symbolic_tracing() -> None:
    result = record(Block(), (torch.randn(5, 6),))
    assert result.view is not None
    nodes = [(n.op, str(n.target)) for n in result.view.nodes]
    assert nodes[0] == ("placeholder", "x")
    modules = [target for op, target in nodes if op == "call_module"]
    assert modules == ["fc", "norm", "act", "drop"]  # leaves, in call order
    assert ("get_attr", "scale") in nodes
    assert ("call_method", "topk") in nodes
    getitems = [
        n for n in result.view.nodes if n.target is __import__("operator").getitem
    ]
    assert [g.args[1] for g in getitems] == [0]  # the unused index is dropped
    # The data-dependent branch ran: its multiply is in the graph.
    assert ("call_method", "mul") in nodes
    assert nodes[-1][0] == "output"


def test_meta_values_hold_real_shapes_and_no_data() -> None:
    result = record(Block(), (torch.randn(5, 6),))
    assert result.view is not None
    view = result.view
    values = [
        n.meta["val"] for n in view.nodes if isinstance(n.meta.get("val"), torch.Tensor)
    ]
    assert values
    assert all(v.is_meta for v in values)
    shapes = {str(n.target): view.shape(n) for n in view.nodes if n.op == "call_module"}
    assert shapes == {"fc": (5, 6), "norm": (5, 6), "act": (5, 6), "drop": (5, 6)}


def test_stack_traces_name_the_users_line() -> None:
    result = record(Block(), (torch.randn(5, 6),))
    assert result.view is not None
    fc = next(n for n in result.view.nodes if n.target == "fc")
    spot = result.view.position(fc)
    assert spot is not None
    assert Path(spot.path).name == "test_recording.py"
    assert (
        "self.act(self.norm(self.fc(x)))"
        in Path(spot.path).read_text().splitlines()[spot.line - 1]
    )


def test_an_in_place_result_keeps_the_input_node_for_earlier_names() -> None:
    """``out = self.relu(x)`` with ``inplace=True``, then ``out + x``: as in a symbolic
    trace, ``x`` is still the placeholder, ``out`` the ReLU."""

    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.ReLU(inplace=True)
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.relu(x)
            return self.fc(out) + x

    result = record(Skip(), (torch.randn(3, 4),))
    assert result.view is not None
    add = next(n for n in result.view.nodes if n.target == "add")
    assert [str(a) for a in add.args] == ["fc", "x"]


def test_leaf_rule_is_the_symbolic_tracers() -> None:
    class Made(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), nn.GELU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.Softmax(dim=-1)(self.body(x))  # built in forward: no submodule

    result = record(Made(), (torch.randn(3, 4),))
    assert result.view is not None
    nodes = [(n.op, str(n.target)) for n in result.view.nodes]
    assert ("call_module", "body.0") in nodes
    assert ("call_module", "body.1") in nodes
    assert ("call_module", "body") not in nodes  # Sequential is inlined
    assert result.view.op(result.view.output.args[0]) == "softmax"


def test_a_failing_forward_gives_no_view_and_removes_the_hooks() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    hooks = (
        dict(module_globals._global_forward_hooks),
        dict(module_globals._global_forward_pre_hooks),
    )
    result = record(Broken(), (torch.randn(3, 4),))
    assert result.view is None
    assert result.reason is not None
    assert "RuntimeError" in result.reason
    assert (
        dict(module_globals._global_forward_hooks),
        dict(module_globals._global_forward_pre_hooks),
    ) == hooks


def test_keyword_inputs_and_dict_outputs() -> None:
    class SelfLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 3)

        def forward(self, input_ids: Any, labels: Any = None) -> Any:
            logits = self.head(self.embed(input_ids).mean(1))
            loss = None if labels is None else F.cross_entropy(logits, labels)
            return {"loss": loss, "logits": logits}

    ids = torch.zeros(2, 5, dtype=torch.long)
    batch = {"input_ids": ids, "labels": torch.zeros(2, dtype=torch.long)}
    result = record(SelfLoss(), batch)  # type: ignore[arg-type]
    assert result.view is None  # a plain dict is no ExampleInputs: positional call
    from nnlint.fx.inputs import example_inputs

    result = record(SelfLoss(), example_inputs(SelfLoss(), batch))
    assert result.view is not None
    output = result.view.output.args[0]
    assert sorted(output) == ["logits", "loss"]
    assert result.view.op(output["loss"]) == "cross_entropy"


def test_modules_run_by_another_thread_are_not_recorded() -> None:
    """Global module hooks fire in every thread; the recording keeps its own."""
    import threading

    class Spawner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.side = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            worker = threading.Thread(target=lambda: self.side(torch.randn(2, 4)))
            worker.start()
            worker.join()
            return self.fc(x)

    result = record(Spawner(), (torch.randn(3, 4),))
    assert result.view is not None
    calls = [str(n.target) for n in result.view.nodes if n.op == "call_module"]
    assert calls == ["fc"]


class CompiledHelper(nn.Module):
    """A forward that calls a ``torch.compile``d function (the backend that runs the
    captured graph as it is: no C compiler needed, dynamo still traces)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.gain = nn.Parameter(torch.ones(6, 6))
        self.mix = torch.compile(_mix, backend="eager", dynamic=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.fc(x), self.gain)


def _mix(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ w) * 2 + x.mean()


# dynamo's own compile of ``_mix`` reads ``.grad`` of a non-leaf internally and warns.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_a_compiled_function_inside_forward_is_recorded_op_by_op() -> None:
    model = CompiledHelper()
    x = torch.randn(5, 6)
    model(x)  # compiled before the recording, as in a check after training steps
    result = record(model, (x,))
    assert result.view is not None, result.reason
    nodes = [
        (n.op, getattr(n.target, "__name__", str(n.target))) for n in result.view.nodes
    ]
    assert nodes == [
        ("placeholder", "x"), ("call_module", "fc"), ("get_attr", "gain"),
        ("call_method", "matmul"), ("call_function", "relu"),
        ("call_method", "mul"), ("call_method", "mean"), ("call_method", "add"),
        ("output", "output"),
    ]  # fmt: skip
    assert result.view.shape(result.view.output.args[0]) == (5, 6)
