"""Attention per head on sampled steps: entropy of the attention weights and the
largest pre-softmax logit.

How attention is found (each path sees the pre-softmax logits ``(batch, heads,
queries, keys)`` with masks applied, and attributes them to the innermost running
module, skipping ``nn.Softmax``/``nn.Dropout`` wrappers):

* ``nn.MultiheadAttention``, by type: a forward hook recomputes ``q @ k^T / sqrt(d)``
  from the module's inputs and projection weights (so it works with
  ``need_weights=False``), with ``attn_mask``, ``key_padding_mask`` and ``is_causal``.
* ``F.scaled_dot_product_attention`` calls: a ``TorchFunctionMode``, active on sampled
  steps only, recomputes the logits from ``query``/``key`` with ``attn_mask``,
  ``is_causal``, ``scale`` and grouped-query heads (transformers' ``sdpa``, timm's
  fused attention).
* Hand-written ``softmax(q @ k^T / sqrt(d))``: the same mode sees every
  ``softmax`` (``F.softmax``, ``torch.softmax``, ``Tensor.softmax``, ``nn.Softmax``)
  over the last dim of a 4-d tensor and takes its input as the logits (transformers'
  ``eager`` attention, timm's non-fused attention, Swin, CaiT). A module that folds
  heads into the batch (a 3-d ``(batch * heads, queries, keys)`` softmax) opts in
  with ``mark_attention(module, heads)``.

Not covered: attention inside fused kernels the mode cannot see (flash-attention
extensions, ``torch.compile``d regions), softmax over a 4-d tensor that is not
attention (channels-last class scores; rare, measured as if it were), and 3-d
softmaxes of unmarked modules.

Per head and step: the mean over queries (and batch) of the entropy normalised by
``log(keys the query may attend to)`` (1 = uniform, 0 = one key), the fraction of
queries whose entropy is below ``NEAR_ZERO`` nats, and the largest logit over
unmasked positions. Queries with fewer than 2 keys (the first token under a causal
mask) have no choice to make and are left out.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.probes.base import Probe, Series, vectors_to_floats
from pytest_nnhealth.probes.quiet import ProbeMode

NEAR_ZERO = 0.1  # nats: the head puts > ~98% of the weight on one key
MARK = "_nnhealth_attention_heads"
# The order head_stats stacks them in: entropy, one-key fraction, largest logit,
# typical logit spread, most keys a query may attend to.
QUANTITIES = (
    Q.ATTN_ENTROPY,
    Q.ATTN_ONE_KEY_FRACTION,
    Q.ATTN_LOGIT_MAX,
    Q.ATTN_LOGIT_SPREAD,
    Q.ATTN_KEYS,
)
_SOFTMAX = {F.softmax, torch.softmax, torch.Tensor.softmax}
_WRAPPERS = (nn.Softmax, nn.Dropout)
_FLOOR = torch.finfo(torch.float32).min / 2  # below: a masked position


def mark_attention(module: nn.Module, heads: int) -> nn.Module:
    """Opt-in: treat a 3-d ``(batch * heads, queries, keys)`` softmax run inside
    ``module`` as attention with ``heads`` heads. Returns the module."""
    setattr(module, MARK, int(heads))
    return module


def head_stats(
    logits: torch.Tensor, probs: torch.Tensor | None = None
) -> torch.Tensor | None:
    """``(5, heads)``: normalised entropy, near-zero fraction, largest logit,
    typical logit spread (``logit_spread``) and the most keys a query may attend to,
    for logits ``(batch, heads, queries,
    keys)`` where masked positions are -inf or
    very negative (transformers adds ``finfo.min``). ``probs``: the model's own
    softmax of these logits when it computed one (reused, not recomputed)."""
    logits = logits.detach().float()
    if logits.dim() != 4 or logits.shape[-1] < 2 or logits.numel() == 0:
        return None
    allowed = logits > _FLOOR
    keys = allowed.sum(-1)  # (batch, heads, queries)
    logits = logits.masked_fill(~allowed, -math.inf)
    if probs is None or probs.shape != logits.shape:
        probs = torch.softmax(logits, dim=-1)
    p = probs.detach().float()
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(-1)
    choice = keys >= 2
    normalised = entropy / torch.log(keys.clamp_min(2).float())
    weight = choice.float()
    count = weight.sum(dim=(0, 2)).clamp_min(1)
    mean = (normalised * weight).sum(dim=(0, 2)) / count
    near = ((entropy < NEAR_ZERO).float() * weight).sum(dim=(0, 2)) / count
    top = logits.amax(dim=(0, 2, 3))
    most = keys.amax(dim=(0, 2)).float()
    return torch.stack([mean, near, top, logit_spread(logits, allowed, choice), most])


def logit_spread(
    logits: torch.Tensor, allowed: torch.Tensor, choice: torch.Tensor
) -> torch.Tensor:
    """Per head, the median over queries (with a choice) of the standard deviation of
    the query's allowed logits. The softmax reads only differences within a query, so
    a shift per query does not count; the median is what the head does typically,
    where the largest logit can be one token's (a BatchNorm'd query and key put an
    outlier token's self-logit far above the rest, docs/health/attention.md)."""
    count = allowed.sum(-1).clamp_min(1)
    values = logits.masked_fill(~allowed, 0.0)
    mean = values.sum(-1) / count
    centred = (values - mean.unsqueeze(-1)).masked_fill(~allowed, 0.0)
    spread = (centred.pow(2).sum(-1) / count).sqrt()  # (batch, heads, queries)
    spread = spread.masked_fill(~choice, math.nan).transpose(0, 1).flatten(1)
    return spread.nanmedian(dim=1).values.nan_to_num(0.0)  # 0: no query chose


def sdpa_logits(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """The pre-softmax logits of ``F.scaled_dot_product_attention(*args, **kwargs)``."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
    bound = dict(zip(names, args, strict=False)) | kwargs
    query, key = bound.get("query"), bound.get("key")
    if not isinstance(query, torch.Tensor) or not isinstance(key, torch.Tensor):
        return None
    q, k = query.detach().float(), key.detach().float()
    if q.dim() == 3:
        q, k = q.unsqueeze(1), k.unsqueeze(1)
    if q.dim() != 4 or k.dim() != 4:
        return None
    if k.shape[1] != q.shape[1] and q.shape[1] % k.shape[1] == 0:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)  # grouped-query
    scale = bound.get("scale") or 1 / math.sqrt(q.shape[-1])
    logits = (q @ k.transpose(-1, -2)) * scale
    return masked(logits, bound.get("attn_mask"), bool(bound.get("is_causal")))


def masked(
    logits: torch.Tensor, mask: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    if causal:
        rows, cols = logits.shape[-2:]
        keep = torch.ones(rows, cols, dtype=torch.bool, device=logits.device).tril()
        logits = logits.masked_fill(~keep, -math.inf)
    if mask is None:
        return logits
    mask = mask.detach()
    while mask.dim() < logits.dim():
        mask = mask.unsqueeze(0)
    if mask.dtype == torch.bool:
        return logits.masked_fill(~mask, -math.inf)
    return logits + mask.float()


def mha_logits(
    module: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> torch.Tensor | None:
    """Recompute ``nn.MultiheadAttention``'s logits ``(batch, heads, L, S)``."""
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")
    bound = dict(zip(names, args, strict=False)) | kwargs
    query, key = bound.get("query"), bound.get("key")
    if not isinstance(query, torch.Tensor) or not isinstance(key, torch.Tensor):
        return None
    if query.dim() == 2:
        query, key = query.unsqueeze(0), key.unsqueeze(0)
    elif not module.batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    q, k = _mha_project(module, query.detach(), key.detach())
    heads = module.num_heads
    q = q.unflatten(-1, (heads, -1)).transpose(1, 2).float()
    k = k.unflatten(-1, (heads, -1)).transpose(1, 2).float()
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    mask = bound.get("attn_mask")
    if isinstance(mask, torch.Tensor) and mask.dim() == 3:  # (batch * heads, L, S)
        mask = mask.reshape(-1, heads, *mask.shape[-2:])
    logits = _additive(logits, mask, allowed_when=False)
    padding = bound.get("key_padding_mask")
    if isinstance(padding, torch.Tensor):
        logits = _additive(logits, padding[:, None, None, :], allowed_when=False)
    if bound.get("is_causal") and mask is None:
        logits = masked(logits, None, causal=True)
    return logits


def _mha_project(
    module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    dim = module.embed_dim
    bias = module.in_proj_bias
    b_q = bias[:dim] if bias is not None else None
    b_k = bias[dim : 2 * dim] if bias is not None else None
    if module.in_proj_weight is not None:
        w_q, w_k = module.in_proj_weight[:dim], module.in_proj_weight[dim : 2 * dim]
    else:
        w_q, w_k = module.q_proj_weight, module.k_proj_weight
    with torch.no_grad():
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k)


def _additive(logits: torch.Tensor, mask: Any, allowed_when: bool) -> torch.Tensor:
    """MultiheadAttention masks: bool True means *not* allowed; floats are added."""
    if not isinstance(mask, torch.Tensor):
        return logits
    if mask.dtype == torch.bool:
        return logits.masked_fill(mask != allowed_when, -math.inf)
    return logits + mask.detach().float()


class _AttentionMode(ProbeMode):
    """Sees SDPA and softmax calls while sampled steps run."""

    def __init__(self, probe: AttentionProbe) -> None:
        super().__init__()
        self.probe = probe

    def __torch_function__(
        self, func: Any, types: Any, args: Any = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            self.probe.seen(sdpa_logits(args, kwargs))
        elif func in _SOFTMAX:
            result = func(*args, **kwargs)
            self.probe.seen_softmax(args, kwargs, result)
            return result
        return func(*args, **kwargs)


class AttentionProbe(Probe):
    def __init__(self) -> None:
        self._items: list[tuple[str, int, torch.Tensor]] = []
        self._stack: list[tuple[str, nn.Module]] = []
        self._owners: set[str] | None = None  # found on the first sampled step
        self._sampled = 0
        self._busy = False  # the probe's own softmax is not the model's attention
        self._watched: list[tuple[str, nn.Module]] | None = None

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.stat_step:
            return
        if self._sampled == 1:
            self._owners = {name for name, _, _ in self._items}
        self._sampled += 1
        # The first sampled step watches every module; later ones only the modules
        # found computing attention then (the same forward runs every step), and
        # no mode at all when there were none: a CNN pays nothing after step 0.
        watched = self._owners
        modules = self._modules(watched)
        for name, module in modules:
            mha = isinstance(module, nn.MultiheadAttention)
            if mha:
                hook = self._mha(name)
                stack.enter_context(
                    module.register_forward_pre_hook(hook, with_kwargs=True)
                )
            # A MultiheadAttention is on the stack too, so that what runs inside it
            # (its own SDPA or softmax) is not credited to its parent.
            if mha or watched is None or name in watched:
                stack.enter_context(module.register_forward_pre_hook(self._enter(name)))
                stack.enter_context(module.register_forward_hook(self._leave(name)))
        if watched is None:
            self._mode_while(stack, [self.ctx.model])
            return
        owners = [m for n, m in modules if n in watched]
        owners = [m for m in owners if not isinstance(m, nn.MultiheadAttention)]
        if owners:
            self._mode_while(stack, owners)

    def _modules(self, watched: set[str] | None) -> list[tuple[str, nn.Module]]:
        """Every module on the first sampled step; afterwards (cached) only the
        watched ones and the MultiheadAttention modules."""
        if watched is None:
            return list(self.ctx.model.named_modules())
        if self._watched is None:
            self._watched = [
                (name, module)
                for name, module in self.ctx.model.named_modules()
                if name in watched or isinstance(module, nn.MultiheadAttention)
            ]
        return self._watched

    def _mode_while(self, stack: ExitStack, modules: list[nn.Module]) -> None:
        """The mode is on only while one of ``modules`` runs its forward: the whole
        model on the first sampled step, afterwards the modules found computing
        attention then. Every tensor call the mode sees costs a Python call, and a
        call outside those modules would have no owner to be credited to (only
        they are on the owner stack), so nothing else needs to be seen. The backward
        pass and the optimizer step always run without it. The step's ExitStack
        closes it if a forward raised."""
        mode = _AttentionMode(self)
        depth = [0]  # watched modules running (one may run inside another)

        def start(*args: Any) -> None:
            depth[0] += 1
            if depth[0] == 1:
                mode.__enter__()

        def stop(*args: Any) -> None:
            if depth[0] > 0:
                depth[0] -= 1
                if depth[0] == 0:
                    mode.__exit__(None, None, None)

        def close() -> None:
            if depth[0] > 0:
                depth[0] = 1
                stop()

        stack.callback(close)
        for module in modules:
            stack.enter_context(module.register_forward_pre_hook(start))
            stack.enter_context(module.register_forward_hook(stop))

    def _enter(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any) -> None:
            self._stack.append((name, module))

        return hook

    def _leave(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            # Pop up to and including this module: a forward that raised skips hooks.
            while self._stack and self._stack.pop()[0] != name:
                pass

        return hook

    def _mha(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, kwargs: Any) -> None:
            assert isinstance(module, nn.MultiheadAttention)
            self._busy = True
            try:
                self._record(name, mha_logits(module, args, kwargs))
            finally:
                self._busy = False

        return hook

    def _owner(self) -> tuple[str, nn.Module] | None:
        if self._busy:
            return None
        for name, module in reversed(self._stack):
            if not isinstance(module, (*_WRAPPERS, nn.MultiheadAttention)):
                return name, module
            if isinstance(module, nn.MultiheadAttention):
                return None  # measured by its own hook, from its inputs
        return None

    def seen(self, logits: torch.Tensor | None) -> None:
        owner = self._owner()
        if owner is not None:
            self._record(owner[0], logits)

    def seen_softmax(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], probs: Any = None
    ) -> None:
        scores = args[0] if args else kwargs.get("input")
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        owner = self._owner()
        if not isinstance(scores, torch.Tensor) or owner is None or dim is None:
            return
        if dim not in (-1, scores.dim() - 1) or not scores.is_floating_point():
            return
        heads = getattr(owner[1], MARK, None)
        if not isinstance(probs, torch.Tensor) or probs.shape != scores.shape:
            probs = None  # the softmax's own output, when it is a plain tensor
        if scores.dim() == 3 and heads:
            scores = scores.reshape(-1, heads, *scores.shape[-2:])
            probs = None if probs is None else probs.reshape(scores.shape)
        if scores.dim() == 4:
            self._record(owner[0], scores, probs)

    def _record(
        self, name: str, logits: torch.Tensor | None, probs: Any = None
    ) -> None:
        if logits is None:
            return
        with torch.no_grad():
            stats = head_stats(logits, probs)
        if stats is not None:
            self._items.append((name, self.ctx.step, stats))

    def series(self) -> Series:
        flat = vectors_to_floats([stats.reshape(-1) for _, _, stats in self._items])
        series: Series = {}
        for (name, step, stats), numbers in zip(self._items, flat, strict=True):
            heads = stats.shape[1]
            for index, quantity in enumerate(QUANTITIES):
                row = numbers[index * heads : (index + 1) * heads]
                self._put(series, quantity, name, step, row)
        return series

    def _put(
        self, series: Series, quantity: str, name: str, step: int, row: list[float]
    ) -> None:
        # A module run twice in a step keeps the worst value per head (the most keys).
        worst = max if quantity != Q.ATTN_ENTROPY else min
        for head, value in enumerate(row):
            key = Q.head_key(quantity, head)
            values = series.setdefault(key, {}).setdefault(
                name, [None] * self.ctx.steps
            )
            old = values[step]
            values[step] = value if old is None else worst(old, value)
        whole = worst(row)
        values = series.setdefault(quantity, {}).setdefault(
            name, [None] * self.ctx.steps
        )
        old = values[step]
        values[step] = whole if old is None else worst(old, whole)
