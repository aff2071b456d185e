"""What the probes keep per output is what they measured: the activation sums and
the rank probe's rows, taken by shortcuts that must give the same numbers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_squared_sums_keep_the_order_of_single_and_several_tensor_outputs():
    """One-tensor outputs keep a norm squared at the end, several-tensor outputs a
    sum of squares: mixed in one list, each pair is the float32 sums of its own."""
    from pytest_nnhealth.probes.activations import output_sums, squared_sums

    a, b, c = torch.randn(6, 5), torch.randn(3) + 2, torch.full((4,), -3.0)
    measured = [output_sums(a), output_sums((b, c)), output_sums(c)]
    pairs = squared_sums([m for m in measured if m is not None])
    both = torch.cat([b, c])
    expected = [(a.sum(), (a * a).sum()), (both.sum(), (both * both).sum())]
    expected.append((c.sum(), (c * c).sum()))
    assert [m.numel for m in measured if m is not None] == [30.0, 7.0, 4.0]
    for (total, square), (want_total, want_square) in zip(pairs, expected, strict=True):
        assert total == pytest.approx(want_total.item(), rel=1e-5)
        assert square == pytest.approx(want_square.item(), rel=1e-5)


@pytest.mark.parametrize(
    "shape", [(8, 24, 56, 56), (16, 24, 7, 9), (3, 8, 5, 5, 5), (8, 16, 3, 3)]
)
def test_rank_rows_of_a_conv_output_are_the_rows_of_its_units_matrix(shape):
    """The rank probe gathers its (at most 64) rows of a >= 4-d output directly: the
    same rows, in the same order, as striding the whole channels-last matrix."""
    from pytest_nnhealth.probes.dead_units import units_matrix
    from pytest_nnhealth.probes.rank import MAX_ROWS, sampled_rows

    backwards = range(len(shape) - 1, -1, -1)  # a non-contiguous output
    strided = torch.randn(*shape[::-1]).permute(*backwards)
    for x in (torch.randn(*shape), strided):
        kept = x[:: x.shape[0] // 8] if x.shape[0] > 8 else x
        matrix = units_matrix(kept)
        stride = -(-matrix.shape[0] // MAX_ROWS)
        assert torch.equal(sampled_rows(x), matrix[::stride][:MAX_ROWS].double())
    channels_last = torch.randn(8, 16, 16, 64).permute(0, 3, 1, 2)
    matrix = units_matrix(channels_last)
    stride = -(-matrix.shape[0] // MAX_ROWS)
    rows = sampled_rows(channels_last)
    assert rows.shape == (MAX_ROWS, 64)
    assert torch.equal(rows, matrix[::stride][:MAX_ROWS].double())


def test_a_probe_mode_does_not_see_unseen_hooks_but_a_users_mode_does():
    from torch.overrides import TorchFunctionMode

    from pytest_nnhealth.probes.quiet import ProbeMode, unseen

    seen: list[str] = []

    class Counting:
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(type(self).__name__)
            return func(*args, **(kwargs or {}))

    class Probes(Counting, ProbeMode):
        pass

    class Users(Counting, TorchFunctionMode):
        pass

    x = torch.ones(3)
    hook = unseen(lambda t: (t + 1).sum())
    for mode, expected in ((Probes(), []), (Users(), ["Users", "Users"])):
        seen.clear()
        with mode:
            total = hook(x)
        assert total.item() == 6.0
        assert seen == expected
    seen.clear()
    with Probes():
        (x + 1).sum()  # the model's own calls are still seen
    assert seen == ["Probes", "Probes"]


@pytest.mark.parametrize("width", [4, 64])
def test_a_module_called_twice_in_a_step_has_one_histogram_row_for_both(width):
    """Calls of one module in one step are one row (their counts summed), as the
    per-call ``histc`` kept them."""
    from torch import nn

    from pytest_nnhealth.probes.histograms import log_histogram
    from pytest_nnhealth.training import runner

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(width, width)
            self.head = nn.Linear(width, 1)

        def forward(self, x):
            return self.head(self.inner(self.inner(x)))

    model = Twice()
    batch = (torch.randn(32, width), torch.randn(32, 1))
    work, memo = runner.work_copy(model, torch.device("cpu"))
    spec = runner.RunSpec(
        [batch] * 3, torch.nn.functional.mse_loss, None,
        lambda p: torch.optim.SGD(p, lr=0.0), 3, 0, torch.device("cpu"),
        histograms=True,
    )  # fmt: skip
    result = runner.run(work, memo, spec)
    hist = result.layers["inner"].histograms["act_hist"]
    assert hist.steps == [0, 2]
    with torch.no_grad():  # lr 0: the same weights at every step
        first = model.inner(batch[0])
        expected = log_histogram([first]) + log_histogram([model.inner(first)])
    assert hist.counts[0] == expected.tolist()


def test_fused_gradient_and_weight_norms_are_the_separate_norms():
    """After backward the run context takes the gradients' and the weights' norms in
    one fused call: the same values as one call each, a missing gradient 0."""
    from torch import nn

    from pytest_nnhealth.probes.base import RunContext
    from pytest_nnhealth.probes.norms import norms

    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2), nn.Linear(2, 2))
    model(torch.randn(3, 5))[:, :1].sum().backward()
    model[3].weight.grad = None  # a parameter the loss does not reach
    ctx = RunContext.build(model, steps=1)
    grads, weights = ctx.grad_norms(), ctx.param_norms()
    params = ctx.trainable()
    assert torch.equal(grads, norms([p.grad for p in params], params))
    assert torch.equal(weights, norms(params, params))
    missing = next(i for i, p in enumerate(params) if p is model[3].weight)
    assert grads[missing].item() == 0.0
    assert torch.equal(weights, torch.stack([p.detach().norm() for p in params]))


@pytest.mark.parametrize(
    "shape", [(8, 16), (8, 32, 64), (8, 24, 56, 56), (300, 1000), (2, 5), (4, 0)]
)
def test_dead_unit_counts_by_shape_are_the_counts_of_the_tensor(shape):
    from pytest_nnhealth.probes.dead_units import (
        samples_per_unit,
        shape_counts,
        units_of,
    )

    tensor = torch.zeros(shape)
    assert shape_counts(tensor.shape) == (samples_per_unit(tensor), units_of(tensor))
