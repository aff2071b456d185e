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
