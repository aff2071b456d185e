"""Snapshot and restore everything of the caller's that a health check could touch.

``check()`` works on a deep copy of the model, so normally only the global RNG states
need
restoring. A model that cannot be deep-copied is trained in place instead; then its
parameters, gradients, buffers, train/eval flags and ``requires_grad`` flags are
snapshotted here and written back in ``finally``, whatever the step raised.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class RngState:
    torch_cpu: torch.Tensor
    cuda: list[torch.Tensor] | None
    python: Any
    numpy: Any | None

    @classmethod
    def capture(cls, cuda_used: bool = False) -> RngState:
        """``cuda_used``: the check will run on CUDA. Reading CUDA RNG state initialises
        CUDA, so it is read only when CUDA is already initialised or about to be
        used."""
        cuda = None
        if torch.cuda.is_available() and (cuda_used or torch.cuda.is_initialized()):
            cuda = torch.cuda.get_rng_state_all()
        return cls(torch.get_rng_state(), cuda, random.getstate(), _numpy_state())

    def restore(self) -> None:
        torch.set_rng_state(self.torch_cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        random.setstate(self.python)
        if self.numpy is not None:
            import numpy

            numpy.random.set_state(self.numpy)


def _numpy_state() -> Any | None:
    try:
        import numpy
    except ImportError:
        return None
    return numpy.random.get_state()


@dataclass
class ModelState:
    """Values of one model, kept as detached clones and restored in place."""

    params: list[tuple[nn.Parameter, torch.Tensor, bool, torch.Tensor | None]]
    buffers: list[tuple[nn.Module, str, torch.Tensor | None]]
    training: list[tuple[nn.Module, bool]] = field(default_factory=list)

    @classmethod
    def capture(cls, model: nn.Module) -> ModelState:
        params = [
            (p, p.detach().clone(), p.requires_grad, _clone_or_none(p.grad))
            for p in model.parameters()
        ]
        buffers = [
            (module, name, _clone_or_none(buffer))
            for module in model.modules()
            for name, buffer in module._buffers.items()
        ]
        training = [(module, module.training) for module in model.modules()]
        return cls(params, buffers, training)

    @torch.no_grad()
    def restore(self) -> None:
        for param, value, requires_grad, grad in self.params:
            param.copy_(value)
            param.requires_grad_(requires_grad)
            param.grad = grad
        for module, name, buffer in self.buffers:
            current = module._buffers.get(name)
            if buffer is None or current is None or current.shape != buffer.shape:
                module._buffers[name] = buffer
            else:
                current.copy_(buffer)
        for module, training in self.training:
            module.training = training


def _clone_or_none(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().clone()


@dataclass
class FlagsState:
    """Only the train/eval and requires_grad flags (cheap; for the deep-copy path)."""

    training: list[tuple[nn.Module, bool]]
    requires_grad: list[tuple[nn.Parameter, bool]]

    @classmethod
    def capture(cls, model: nn.Module) -> FlagsState:
        return cls(
            [(module, module.training) for module in model.modules()],
            [(p, p.requires_grad) for p in model.parameters()],
        )

    def restore(self) -> None:
        for module, training in self.training:
            module.training = training
        for param, requires_grad in self.requires_grad:
            param.requires_grad_(requires_grad)


# Module attributes torch manages itself (parameters, buffers, submodules, hooks) or
# that FlagsState restores; the in-place snapshot covers everything else.
_TORCH_KEYS = frozenset({"_parameters", "_buffers", "_modules", "training"})
_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


@dataclass
class AttributeState:
    """Plain Python attributes of every module of a model trained in place (counters,
    caches, ``torch.Generator`` states), restored after the run.

    Values are restored by reassignment when immutable, in place when they are a
    deep-copyable list, dict or set (so other references to them see the restore),
    and through ``get_state``/``set_state`` for a ``torch.Generator``. A model holding
    a Python iterator or generator is refused: advancing one cannot be undone. Other
    objects (the lock or file handle that made the model uncopyable) are left as they
    are."""

    plain: list[tuple[nn.Module, str, Any]]
    containers: list[tuple[nn.Module, str, Any, Any]]  # (module, key, object, copy)
    generators: list[tuple[torch.Generator, torch.Tensor]]
    keys: list[tuple[nn.Module, set[str]]]

    @classmethod
    def capture(cls, model: nn.Module) -> AttributeState:
        state = cls([], [], [], [])
        for name, module in model.named_modules():
            state.keys.append((module, set(vars(module))))
            for key, value in vars(module).items():
                if key not in _TORCH_KEYS and not key.endswith("_hooks"):
                    state._add(name, module, key, value)
        return state

    def _add(self, name: str, module: nn.Module, key: str, value: Any) -> None:
        _refuse_iterator(name, key, value)
        if isinstance(value, torch.Generator):
            self.generators.append((value, value.get_state()))
        elif isinstance(value, _IMMUTABLE):
            self.plain.append((module, key, value))
        elif isinstance(value, (list, dict, set)):
            saved = _deep_or_none(value)
            if saved is not None:
                self.containers.append((module, key, value, saved))

    def restore(self) -> None:
        for module, before in self.keys:
            for key in set(vars(module)) - before:
                delattr(module, key)
        for module, key, value in self.plain:
            vars(module)[key] = value
        for module, key, current, saved in self.containers:
            _restore_in_place(current, saved)
            vars(module)[key] = current
        for generator, state in self.generators:
            generator.set_state(state)


def _restore_in_place(current: Any, saved: Any) -> None:
    if isinstance(current, list):
        current[:] = saved
    else:
        current.clear()
        current.update(saved)


def _deep_or_none(value: Any) -> Any:
    import copy

    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - not restorable; left as it is (documented)
        return None


def _refuse_iterator(module: str, key: str, value: Any) -> None:
    if isinstance(value, Iterator) and not isinstance(value, torch.Tensor):
        where = f"{module}.{key}" if module else key
        raise ValueError(
            "check(): the model cannot be deep-copied, so it would be trained in "
            f"place, and it holds an iterator at `{where}` "
            f"({type(value).__name__}) that training would advance and nothing can "
            "rewind; make the model deep-copyable (e.g. create the iterator when it "
            "is first needed, or give the module a __deepcopy__)"
        )
