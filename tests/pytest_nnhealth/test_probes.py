"""Probes measure exactly what their docs say, and keep no activation alive."""

from __future__ import annotations

import gc
import weakref

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.probes.activations import output_moments  # noqa: E402
from pytest_nnhealth.probes.dead_units import (  # noqa: E402
    dead_fraction,
    units_matrix,
    units_of,
)
from pytest_nnhealth.probes.histograms import EDGES, log_histogram  # noqa: E402
from pytest_nnhealth.probes.plumbing import locate  # noqa: E402
from pytest_nnhealth.probes.rank import constant_rows, spectrum_stats  # noqa: E402
from pytest_nnhealth.probes.saturation import (  # noqa: E402
    TANH_CUTOFF,
    saturated_fraction,
)
from pytest_nnhealth.training.health_check import check  # noqa: E402


def test_units_matrix_layouts():
    assert units_matrix(torch.zeros(8, 5)).shape == (8, 5)
    assert units_matrix(torch.zeros(8, 3, 5)).shape == (24, 5)  # (N, T, F)
    assert units_matrix(torch.zeros(8, 5, 2, 3)).shape == (48, 5)  # (N, C, H, W)
    assert units_matrix(torch.zeros(5)) is None


def test_dead_fraction_counts_units_dead_on_95_percent_of_the_batch():
    out = torch.ones(40, 4)
    out[:, 0] = 0.0  # dead everywhere
    out[:39, 1] = 0.0  # dead on 97.5% of the batch: dead
    out[:37, 2] = 0.0  # 92.5%: alive
    assert dead_fraction(out).item() == pytest.approx(0.5)


def test_units_counted_per_layout():
    assert units_of(torch.zeros(8, 5)) == 5
    assert units_of(torch.zeros(8, 3, 5)) == 5  # (N, T, F): features
    assert units_of(torch.zeros(8, 16, 4, 4)) == 16  # (N, C, H, W): channels


def test_saturation_cutoffs():
    x = torch.tensor([0.0, 1.0, 1.9, -2.0, 3.0, 4.0])
    assert TANH_CUTOFF == pytest.approx(1.8184, abs=1e-4)  # DESIGN rounds to 1.8183
    assert saturated_fraction(nn.Tanh(), x).item() == pytest.approx(4 / 6)
    assert saturated_fraction(nn.Sigmoid(), x).item() == pytest.approx(1 / 6)
    assert saturated_fraction(nn.Hardtanh(), x).item() == pytest.approx(4 / 6)
    assert saturated_fraction(nn.ReLU(), x) is None


def test_output_moments_over_tuple_leaves_match_concatenation():
    a, b = torch.randn(10, 3), torch.randn(4) * 3 + 1
    mean, std = output_moments(
        (a, {"b": b, "n": 3, "i": torch.ones(2, dtype=torch.long)})
    )
    both = torch.cat([a.flatten(), b])
    assert mean == pytest.approx(both.mean().item(), abs=1e-5)
    assert std == pytest.approx(both.std(correction=0).item(), abs=1e-5)
    assert output_moments((3, "x")) is None


def test_spectrum_of_rank_one_and_identity():
    rank_one = torch.ones(16, 1) @ torch.randn(1, 8)
    top, effective = spectrum_stats(rank_one)
    assert top.item() == pytest.approx(1.0, abs=1e-4)
    assert effective.item() == pytest.approx(1.0, abs=1e-3)
    top, effective = spectrum_stats(torch.eye(8))
    assert top.item() == pytest.approx(1 / 8)
    assert effective.item() == pytest.approx(8.0, rel=1e-4)
    assert spectrum_stats(torch.zeros(8, 8)) is None
    assert spectrum_stats(torch.full((8, 8), float("nan"))) is None


def test_rank_is_not_measured_on_pooled_rows_or_constant_inputs():
    # (N, C, 1, 1): a global pooling's output measures the batch, not the model.
    assert spectrum_stats(torch.randn(8, 16, 1, 1)) is None
    assert dead_fraction(torch.randn(8, 16, 1, 1).relu()) is None
    assert spectrum_stats(torch.randn(8, 16, 2, 2)) is not None
    # Segment ids all 0: identical rows by design.
    assert constant_rows((torch.zeros(8, 16, dtype=torch.long),))
    assert not constant_rows((torch.randint(0, 2, (8, 16)),))
    assert constant_rows({"x": torch.ones(4, 3)})
    assert not constant_rows((torch.randn(4, 3),))


def test_rank_of_an_input_that_is_the_previous_output_is_computed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sequential modules: module k's input is module k-1's output; its spectrum is
    reused, unless an in-place op changed the tensor in between (version counter)."""
    from pytest_nnhealth.probes import rank

    calls: list[tuple[int, ...]] = []
    real = rank.sampled_rows

    def counted(output, channels_last=False):  # type: ignore[no-untyped-def]
        calls.append(tuple(output.shape))
        return real(output, channels_last)

    monkeypatch.setattr(rank, "sampled_rows", counted)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 10))
    x, y = torch.randn(32, 12), torch.randint(0, 10, (32,))
    report = check(model, (x, y), loss_fn=F.cross_entropy, steps=3, graph=False)
    # Per deep step (0 and 2): 3 outputs and 3 inputs, of which 2 are the outputs of
    # "0" and "1": 4 spectra, not 6.
    assert len(calls) == 2 * 4
    first = report.layers["0"].series["top_sv_fraction"][0]
    assert report.layers["1"].series["input_top_sv_fraction"][0] == first

    calls.clear()
    inplace = nn.Sequential(nn.Linear(12, 16), nn.ReLU(inplace=True), nn.Linear(16, 10))
    report = check(inplace, (x, y), loss_fn=F.cross_entropy, steps=3, graph=False)
    # The in-place ReLU changes "0"'s output after "0"'s hook: what ReLU receives (seen
    # after its forward, as without the reuse) is its own output, not "0"'s stale one.
    assert len(calls) == 2 * 4
    relu = report.layers["1"].series
    assert relu["input_top_sv_fraction"][0] == relu["top_sv_fraction"][0]
    before = report.layers["0"].series["top_sv_fraction"][0]
    assert relu["input_top_sv_fraction"][0] != before


def test_a_linear_on_4d_input_has_its_units_last():
    """Talking-heads projection over (B, N, N, heads): units are the heads."""
    logits = torch.randn(2, 4, 4, 8)
    top_last, _ = spectrum_stats(logits, channels_last=True)
    top_first, _ = spectrum_stats(logits.movedim(-1, 1))
    assert top_last.item() == pytest.approx(top_first.item(), rel=1e-5)


def test_update_ratio_of_a_small_init_scale_is_judged_against_the_floor():
    """A 1e-6 layer scale's first Adam step (~lr per value) is ~1e-3 / 1e-2 = 0.1
    of the floor, not 1,000x its own norm."""

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 16)
            self.gamma = nn.Parameter(torch.full((16,), 1e-6))
            self.head = nn.Linear(16, 2)

        def forward(self, x):
            return self.head(x + self.gamma * self.fc(x))

    x, y = torch.randn(32, 16), torch.randint(0, 2, (32,))
    report = check(Scaled(), (x, y), loss_fn=F.cross_entropy, steps=6, graph=False)
    ratios = report.layers[""].series["update_ratio"]
    assert ratios[0] == pytest.approx(0.1, rel=0.05)
    assert report.by_check("update_ratio_high") == []
    # The floor is a threshold: at 1e-4 per value the same step is 10x the floor.
    lower = {"update_scale_floor": 1e-4}
    report = check(
        Scaled(), (x, y), loss_fn=F.cross_entropy, steps=6, graph=False,
        thresholds=lower,
    )  # fmt: skip
    assert report.layers[""].series["update_ratio"][0] == pytest.approx(10, rel=0.05)
    assert report.thresholds["update_scale_floor"] == 1e-4


def test_log_histogram_bins():
    counts = log_histogram([torch.tensor([0.0, 1e-9, 1.0, -1.0, 1e9])])
    assert counts.sum().item() == 5
    assert counts[0].item() == 2  # zero and 1e-9 clamp into the first bin
    assert counts[-1].item() == 1  # 1e9 clamps into the last bin
    one = EDGES.index(0.0)
    assert counts[one].item() == 2  # |1| and |-1|: log10 = 0 starts a bin
    # NaN is not counted, +-Inf clamps into the last bin (as torch.histc did).
    counts = log_histogram([torch.tensor([float("nan"), float("inf"), -float("inf")])])
    assert counts.sum().item() == 2
    assert counts[-1].item() == 2


def test_locate_finds_list_and_dict_holders():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Module()
            self.inner.blocks = [nn.Linear(1, 1), nn.Linear(1, 1)]
            self.heads = {"a": nn.Linear(1, 1)}

    holder = Holder()
    assert locate(holder, holder.inner.blocks[1]) == "inner.blocks[1]"
    assert locate(holder, holder.heads["a"]) == "heads['a']"
    assert locate(holder, nn.Linear(1, 1)) == "<unregistered Linear>"


def test_no_activation_or_gradient_outlives_its_step():
    refs: list[weakref.ref] = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x):
            out = self.lin(x)
            refs.append(weakref.ref(out))
            return out

    torch.manual_seed(0)
    model = nn.Sequential(Spy(), nn.ReLU(), nn.Linear(8, 2))
    check(
        model,
        (torch.randn(16, 8), torch.randint(0, 2, (16,))),
        loss_fn=F.cross_entropy,
        steps=6,
        graph=False,
    )
    gc.collect()
    assert len(refs) == 7  # six steps + the held-batch loss
    assert [r() for r in refs] == [None] * 7


def test_probe_memory_does_not_grow_with_tensors_per_step():
    """Probes keep scalars per step (series), never tensors of activation size."""
    from pytest_nnhealth.training import runner

    kept: list = []
    original = runner.collect

    def spy(model, ctx, probes, *args):
        kept.extend(probes)
        return original(model, ctx, probes, *args)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))
    batch = (torch.randn(32, 8), torch.randint(0, 2, (32,)))
    try:
        runner.collect = spy
        check(model, batch, loss_fn=F.cross_entropy, steps=5, graph=False)
    finally:
        runner.collect = original
    big = []
    for probe in kept:
        for value in vars(probe).values():
            for tensor in _tensors(value):
                if tensor.numel() > 64 * 2 + 64 + 8 * 64 + 64:  # > a parameter tensor
                    big.append((type(probe).__name__, tensor.shape))
    assert big == []


def _tensors(value, depth=0):
    if depth > 4:
        return
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item, depth + 1)


def test_the_runner_replays_to_the_first_nan_and_records_where_it_started():
    """run_and_locate: a finite run asks for no replay copy; a NaN run replays on a
    fresh copy and hands the judge a finished record with the NonfiniteEvent."""
    from pytest_nnhealth.judge.records import NonfiniteEvent
    from pytest_nnhealth.training import nonfinite_replay, runner

    class LogFeatures(nn.Module):
        def forward(self, x):
            return torch.log(x)  # NaN for negative inputs, from the first forward

    def new_spec() -> runner.RunSpec:
        batch = (torch.randn(16, 4), torch.randint(0, 2, (16,)))
        return runner.RunSpec(
            [batch] * 3, F.cross_entropy, None, None, 3, 0, torch.device("cpu")
        )

    for net, expected in (
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), None),
        (
            nn.Sequential(nn.Linear(4, 4), LogFeatures(), nn.Linear(4, 2)),
            NonfiniteEvent(0, "1", "forward"),
        ),
    ):
        torch.manual_seed(0)
        spec = new_spec()
        fresh_calls = []

        def fresh(net=net, spec=spec, calls=fresh_calls):
            calls.append(1)
            return runner.wired_copy(net, spec)

        work, memo, wired = runner.wired_copy(net, spec)
        result = nonfinite_replay.run_and_locate(work, memo, wired, fresh)
        assert result.nonfinite == expected
        assert len(fresh_calls) == (0 if expected is None else 1)


def test_probes_hand_their_non_series_results_over_as_typed_fields():
    """Probe.record: every non-series measurement arrives in its typed RunResult
    field (no string-keyed dicts), with the values this model implies."""
    from pytest_nnhealth.judge.measured import UpdateMemory
    from pytest_nnhealth.training import runner

    class Wired(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
            self.unused = nn.Linear(8, 8)  # registered, never called: no grad
            self.side = [nn.Linear(8, 8)]  # runs, but hidden from the model
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.side[0](self.body(x)))

    torch.manual_seed(0)
    batch = (torch.randn(16, 4), torch.randint(0, 2, (16,)))
    spec = runner.RunSpec(
        [batch] * 3, F.cross_entropy, None, None, 3, 0, torch.device("cpu"),
        histograms=True,
    )  # fmt: skip
    work, memo, spec = runner.wired_copy(Wired(), spec)
    result = runner.run(work, memo, spec)
    assert result.dead_samples == {"body.1": 16}
    assert result.params_without_grad == [("unused", "weight"), ("unused", "bias")]
    assert result.zero_gradients == []
    assert result.unregistered == [("side[0]", "Linear")]
    assert result.routers == []
    assert result.nonfinite is None  # only the replay's locator writes it
    memory = result.update_memory
    assert isinstance(memory, UpdateMemory)
    assert (memory.tensors, memory.sampled_tensors) == (6, 0)
    assert memory.extra_bytes == memory.parameter_bytes == 4 * (40 + 72 + 18)
    assert set(result.layers["body.1"].histograms) == {"act_hist"}
    assert set(result.layers["head"].histograms) == {"act_hist", "grad_hist"}
