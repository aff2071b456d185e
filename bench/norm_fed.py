"""Which layers' whole output goes straight into a normalisation, seen at one forward:
the instrument of the ``normfree`` candidate of ``bench/default_optimizer.py``.

The default optimizer slows a wide matrix drawn smaller than PyTorch's default by its
init's share of that default (``default_optimizer.param_lr``). The candidate asked
whether layers behind a normalisation should keep the plain fan-in rate instead:
``norm(c * W x) == norm(W x)``, so the weight's scale does not set the output's. It
does not keep them (docs/check.md, "Layers behind a normalisation"): the output's
direction still moves by ``lr / rms(W)`` per step, so the factor is as right there.

A layer *feeds* a module when the module's first tensor input is the layer's output or
a view of all of it (same storage, same number of elements: LeViT flattens before its
BatchNorm, ConvNeXt permutes before its LayerNorm) and nothing wrote into it in between
(same version counter: ``h += residual`` then a norm reads the sum, not the layer). A
slice of it (a fused QKV output whose q and k parts alone are normalised) does not
count. The output is held until the watch ends, so its storage cannot be reused by
another tensor that would then look like a view of it.

A module *normalises* when its output does not change when its input is doubled (the
property the question rests on, whatever the module's class is called): torch's own
normalisations are known by type (BatchNorm and InstanceNorm move running statistics
when run), any other leaf module is tested by running its ``forward`` on the input and
on twice the input, without hooks, with its buffers restored and the RNG forked.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.probes.quiet import unseen
from pytest_nnhealth.training import default_optimizer as dopt

KNOWN_NORMS = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
)
# Doubling the input of a LayerNorm changes its output by a share of about
# ``3 eps / (8 var)`` (eps 1e-5: 4% at an input variance of 1e-4); a layer that does
# not normalise changes its output by a share of order 1 (doubles it, or more).
TOLERANCE = 0.05


class NormFed:
    """Watches the forwards between ``attach`` and ``stop`` and collects the modules
    among ``layers`` whose whole output went straight into a normalising module."""

    def __init__(self, layers: list[nn.Module]) -> None:
        self._layers = {id(layer): layer for layer in layers}
        self._outputs: dict[int, tuple[torch.Tensor, int, nn.Module]] = {}
        self._verdicts: dict[int, bool] = {}  # a module's test runs once
        self.fed: list[nn.Module] = []
        self._stack = ExitStack()

    def attach(self, stack: ExitStack) -> None:
        """Hook every module call until ``stop`` (or ``stack`` closes)."""
        if not self._layers:
            return
        hooks = self._stack
        hooks.enter_context(
            nn.modules.module.register_module_forward_pre_hook(unseen(self._before))
        )
        hooks.enter_context(
            nn.modules.module.register_module_forward_hook(unseen(self._after))
        )
        stack.callback(self.stop)

    def stop(self) -> None:
        self._stack.close()
        self._outputs.clear()  # the held outputs can go

    def _after(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if id(module) in self._layers and isinstance(output, torch.Tensor):
            key = _storage(output)
            if key is not None:
                self._outputs[key] = (output, output._version, module)

    def _before(self, module: nn.Module, inputs: Any) -> None:
        first = next((x for x in inputs if isinstance(x, torch.Tensor)), None)
        if first is None or not self._outputs:
            return
        held = self._outputs.get(_storage(first))
        if held is None:
            return
        output, version, layer = held
        whole = first.numel() == output.numel() and first._version == version
        if whole and layer not in self.fed and self._normalises(module, first):
            self.fed.append(layer)

    def _normalises(self, module: nn.Module, x: torch.Tensor) -> bool:
        if isinstance(module, KNOWN_NORMS):
            return True
        if id(module) not in self._verdicts:
            self._verdicts[id(module)] = scale_invariant(module, x)
        return self._verdicts[id(module)]


def _storage(tensor: torch.Tensor) -> int | None:
    try:  # sparse, meta and some subclasses have no plain storage
        return int(tensor.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError, TypeError):
        return None


@torch.no_grad()
def scale_invariant(module: nn.Module, x: torch.Tensor) -> bool:
    """``module.forward(2 x) == module.forward(x)`` for a leaf module of one input
    (``forward`` runs no hooks; buffers and RNG are left as they were)."""
    if next(module.children(), None) is not None or not x.is_floating_point():
        return False
    buffers = [(b, b.clone()) for b in module.buffers()]
    devices = [x.device] if x.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            once, twice = module.forward(x), module.forward(x * 2)
    except Exception:  # noqa: BLE001 - a module that needs more arguments: unknown
        return False
    finally:
        for buffer, saved in buffers:
            buffer.copy_(saved)
    if not (isinstance(once, torch.Tensor) and isinstance(twice, torch.Tensor)):
        return False
    if once.shape != twice.shape or not once.is_floating_point():
        return False
    scale = once.float().abs().max().clamp_min(1e-12)
    change = (twice.float() - once.float()).abs().max()
    return bool(change <= TOLERANCE * scale) and bool(once.float().std() > 0)


def factored_layers(model: nn.Module) -> list[nn.Module]:
    """Modules owning a weight the default slows below the fan-in rate for its init's
    share (Linear, convolutions, Conv1D; not MultiheadAttention, whose output is not
    its projections')."""
    fan_in = dopt.fan_ins(model)
    return [
        module
        for module in model.modules()
        if not isinstance(module, nn.MultiheadAttention)
        and any(
            dopt.param_lr(p, fan_in[id(p)]) < dopt.scaled_lr(fan_in[id(p)])
            for p in module.parameters(recurse=False)
            if id(p) in fan_in
        )
    ]


def normalised_weights(model: nn.Module, inputs: Any) -> set[int]:
    """Ids of the factored weights whose layer feeds a normalisation at one forward
    (eval mode, no grad: no running statistics move before check() copies the
    model)."""
    watch = NormFed(factored_layers(model))
    training = model.training
    model.eval()
    with ExitStack() as stack, torch.no_grad():
        watch.attach(stack)
        model(**inputs) if isinstance(inputs, dict) else model(inputs)
    model.train(training)
    return {id(p) for layer in watch.fed for p in layer.parameters(recurse=False)}
