"""The promise "the caller's model and optimizer are untouched", checked, not assumed.

``check()`` trains a copy and points the callables it was given at that copy
(``rewire``), but a callable can still reach the caller's tensors in ways no walk sees
(an object whose ``__deepcopy__`` returns itself, a C extension holding a module, a
lambda stored inside the model). ``CallerGuard`` snapshots the caller's parameters,
gradients, buffers and optimizer state before the run, and afterwards restores any
that changed and names them, with the argument that ran the module.

The snapshot is a copy on the CPU of every watched tensor (one model's worth of host
memory, like the working copy itself): version counters alone would miss writes
through ``.data`` (which has its own counter), and restoring needs the bytes anyway.
Attribution: a forward pre-hook on each of the caller's modules records which argument
(``loss_fn``, ``step_fn``, ``optimizer``, the model's forward) was running when the
caller's module was called; ``running()`` marks those phases.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

_RUNNING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nnhealth_running", default=None
)


@contextlib.contextmanager
def running(argument: str) -> Iterator[None]:
    """Marks that user code passed as ``argument`` is running (for attribution)."""
    token = _RUNNING.set(argument)
    try:
        yield
    finally:
        _RUNNING.reset(token)


@dataclass
class _Watched:
    name: str
    tensor: torch.Tensor
    saved: torch.Tensor


@dataclass
class _Grad:
    name: str
    param: torch.Tensor
    grad: torch.Tensor | None
    saved: torch.Tensor | None


@dataclass
class CallerGuard:
    model: nn.Module
    tensors: list[_Watched]
    grads: list[_Grad]
    calls: dict[str, str] = field(default_factory=dict)  # module name -> argument

    @classmethod
    def capture(cls, model: nn.Module, optimizer: Any) -> CallerGuard:
        named: dict[str, torch.Tensor] = dict(model.named_parameters())
        named.update(model.named_buffers())
        names = {id(t): n for n, t in named.items()}
        tensors = [_watch(name, t) for name, t in named.items()]
        if isinstance(optimizer, torch.optim.Optimizer):
            tensors += _optimizer_tensors(optimizer, names)
        grads = [
            _Grad(n, p, p.grad, _saved(p.grad)) for n, p in model.named_parameters()
        ]
        return cls(model, tensors, grads)

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Record calls of the caller's modules while the working copy trains."""
        with ExitStack() as stack:
            for name, module in self.model.named_modules():
                stack.enter_context(
                    module.register_forward_pre_hook(self._recorder(name, module))
                )
            yield

    def _recorder(self, name: str, original: nn.Module) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            # Deep copies of the caller's model carry this hook too; only the
            # caller's own module counts.
            if module is original:
                self.calls.setdefault(name, _RUNNING.get() or "check()")

        return hook

    @torch.no_grad()
    def restore(self) -> list[str]:
        """Restore every watched tensor that changed; their descriptions."""
        touched = []
        for watched in self.tensors:
            if not _same(watched.tensor, watched.saved):
                watched.tensor.copy_(watched.saved)
                touched.append(f"`{watched.name}` (changed)")
        for entry in self.grads:
            now = entry.param.grad
            unchanged = (now is None) == (entry.grad is None) and (
                now is None or _same(now, entry.saved)
            )
            # The original gradient object goes back in any case (the in-place path
            # restores values into new tensors).
            if entry.grad is not None and entry.saved is not None and not unchanged:
                entry.grad.copy_(entry.saved)
            entry.param.grad = entry.grad
            if unchanged:
                continue
            what = "gained a gradient" if entry.grad is None else "gradient changed"
            touched.append(f"`{entry.name}` ({what})")
        return touched

    def message(self, touched: list[str], passed: list[str]) -> str:
        """The usage error: what changed, which argument reached it, what to do."""
        culprits = sorted(set(self.calls.values())) or passed
        who = " or ".join(f"`{c}`" for c in culprits)
        modules = ", ".join(f"`{m or '<root>'}`" for m in sorted(self.calls))
        ran = (
            f" ran the caller's {modules}" if modules else " reached the caller's model"
        )
        return (
            f"check(): {who}{ran} instead of the copy check() trains, which changed "
            f"{', '.join(touched[:6])}{' ...' if len(touched) > 6 else ''}; they were "
            "restored, but the copy was not trained consistently, so no verdict is "
            "given. Pass step_fn(model, batch) that uses the model it receives, and an "
            "optimizer factory that uses the params it receives (docs/check.md)"
        )


def _watch(name: str, tensor: torch.Tensor) -> _Watched:
    saved = _saved(tensor)
    assert saved is not None
    return _Watched(name, tensor, saved)


def _saved(tensor: torch.Tensor | None) -> torch.Tensor | None:
    if tensor is None:
        return None
    return tensor.detach().to("cpu", copy=True)


def _optimizer_tensors(
    optimizer: torch.optim.Optimizer, names: dict[int, str]
) -> list[_Watched]:
    out = []
    for index, (param, state) in enumerate(optimizer.state.items()):
        owner = names.get(id(param), f"parameter #{index}")
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                out.append(_watch(f"optimizer state {key!r} of {owner}", value))
    for group in optimizer.param_groups:
        for param in group["params"]:
            if id(param) not in names:
                out.append(_watch("an optimizer parameter outside the model", param))
    return out


def _same(tensor: torch.Tensor, saved: torch.Tensor | None) -> bool:
    """Bitwise equality (NaN equals NaN), also across devices and for sparse tensors
    (Whisper's sparse ``alignment_heads`` buffer, an embedding's sparse gradient),
    which ``torch.equal`` and ``==`` do not take."""
    if saved is None or tensor.shape != saved.shape or tensor.dtype != saved.dtype:
        return False
    if tensor.layout != saved.layout:
        return False
    now = tensor.detach().to("cpu")
    if now.layout == torch.sparse_coo:  # equal when their coalesced entries are
        now, saved = now.coalesce(), saved.coalesce()
        return _same(now.indices(), saved.indices()) and _same(
            now.values(), saved.values()
        )
    if now.layout != torch.strided:  # CSR, CSC, BSR, BSC: rare, and small in practice
        return _same(now.to_dense(), saved.to_dense())
    if now.is_floating_point() or now.is_complex():
        return bool(((now == saved) | (now.isnan() & saved.isnan())).all())
    return torch.equal(now, saved)
