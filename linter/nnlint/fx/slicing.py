"""A few samples of a batch, for recording a graph at a fraction of the batch's cost.

The graph rules read the data flow and the shapes of the values, not how many samples
went through: recording the first few samples of a batch gives the same graph as the
whole batch, with the batch axis shorter. A real forward of BERT-base on 8 x 128 tokens
costs seconds and keeps activations of every sample alive while they are in use; two
samples cost a quarter of that.

The slice keeps what the rules can see in a shape:

* at least two samples, since a batch axis of size 1 broadcasts where a longer one
  fails, and batch norm in training mode rejects one sample per channel;
* a size no other axis of the inputs has, so that an axis mix-up that fails on the
  whole batch (``(B, C)`` read as ``(C, B)``) does not pass by coincidence;
* nothing sliced when the batch axis is ambiguous: the tensors disagree on their first
  axis (a graph network's ``(2, E)`` edge list beside ``(N, F)`` features) or one of
  them has another axis of the batch's size.

The sequence axis is left whole: position embeddings, masks and cached buffers are
sized by it, and a shorter sequence can take another path through the model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch
from torch.utils import _pytree as pytree

from nnlint.fx.inputs import ExampleInputs

# Fewer samples than this are recorded whole: nothing to gain.
SAMPLES = 2


class Slice(NamedTuple):
    inputs: ExampleInputs  # every tensor cut to its first ``samples`` samples
    samples: int
    of: int  # the batch's size


def batch_slice(inputs: ExampleInputs) -> Slice | None:
    """``inputs`` with every tensor cut to its first few samples, or None when the
    batch axis is ambiguous or already short (module docstring)."""
    leaves = [
        leaf
        for leaf in pytree.tree_leaves((inputs.args, inputs.keywords))
        if isinstance(leaf, torch.Tensor) and leaf.dim() > 0
    ]
    if not leaves:
        return None
    size = leaves[0].shape[0]
    if any(leaf.shape[0] != size or size in leaf.shape[1:] for leaf in leaves):
        return None
    others = {axis for leaf in leaves for axis in leaf.shape[1:]}
    keep = next(n for n in range(SAMPLES, size + 2) if n not in others)
    if keep >= size:
        return None

    def cut(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value[:keep]
        return value

    args, keywords = pytree.tree_map(cut, (inputs.args, inputs.keywords))
    cut_inputs = dataclasses.replace(inputs, args=tuple(args), keywords=keywords)
    return Slice(cut_inputs, keep, size)
