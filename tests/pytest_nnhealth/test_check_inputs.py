"""check(): batch and output forms, layer types, optimizers, seeds, graph findings,
argument validation."""

from __future__ import annotations

import sys
import types

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.judge.records import HealthReport  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402


def xy(n: int = 32, d: int = 8):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, d, generator=g), torch.randint(0, 3, (n,), generator=g)


def small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def test_tuple_inputs_and_tuple_outputs():
    class TwoInTwoOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 3)
            self.b = nn.Linear(8, 3)

        def forward(self, x, z):
            return self.a(x), self.b(z)

    x, y = xy()
    torch.manual_seed(0)
    report = check(
        TwoInTwoOut(),
        ((x, x * 2), y),
        steps=4,
        graph=False,
        loss_fn=lambda out, target: F.cross_entropy(out[0] + out[1], target),
    )
    assert report.healthy, report.findings
    # "" is the model's own row: its output logits (the first tensor of the tuple).
    assert set(report.layers) == {"a", "b", ""}
    assert "logit_lse" in report.layers[""].series


def test_dict_inputs_and_dict_outputs():
    class DictNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 3)

        def forward(self, features, scale=1.0):
            return {"logits": self.lin(features) * scale, "aux": features.mean()}

    x, y = xy()
    torch.manual_seed(0)
    report = check(
        DictNet(),
        ({"features": x, "scale": 2.0}, y),
        steps=4,
        graph=False,
        loss_fn=lambda out, target: F.cross_entropy(out["logits"], target),
    )
    assert report.healthy, report.findings
    assert len(report.layers["lin"].series["act_std"]) == 4


def test_iterable_of_batches_cycles():
    x, y = xy()
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    report = check(small(), batches, loss_fn=F.cross_entropy, steps=5, graph=False)
    assert len(report.losses) == 5
    assert report.losses[0] != report.losses[1]  # different batches
    generator = iter(batches)
    assert len(check(small(), generator, loss_fn=F.cross_entropy, steps=3).losses) == 3


def test_step_fn_for_unusual_models():
    x, y = xy()
    seen = []

    def step_fn(model, batch):
        seen.append(batch["tag"])
        return F.cross_entropy(model(batch["x"]), batch["y"])

    report = check(small(), {"x": x, "y": y, "tag": 1}, step_fn=step_fn, steps=3)
    assert seen == [1, 1, 1, 1]  # 3 steps + the held-batch loss
    assert report.healthy


def test_frozen_parameters_are_not_reported():
    model = small()
    model[0].requires_grad_(False)
    report = check(model, xy(), loss_fn=F.cross_entropy, steps=6, graph=False)
    assert report.healthy, report.findings
    assert "update_ratio" not in report.layers["0"].series
    assert "update_ratio" in report.layers["2"].series


def test_batchnorm_dropout_embedding_layers():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.body = nn.Sequential(
                nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1)
            )
            self.head = nn.Linear(16, 3)

        def forward(self, tokens):
            return self.head(self.body(self.emb(tokens).mean(dim=1)))

    torch.manual_seed(0)
    tokens = torch.randint(0, 20, (32, 5))
    report = check(Mixed(), (tokens, xy()[1]), loss_fn=F.cross_entropy, steps=8)
    assert report.healthy, [f.message for f in report.findings]
    assert "emb" in report.layers
    assert "body.1" in report.layers


def test_multihead_attention_and_transformer_encoder_layer():
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            attended, _ = self.attn(x, x, x)
            return self.head(self.layer(attended).mean(dim=1))

    torch.manual_seed(0)
    x = torch.randn(16, 6, 16)
    report = check(Encoder(), (x, xy(16)[1]), loss_fn=F.cross_entropy, steps=6)
    assert report.healthy, [f.message for f in report.findings]
    assert "layer.self_attn" in report.layers
    assert report.layers["attn"].series["act_std"][0] is not None


def test_optimizer_factory_and_instance():
    model = small()
    instance = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    report = check(model, xy(), loss_fn=F.cross_entropy, optimizer=instance, steps=4)
    assert report.meta["optimizer"] == "SGD(lr=0.05, momentum=0.9)"
    report = check(
        model,
        xy(),
        loss_fn=F.cross_entropy,
        steps=4,
        optimizer=lambda params: torch.optim.AdamW(params, lr=3e-3),
    )
    assert report.meta["optimizer"].startswith("AdamW(lr=0.003")


def test_lbfgs_fits_a_batch_without_update_ratio_findings():
    # Healthy: the loss falls to ~0 in a few steps. Each step() is up to max_iter
    # curvature-scaled iterations, which moved the head by 0.5-1.9x its norm.
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(16, 64), nn.GELU(), nn.LayerNorm(64), nn.Linear(64, 4)
    )
    batch = (torch.randn(32, 16), torch.randint(0, 4, (32,)))
    report = check(
        model, batch, loss_fn=F.cross_entropy, steps=8, graph=False,
        optimizer=lambda params: torch.optim.LBFGS(params, lr=0.5, max_iter=3),
    )  # fmt: skip
    assert report.losses[-1] < 0.05 * report.losses[0]
    assert report.healthy, [f.message for f in report.findings]
    assert report.meta["update_ratio"].startswith("not judged: L-BFGS")
    assert max(v for v in report.layers["3"].series["update_ratio"] if v) > 0.5


def test_same_seed_same_findings_and_values():
    model = small()
    nn.init.constant_(model[0].bias, -3.0)
    first = check(model, xy(), loss_fn=F.cross_entropy, steps=6, seed=7, graph=False)
    second = check(model, xy(), loss_fn=F.cross_entropy, steps=6, seed=7, graph=False)
    assert first.findings == second.findings
    assert first.losses == second.losses
    assert first.layers["0"].series == second.layers["0"].series


def test_seeds_majority_vote(monkeypatch):
    from pytest_nnhealth.judge.records import HealthFinding
    from pytest_nnhealth.training import health_check as check_module
    from pytest_nnhealth.training import runner

    def fake_judge(result, limits):
        seed_marker = result.meta["seed"]
        found = [HealthFinding("dead_units", "a", 0.9, "< 0.40", 1, "m", "h")]
        if seed_marker == 0:
            found.append(HealthFinding("saturation", "b", 0.9, "< 0.40", 1, "m", "h"))
        return found

    original_run = runner.run

    def tagged_run(model, memo, spec):
        result = original_run(model, memo, spec)
        result.meta["seed"] = spec.seed
        return result

    monkeypatch.setattr(check_module, "judge", fake_judge)
    monkeypatch.setattr(runner, "run", tagged_run)
    report = check(small(), xy(), loss_fn=F.cross_entropy, steps=2, seeds=3)
    assert [(f.check, f.module) for f in report.findings] == [("dead_units", "a")]
    assert report.seeds == [0, 1, 2]
    assert report.meta["votes"] == {"dead_units@a": 3, "saturation@b": 1}


def test_seeds_three_real_run():
    model = small()
    nn.init.constant_(model[0].bias, -5.0)
    report = check(model, xy(), loss_fn=F.cross_entropy, steps=5, seeds=3)
    assert report.meta["votes"]["dead_units@1"] == 3
    assert [f.module for f in report.by_check("dead_units")] == ["1"]


def test_json_round_trip_of_a_real_report():
    report = check(small(), xy(), loss_fn=F.cross_entropy, steps=4, histograms=True)
    again = HealthReport.from_json(report.to_json())
    assert again.to_dict() == report.to_dict()
    assert again.layers["0"].histograms["act_hist"].steps == [0, 3]


def _fake_fx(monkeypatch, analyze):
    import nnlint

    module = types.ModuleType("nnlint.fx")
    if analyze is not None:
        module.analyze_model = analyze  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nnlint.fx", module)
    monkeypatch.setattr(nnlint, "fx", module, raising=False)


def test_graph_findings_are_added(monkeypatch):
    from nnlint.findings import Finding

    calls = []

    def analyze(model, example_inputs, loss_fn=None, route=None):
        calls.append((type(model).__name__, example_inputs[0].shape, loss_fn, route))
        return [
            Finding(
                "m.py", 3, 1, 3, 9, "NNL601", "softmax-at-graph-tail", "msg", "warning"
            )
        ]

    _fake_fx(monkeypatch, analyze)
    model = small()
    report = check(model, xy(), loss_fn=F.cross_entropy, steps=2)
    assert calls == [("Sequential", (32, 8), F.cross_entropy, "recorded")]
    [found] = report.by_check("nnlint:NNL601")
    assert (found.module, found.severity, found.message) == ("m.py:3", "warning", "msg")
    assert report.healthy  # a warning does not fail the check
    assert report.meta["graph"] == "ran: 1 finding(s)"


def test_graph_failure_never_breaks_check(monkeypatch):
    def analyze(model, example_inputs, loss_fn=None, route=None):
        raise RuntimeError("cannot trace")

    _fake_fx(monkeypatch, analyze)
    report = check(small(), xy(), loss_fn=F.cross_entropy, steps=2)
    assert report.meta["graph"] == "failed: RuntimeError: cannot trace"
    _fake_fx(monkeypatch, None)
    report = check(small(), xy(), loss_fn=F.cross_entropy, steps=2)
    assert report.meta["graph"] == "skipped: nnlint.fx has no analyze_model"
    report = check(small(), xy(), loss_fn=F.cross_entropy, steps=2, graph=False)
    assert report.meta["graph"] == "disabled (graph=False)"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "nope"}, TypeError, "model must be a torch.nn.Module"),
        ({"loss_fn": None}, TypeError, "pass loss_fn="),
        ({"loss_fn": 3}, TypeError, "loss_fn must be callable"),
        ({"steps": 0}, ValueError, "steps must be an int >= 1"),
        ({"seeds": 1.5}, ValueError, "seeds must be an int >= 1"),
        ({"thresholds": {"bogus": 1}}, ValueError, "unknown key 'bogus'"),
        ({"thresholds": 3}, TypeError, "thresholds must be a Thresholds"),
        ({"batch": 5}, TypeError, r"batch must be \(inputs, target\)"),
        ({"batch": []}, ValueError, "iterable of batches is empty"),
        ({"batch": [1, 2, 3]}, TypeError, "batch #0 of the iterable is a int"),
        ({"batch": xy()[:1]}, TypeError, r"batch is a tuple of 1 tensor; .*\(\(x1, x2"),
        ({"batch": (*xy(), xy()[1])}, TypeError, "batch is a tuple of 3 tensors"),
        ({"batch": xy(0)}, ValueError, r"batch holds no samples \(input shape \(0, 8"),
        ({"batch": [xy(), xy(0)]}, ValueError, "batch #1 holds no samples"),
        ({"seed": 2**64}, ValueError, r"seed must be at most 2\*\*64 - seeds"),
        ({"seed": 2**64 - 2, "seeds": 3}, ValueError, "seed must be at most"),
        ({"graph": {"time_s": "5"}}, TypeError, "graph= time_s must be a number"),
        ({"graph": {"memory_mb": float("nan")}}, ValueError, "graph= limits must"),
        (
            {"thresholds": {"dead_fraction_max": float("nan")}},
            ValueError,
            "dead_fraction_max must be a number, got nan",
        ),
        (
            {"loss_fn": lambda out, y: F.cross_entropy(out, y).to(torch.complex64)},
            TypeError,
            "loss must be a real scalar tensor, got torch.complex64",
        ),
        (
            {"model": nn.ModuleDict({"body": nn.Linear(8, 3)})},
            TypeError,
            r"ModuleDict defines no forward\(\)",
        ),
        ({"optimizer": 3}, TypeError, "optimizer must be None"),
        ({"optimizer": lambda p: 3}, TypeError, "factory must return"),
        ({"device": "nonsense"}, ValueError, "invalid device"),
        ({"loss_fn": lambda out, y: out}, TypeError, "loss must be a scalar tensor"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, error, match):
    arguments = {"model": small(), "batch": xy(), "loss_fn": F.cross_entropy}
    arguments.update(kwargs)
    model, batch = arguments.pop("model"), arguments.pop("batch")
    with pytest.raises(error, match=match):
        check(model, batch, steps=arguments.pop("steps", 2), **arguments)


def test_all_frozen_model_is_a_clear_error():
    model = small().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        check(model, xy(), loss_fn=F.cross_entropy)


def test_float16_with_the_default_adam_is_refused_before_any_step():
    """Adam's eps underflows in float16: the run would report an inf update ratio
    and blame the learning rate."""
    model = small().half()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = xy()
    with pytest.raises(ValueError, match=r"`0.weight` is float16.*model.float\(\)"):
        check(model, (x.half(), y), loss_fn=F.cross_entropy, steps=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # bfloat16 has float32's exponent range: the default Adam trains it.
    report = check(
        small().bfloat16(), (x.bfloat16(), y), loss_fn=F.cross_entropy, steps=3
    )
    assert report.steps == 3
    assert not report.findings


def test_an_error_from_the_iterable_of_batches_says_where_it_came_from():
    def batches():
        yield xy()
        raise KeyError("sample 17 is missing")

    with pytest.raises(KeyError, match="sample 17") as raised:
        check(small(), batches(), loss_fn=F.cross_entropy, steps=3)
    if sys.version_info >= (3, 11):
        assert raised.value.__notes__ == [
            "nnhealth.check(): raised by your iterable of batches while taking batch "
            "#1, before any training step (your model is untouched)"
        ]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchscript_model_is_a_clear_error():
    with pytest.raises(TypeError, match="TorchScript module"):
        check(torch.jit.script(small()), xy(), loss_fn=F.cross_entropy)


def sparse_bag_model() -> nn.Module:
    return nn.Sequential(nn.EmbeddingBag(10, 8, sparse=True), nn.Linear(8, 3))


def bags() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 10, (8, 4), generator=generator)
    return ids, torch.randint(0, 3, (8,), generator=generator)


def test_sparse_gradients_with_the_default_optimizer_name_the_module():
    with pytest.raises(ValueError, match=r"`0` has sparse=True"):
        check(sparse_bag_model(), bags(), loss_fn=F.cross_entropy, steps=2)


def test_sparse_gradients_run_with_an_optimizer_that_takes_them():
    report = check(
        sparse_bag_model(),
        bags(),
        loss_fn=F.cross_entropy,
        steps=3,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
    )
    assert report.steps == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_cpu_findings():
    model = small()
    nn.init.constant_(model[0].bias, -5.0)
    cpu = check(model, xy(), loss_fn=F.cross_entropy, steps=5)
    cuda = check(model, xy(), loss_fn=F.cross_entropy, steps=5, device="cuda")
    assert {f.check for f in cpu.findings} == {f.check for f in cuda.findings}


def test_package_level_check_is_the_function_after_the_submodule_import():
    import pytest_nnhealth
    import pytest_nnhealth.training.health_check  # noqa: F401 - binds the package attribute
    from pytest_nnhealth import check as exported

    assert exported is pytest_nnhealth.training.health_check.check
    report = exported(small(), xy(), loss_fn=F.cross_entropy, steps=2, graph=False)
    assert report.steps == 2


def test_torch_compile_wrapper_is_checked_through_its_module():
    compiled = torch.compile(small(), backend="eager")
    report = check(compiled, xy(), loss_fn=F.cross_entropy, steps=4, graph=False)
    assert [name for name in report.layers if name] == ["0", "1", "2"]
    assert "logit_lse" in report.layers[""].series  # the wrapped module's output
    assert report.meta["compiled"] == "checked the module torch.compile wraps"
