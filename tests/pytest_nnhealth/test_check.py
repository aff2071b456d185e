"""check() end to end: a healthy model passes; each symptom has a broken model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.judge import quantities as Q  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402

STEPS = 12


def data(n: int = 64, d: int = 10, classes: int = 3):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def mlp(act: type[nn.Module] = nn.ReLU, width: int = 32) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(10, width), act(), nn.Linear(width, width), act(), nn.Linear(width, 3)
    )


def run(model: nn.Module, **kwargs):
    kwargs.setdefault("loss_fn", F.cross_entropy)
    kwargs.setdefault("steps", STEPS)
    kwargs.setdefault("graph", False)
    return check(model, data(), **kwargs)


def checks(report) -> set[tuple[str, str]]:
    return {(f.check, f.module) for f in report.findings}


def test_healthy_mlp_passes_and_records_series():
    report = run(mlp(), histograms=True)
    assert report.healthy, report.findings
    assert report.findings == []
    assert report.steps == STEPS
    assert len(report.losses) == STEPS
    assert report.losses[-1] < report.losses[0]
    # "" is the model itself: its output logits (max, log Z, mean) per step.
    assert list(report.layers) == ["0", "1", "2", "3", "4", ""]
    assert len(report.layers[""].series["logit_lse"]) == STEPS
    linear = report.layers["0"]
    assert linear.type == "Linear"
    for key in ("grad_norm", "update_ratio"):
        assert len(linear.series[key]) == STEPS
        assert all(v is not None for v in linear.series[key])
    # Activation statistics: on the statistics steps only (first and last 3, every
    # 10th), where their hooks are attached.
    for key in ("act_mean", "act_std"):
        measured = [i for i, v in enumerate(linear.series[key]) if v is not None]
        assert measured == [0, 1, 2, 9, 10, 11]
    assert len(report.layers["1"].series["dead_fraction"]) == STEPS
    rank = report.layers["2"].series["rank"]
    assert [i for i, v in enumerate(rank) if v is not None] == [0, STEPS - 1]
    hist = report.layers["0"].histograms["act_hist"]
    assert hist.steps == [0, STEPS - 1]
    # Every key the probes wrote is declared in judge/quantities.py.
    series = {key for stats in report.layers.values() for key in stats.series}
    histograms = {key for stats in report.layers.values() for key in stats.histograms}
    assert all(Q.is_declared_series(key) for key in series), series
    assert histograms == set(Q.HISTOGRAMS)
    # No Tanh (saturation) and no attention in this MLP.
    assert series >= set(Q.CORE_SERIES) - {Q.SATURATION_FRACTION}
    assert len(hist.edges) == len(hist.counts[0]) + 1
    assert sum(hist.counts[0]) == 64 * 32
    assert report.meta["optimizer"].startswith("Adam(lr=0.001")
    assert report.meta["device"] == "cpu"
    assert report.meta["copy"] == "deepcopy"


def test_histograms_are_measured_only_when_asked(monkeypatch: pytest.MonkeyPatch):
    """No rule reads the histograms (the HTML report draws them): a default check
    watches no module for them and records none; histograms=True records the same
    counts on the deep steps, and every other value is unchanged."""
    from pytest_nnhealth.probes import histograms

    counted: list[int] = []
    real = histograms._counts

    def counting(tensor):  # type: ignore[no-untyped-def]
        counted.append(tensor.numel())
        return real(tensor)

    monkeypatch.setattr(histograms, "_counts", counting)
    default = run(mlp())
    assert counted == []
    assert all(not stats.histograms for stats in default.layers.values())
    asked = run(mlp(), histograms=True)
    assert counted  # every leaf output and parameter gradient on the deep steps
    assert asked.layers["0"].histograms["act_hist"].steps == [0, STEPS - 1]
    assert asked.layers["0"].histograms["grad_hist"].steps == [0, STEPS - 1]
    assert set(asked.layers) == set(default.layers)
    for name, stats in asked.layers.items():
        assert stats.series == default.layers[name].series, name
    assert asked.losses == default.losses


def test_dying_relu_negative_bias_is_dead_units_on_that_relu():
    model = mlp()
    nn.init.constant_(model[2].bias, -5.0)
    report = run(model)
    dead = report.by_check("dead_units")
    assert [(f.module, f.step) for f in dead] == [("3", 0)]
    assert dead[0].value == pytest.approx(1.0)
    assert dead[0].message.startswith(
        "dead_units in `3` (ReLU): 1.00 of units dead from"
    )
    assert "healthy < 0.40" in dead[0].message
    assert not report.healthy


def test_nan_born_in_a_module_names_it_and_the_step():
    class LogShift(nn.Module):
        def forward(self, x):
            return torch.log(x - 100.0)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), LogShift(), nn.Linear(16, 3))
    report = run(model)
    found = report.by_check("nonfinite")
    assert [(f.module, f.step) for f in found] == [("2", 0)]
    assert "LogShift" in found[0].message
    assert "forward" in found[0].message
    assert report.by_check("loss_divergence") == []  # NaN from step 0: one finding


def test_nan_after_some_steps_is_reported_at_that_step():
    class Late(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x / 0.0 if self.calls == 4 else x

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), Late(), nn.Linear(16, 3))
    found = run(model).by_check("nonfinite")
    assert [(f.module, f.step) for f in found] == [("1", 3)]


def test_finite_masks_at_the_float_limit_are_not_nonfinite():
    # Scores masked with -finfo.max (finite) returned beside the output, as
    # x-transformers' attention returns its pre-softmax scores: a float32 sum of
    # them overflows to -inf, which the locator once took for an Inf in the output.
    class MaskedScores(nn.Module):
        def forward(self, x):
            scores = x @ x.transpose(0, 1)
            mask = torch.ones_like(scores, dtype=torch.bool).triu(1)
            masked = scores.masked_fill(mask, -torch.finfo(scores.dtype).max)
            return x, masked

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.scores, self.out = (
                nn.Linear(10, 16),
                MaskedScores(),
                nn.Linear(16, 3),
            )

        def forward(self, x):
            return self.out(self.scores(self.inp(x))[0])

    torch.manual_seed(0)
    report = run(Net())
    assert report.by_check("nonfinite") == []
    assert report.healthy, report.findings


def test_a_call_on_input_the_same_for_every_sample_is_not_measured():
    # RAFT refines its flow estimate several times per step with one encoder, whose
    # first call reads a zero flow: every unit is then on or off for every sample by
    # design. That call is left out of the dead-unit statistics; the others count.
    class Refine(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.enc, self.act = (
                nn.Linear(10, 16),
                nn.Linear(4, 16),
                nn.ReLU(),
            )
            self.to_flow, self.out = nn.Linear(16, 4), nn.Linear(16, 3)

        def forward(self, x):
            h, flow = self.inp(x), x.new_zeros(x.shape[0], 4)
            for _ in range(3):
                h = h + self.act(self.enc(flow))
                flow = flow + self.to_flow(h)
            return self.out(h)

    torch.manual_seed(0)
    report = run(Refine())
    assert report.by_check("rank_collapse") == []
    assert report.healthy, report.findings
    dead = report.layers["act"].series["dead_fraction"]
    assert all(v is not None and v < 0.4 for v in dead if v is not None)
    stat_steps = sum(v is not None for v in report.layers["inp"].series["act_mean"])
    assert sum(v is not None for v in dead) == stat_steps  # every one measured


def test_a_nan_from_garbage_parameters_names_them():
    # A positional table from torch.empty, never initialised: what the memory held
    # (Whisper's decoder once held up to 2.4e24) overflows the LayerNorm after it.
    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(10, 16)
            self.positions = nn.Parameter(torch.empty(16))
            self.norm, self.out = nn.LayerNorm(16), nn.Linear(16, 3)

        def forward(self, x):
            return self.out(self.norm(self.embed(x) + self.positions))

    torch.manual_seed(0)
    model = Decoder()
    with torch.no_grad():
        model.positions.copy_(torch.randn(16) * 1e24)
    largest = float(model.positions.detach().abs().max())
    [found] = run(model).by_check("nonfinite")
    assert (found.module, found.step) == ("norm", 0)
    assert f"parameters held values up to `positions` {largest:.2g}" in found.message
    assert "NNL202" in found.message


def test_dead_units_are_measured_on_a_batch_of_identical_images():
    # One image repeated: every sample is the same, but a convolution's output still
    # varies over space, and a ReLU behind a very negative bias is still dead.
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 3)
    )
    with torch.no_grad():
        model[0].bias[:6] = -10.0  # 6 of 8 channels dead, 2 alive
    image = torch.randn(1, 3, 8, 8).repeat(8, 1, 1, 1)
    report = check(model, (image, torch.randint(0, 3, (8,))), loss_fn=F.cross_entropy)
    assert [f.module for f in report.by_check("dead_units")] == ["1"]


def test_nan_born_in_backward_names_the_module():
    class SqrtAtZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(16))

        def forward(self, x):
            return x + torch.sqrt(self.scale)  # d sqrt(s)/ds at 0 is inf

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), SqrtAtZero(), nn.Linear(16, 3))
    found = run(model).by_check("nonfinite")
    assert [(f.module, f.step) for f in found] == [("1", 0)]
    assert "backward" in found[0].message


def test_detached_branch_is_params_without_grad():
    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(10, 3)
            self.b = nn.Linear(10, 3)

        def forward(self, x):
            return self.a(x) + self.b(x).detach()

    torch.manual_seed(0)
    found = run(Detached()).by_check("params_without_grad")
    assert [f.module for f in found] == ["b"]
    assert "weight, bias" in found[0].message


def test_list_held_linear_is_unregistered_params():
    class ListHeld(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(10, 16)
            self.blocks = [nn.Linear(16, 16)]
            self.out = nn.Linear(16, 3)

        def forward(self, x):
            return self.out(torch.relu(self.blocks[0](self.inp(x))))

    torch.manual_seed(0)
    found = run(ListHeld()).by_check("unregistered_params")
    assert [(f.module, f.step) for f in found] == [("blocks[0]", None)]
    assert "nn.ModuleList" in found[0].message


def test_zero_gradients_on_every_step():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(10, 3)
            self.b = nn.Linear(10, 3)

        def forward(self, x):
            return self.a(x) + 0.0 * self.b(x)

    torch.manual_seed(0)
    found = run(Gated()).by_check("zero_gradients")
    assert [f.module for f in found] == ["b"]


def test_zero_initialised_output_layer_is_healthy():
    model = mlp()
    nn.init.zeros_(model[4].weight)
    nn.init.zeros_(model[4].bias)
    report = run(model)
    assert report.healthy, [f.message for f in report.findings]


def test_lr_ten_is_divergence_and_update_ratio_high():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
    x, _ = data()
    report = check(
        model,
        (x, x.sum(dim=1, keepdim=True)),
        loss_fn=F.mse_loss,
        steps=STEPS,
        optimizer=lambda params: torch.optim.SGD(params, lr=10.0),
        graph=False,
    )
    divergence = report.by_check("loss_divergence")
    assert len(divergence) == 1
    assert divergence[0].step is not None
    assert divergence[0].step <= 3
    high = report.by_check("update_ratio_high")
    assert {f.module for f in high} == {"0", "2"}
    assert all(f.value > 1.0 and f.step == 0 for f in high)
    assert report.meta["optimizer"] == "SGD(lr=10.0)"


def test_lr_ten_on_a_classifier_is_update_ratio_high():
    report = run(mlp(), optimizer=lambda params: torch.optim.SGD(params, lr=10.0))
    assert {f.module for f in report.by_check("update_ratio_high")} == {"0", "2", "4"}


def test_tanh_saturation_on_the_saturated_layer():
    model = mlp(nn.Tanh)
    with torch.no_grad():
        model[2].weight.mul_(20.0)
    found = run(model).by_check("saturation")
    assert [f.module for f in found] == ["3"]
    assert found[0].value > 0.5


def test_tiny_lr_is_no_learning():
    report = run(mlp(), optimizer=lambda params: torch.optim.SGD(params, lr=1e-9))
    assert [f.module for f in report.by_check("no_learning")] == [""]
    assert report.by_check("update_ratio_low")


def test_vanishing_signal_in_deep_small_init_net():
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(8):
        layers += [nn.Linear(32 if i else 10, 32), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(32, 3))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.01)
    report = run(model)
    assert report.by_check("vanishing_activations")
    assert report.by_check("vanishing_gradients")[0].module == "0"


def test_exploding_signal_in_deep_large_init_net():
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(8):
        layers += [nn.Linear(32 if i else 10, 32), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(32, 3))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=1.0)
    found = run(model).by_check("exploding_activations")
    assert len(found) == 1
    assert found[0].step == 0
    assert found[0].value > 1e3


def test_collapsed_representation_is_rank_collapse():
    class Collapse(nn.Module):
        def forward(self, x):
            return x.mean(dim=0, keepdim=True).expand_as(x)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), Collapse(), nn.ReLU(), nn.Linear(32, 3))
    found = run(model).by_check("rank_collapse")
    assert [f.module for f in found] == ["1"]


def test_thresholds_override_and_ignore():
    model = mlp()
    nn.init.constant_(model[2].bias, -5.0)
    report = run(model, thresholds={"ignore": ["dead_units", "zero_gradients"]})
    assert not report.by_check("dead_units")
    assert not report.by_check("zero_gradients")
    assert report.thresholds["ignore"] == ["dead_units", "zero_gradients"]
    healthy = run(mlp(), thresholds={"dead_fraction_max": 0.0})
    assert healthy.by_check("dead_units")  # some units are always dead


def test_reused_relu_instance_reports_its_worst_call():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(10, 32)
            self.b = nn.Linear(32, 32)
            self.out = nn.Linear(32, 3)
            self.act = nn.ReLU()  # one instance used twice

        def forward(self, x):
            return self.out(self.act(self.b(self.act(self.a(x)))))

    torch.manual_seed(0)
    model = Shared()
    nn.init.constant_(model.b.bias, -5.0)  # the second call is dead, the first is not
    found = run(model).by_check("dead_units")
    assert [(f.module, f.value) for f in found] == [("act", 1.0)]
