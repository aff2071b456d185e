"""The recorded route on a few samples of the batch (``nnlint.fx.slicing``): which
slice is taken, when none is, the same findings as on the whole batch (every graph
rule's examples), and the whole batch when the model rejects the slice."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from nnlint.fx import analysis  # noqa: E402
from nnlint.fx.analysis import analyze_routed  # noqa: E402
from nnlint.fx.inputs import ExampleInputs  # noqa: E402
from nnlint.fx.rules import all_graph_rules  # noqa: E402
from nnlint.fx.slicing import batch_slice  # noqa: E402


def _inputs(*tensors: Any) -> ExampleInputs:
    return ExampleInputs(tuple(tensors))


def test_two_samples_of_every_tensor_by_default() -> None:
    images, ids = torch.zeros(8, 3, 5, 5), torch.zeros(8, 16, dtype=torch.long)
    sliced = batch_slice(_inputs(images, ids))
    assert sliced is not None
    assert (sliced.samples, sliced.of) == (2, 8)
    assert [tuple(t.shape) for t in sliced.inputs.args] == [(2, 3, 5, 5), (2, 16)]


def test_the_slice_avoids_sizes_of_other_axes() -> None:
    # (B, 2, 3): two or three samples could hide a swapped axis; four cannot.
    sliced = batch_slice(_inputs(torch.zeros(8, 2, 3)))
    assert sliced is not None
    assert sliced.samples == 4


def test_keyword_inputs_are_sliced_alike() -> None:
    batch = {"input_ids": torch.zeros(8, 16), "labels": torch.zeros(8, 16)}
    sliced = batch_slice(ExampleInputs(tuple(batch.values()), {}, batch))
    assert sliced is not None
    assert sliced.inputs.keywords is not None
    assert {k: tuple(v.shape) for k, v in sliced.inputs.keywords.items()} == {
        "input_ids": (2, 16),
        "labels": (2, 16),
    }


@pytest.mark.parametrize(
    "tensors",
    [
        pytest.param((torch.zeros(2, 40), torch.zeros(40, 5)), id="first-axes-differ"),
        pytest.param((torch.zeros(8, 8),), id="batch-size-on-another-axis"),
        pytest.param((torch.zeros(2, 5),), id="already-short"),
        pytest.param((torch.zeros(3, 2),), id="no-shorter-free-size"),
        pytest.param((torch.tensor(1.0),), id="no-batch-axis"),
    ],
)
def test_no_slice_when_the_batch_axis_is_ambiguous_or_short(tensors: Any) -> None:
    assert batch_slice(_inputs(*tensors)) is None


class FixedBatch(nn.Module):
    """Rejects any batch but 6 samples: the slice fails, the whole batch records."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(3, 1))

    def forward(self, x: Any) -> Any:
        return x.view(6, 3, 4) + self.pos


def test_a_model_rejecting_the_slice_is_recorded_on_the_whole_batch() -> None:
    found, how = analyze_routed(FixedBatch(), (torch.zeros(6, 12),), route="recorded")
    assert how == "recorded"
    assert [(f.code, f.message) for f in found] == [
        (
            "NNL611",
            "add of shapes (6, 3, 4) and (3, 1): the (3, 1) operand is repeated "
            "across the last axis of size 4",
        )
    ]


def _whole(model: Any, inputs: Any, loss_fn: Any) -> list[Any]:
    with mock.patch.object(analysis, "batch_slice", return_value=None):
        return analyze_routed(model, inputs, loss_fn, route="recorded")[0]


def _examples() -> list[Any]:
    return [
        pytest.param(source, id=f"{rule.CODE}-{index}")
        for rule in all_graph_rules()
        for index, source in enumerate(
            [*rule.VALID, *(invalid.code for invalid in rule.INVALID)]
        )
    ]


_NOTE = re.compile(r" \(shapes from the first (\d+) of (\d+) samples\)$")


@pytest.mark.parametrize("source", _examples())
def test_rule_examples_give_the_same_findings_on_a_slice(
    source: str, example: Callable[[str], Any]
) -> None:
    module = example(source)
    loss_fn = getattr(module, "loss_fn", None)
    whole = _whole(module.model, module.example_inputs, loss_fn)
    sliced = analyze_routed(
        module.model, module.example_inputs, loss_fn, route="recorded"
    )[0]
    spot = [(f.code, f.path, f.line, f.column) for f in whole]
    assert [(f.code, f.path, f.line, f.column) for f in sliced] == spot
    for before, after in zip(whole, sliced, strict=True):
        note = _NOTE.search(after.message)
        if note is None:
            assert after.message == before.message
            continue
        # The same message with the batch axis at the slice's size.
        assert (
            _at_slice(before.message, *note.groups()) == after.message[: note.start()]
        )


def _at_slice(message: str, samples: str, of: str) -> str:
    """``message`` with the batch size ``of`` in its shapes written as ``samples``."""
    return _SHAPE.sub(lambda m: re.sub(rf"\b{of}\b", samples, m[0]), message)


_SHAPE = re.compile(r"\(\d+(?:, \d+)*,?\)")
