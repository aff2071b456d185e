"""check()'s default optimizer: Adam at lr 1e-3, with the lr of wide weight matrices
scaled by ``FAN_IN_BASE / fan_in``, and further by their init's scale when it is below
PyTorch's default.

Why Adam: it normalises each parameter's step by its gradient scale, so one learning
rate suits models of any loss scale, where a default SGD learning rate would be too
small for some models (false ``no_learning``) and too large for others (false
``loss_divergence``).

Why the width scaling: Adam moves every weight by about ``lr`` per step whatever its
gradient, and in the first steps on one batch those moves are aligned with the layer's
input, so each output of a layer that sums over ``fan_in`` inputs moves by up to
``lr * fan_in`` per step. One lr therefore means a step 12x larger (relative to the
output's scale) at fan-in 768 than at 64: the muP observation (Yang et al. 2021,
Tensor Programs V) that Adam's lr for hidden matrices must fall as ``1 / fan_in`` to
keep the same per-step change at every width. Up to ``FAN_IN_BASE`` the default is the
unchanged ``Adam(lr=1e-3)`` the healthy attention ranges were measured with (on
transformers 32-64 wide); above it the product ``lr * fan_in`` is held at
``1e-3 * FAN_IN_BASE``. Evidence: docs/check.md
("Default optimizer").

Why the init's scale too: under the fan-in rate a layer drawn at PyTorch's default
(RMS ``1/sqrt(3 * fan_in)``) moves its output by the same share of itself per step at
every width; a matrix drawn smaller moves by more. Above ``FAN_IN_BASE`` the rate is
further multiplied by its init's share of that RMS when below 1 (Adafactor's step
relative to the weight, capped at the default's): T5 folds its logits'
``1/sqrt(d_kv)`` into ``W_q``'s init (a share of 0.22 at base width), and at the
plain fan-in rate three of its heads collapse. A share within sampling noise of 1
counts as 1 (a default-drawn layer keeps its rate bit for bit). A matrix drawn at
``NEAR_ZERO`` or less (BEiT's head, ~1e-3) passes almost nothing on and is meant to
grow from its start: it keeps the fan-in rate, as a zero one does. The measured inits
sit near 1e-3 or above 0.2, so any bound from 0.005 to 0.1 gives the same rates.
Layers whose output goes into a normalisation keep the factor too: the norm fixes the
output's scale, but its direction moves with the weight's, by ``lr / rms(W)`` per step,
so a matrix drawn smaller still moves its output by a larger share (measured on
LeViT's Linear+BatchNorm pairs: docs/check.md, "Layers behind a normalisation").

Scaled: the weights of layers that sum over their input (``nn.Linear``,
``nn.Conv1d/2d/3d``, ``nn.MultiheadAttention``'s projections, transformers' ``Conv1D``).
Not scaled (each of their outputs reads one input, or their role is unknown):
embeddings (also when tied to an output layer), biases, normalisation gains, layer
scales, positional tables, recurrent cells, transposed convolutions and any other
tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

DEFAULT_LR = 1e-3
FAN_IN_BASE = 64
NEAR_ZERO = 0.01  # share of PyTorch's default RMS: drawn to grow, like a zero init
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_EMBEDDING = (nn.Embedding, nn.EmbeddingBag)


def default_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """Adam over the model's trainable parameters, one param group per learning rate
    (in the order the parameters first appear)."""
    fan_in = fan_ins(model)
    groups: dict[float, list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            lr = param_lr(param, fan_in.get(id(param), 0))
            groups.setdefault(lr, []).append(param)
    param_groups: list[dict[str, Any]] = [
        {"params": params, "lr": lr} for lr, params in groups.items()
    ]
    return torch.optim.Adam(param_groups, lr=DEFAULT_LR)


def scaled_lr(fan_in: int) -> float:
    """``DEFAULT_LR`` up to ``FAN_IN_BASE`` inputs, then ``DEFAULT_LR * base / n``."""
    return DEFAULT_LR * min(1.0, FAN_IN_BASE / fan_in) if fan_in > 0 else DEFAULT_LR


def param_lr(param: torch.Tensor, fan_in: int) -> float:
    """``scaled_lr``, times the init's share of PyTorch's default RMS above the base
    when that share is below 1 and above ``NEAR_ZERO``."""
    lr = scaled_lr(fan_in)
    if fan_in <= FAN_IN_BASE:
        return lr
    share = init_share(param, fan_in)
    # The RMS of n independent draws is within ~3 / sqrt(2 n) of its scale.
    if share <= NEAR_ZERO or share >= 1.0 - 3.0 / math.sqrt(2 * param.numel()):
        return lr
    return lr * share


def init_share(weight: torch.Tensor, fan_in: int) -> float:
    """RMS of ``weight`` over PyTorch's default for ``fan_in``, ``1/sqrt(3 fan_in)``."""
    with torch.no_grad():
        rms = weight.detach().float().pow(2).mean().sqrt().item()
    return rms * math.sqrt(3 * fan_in)


def fan_ins(model: nn.Module) -> dict[int, int]:
    """``id(weight) -> fan-in`` for the weights of layers that sum over their input."""
    embedded = {
        id(p)
        for module in model.modules()
        if isinstance(module, _EMBEDDING)
        for p in module.parameters(recurse=False)
    }
    found: dict[int, int] = {}
    for module in model.modules():
        for weight, fan_in in _summing_weights(module):
            if id(weight) not in embedded and _materialised(weight):
                found.setdefault(id(weight), fan_in)
    return found


def _summing_weights(module: nn.Module) -> Iterator[tuple[Any, int]]:
    if isinstance(module, nn.Linear):
        yield module.weight, module.in_features
    elif isinstance(module, _CONV):
        yield module.weight, module.weight[0].numel()
    elif isinstance(module, nn.MultiheadAttention):
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight"):
            weight = getattr(module, name, None)
            if weight is not None:
                yield weight, weight.shape[1]
        if module.v_proj_weight is not None:
            yield module.v_proj_weight, module.v_proj_weight.shape[1]
    elif type(module).__name__ == "Conv1D":
        # transformers' GPT-2 layer: ``x @ weight`` with weight (in, out).
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 2:
            yield weight, weight.shape[0]


def _materialised(weight: Any) -> bool:
    return isinstance(weight, nn.Parameter) and not isinstance(
        weight, nn.parameter.UninitializedParameter
    )


def describe_default(optimizer: torch.optim.Optimizer) -> str:
    """``Adam(lr=0.001)``, plus how many matrices run at a width-scaled lr."""
    scaled = [g for g in optimizer.param_groups if g["lr"] < DEFAULT_LR]
    if not scaled:
        return f"Adam(lr={DEFAULT_LR})"
    count = sum(len(g["params"]) for g in scaled)
    lowest = min(g["lr"] for g in scaled)
    return (
        f"Adam(lr={DEFAULT_LR}; lr={DEFAULT_LR}*{FAN_IN_BASE}/fan_in on {count} "
        f"weight matrices with fan_in > {FAN_IN_BASE}, times init RMS / default "
        f"where smaller, lowest {lowest:.3g})"
    )
