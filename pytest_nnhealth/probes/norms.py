"""Norms of many tensors at once (a step's gradients and weights, shared by the
gradient, update and plumbing probes through ``RunContext``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


@torch.no_grad()
def norms(
    tensors: Sequence[torch.Tensor | None],
    params: list[nn.Parameter],
    one_device: bool = False,
) -> torch.Tensor | None:
    """Norms of ``tensors`` (0 for None) as one float32 vector. ``one_device``: every
    tensor is known to be on one device (no per-tensor check, ~20 us for 170)."""
    if not params:
        return None
    index = [i for i, t in enumerate(tensors) if t is not None]
    if not index:
        return torch.zeros(len(params), device=params[0].device)
    present = [tensors[i] for i in index]
    if any(t.is_sparse for t in present):  # type: ignore[union-attr]
        present = [_dense(t) for t in present]  # type: ignore[arg-type]
    # One fused launch per dtype/device group instead of one per parameter.
    values = list(torch._foreach_norm(present))  # type: ignore[arg-type]
    device = values[0].device
    if not one_device and any(v.device != device for v in values):
        values = [v.to(device) for v in values]
    stacked = torch.stack(values).float()
    if len(index) == len(params):
        return stacked
    out = torch.zeros(len(params), device=device, dtype=torch.float32)
    return out.index_copy_(0, torch.tensor(index, device=device), stacked)


def _dense(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.coalesce().values() if tensor.is_sparse else tensor
