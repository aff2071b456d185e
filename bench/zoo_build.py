"""Building blocks of the calibration zoo (``bench/zoo.py``): data, optimizers, inits.

Every zoo case builds, from a seed, a model, one batch ``(inputs, target)``, a loss
function and an optimizer factory (``None`` = ``check()``'s default optimizer). Data are
random but learnable (targets come from a fixed "teacher"), so healthy models really
learn.

Used by ``bench/calibrate.py`` (many seeds) and ``tests/pytest_nnhealth/test_zoo.py``
(seed 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench import zoo_models as zm

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
Built = tuple[nn.Module, tuple[Any, torch.Tensor], Callable[..., torch.Tensor], Any]

D_IN, HIDDEN, CLASSES, BATCH = 16, 32, 4, 64


@dataclass(frozen=True)
class ZooCase:
    name: str
    build: Callable[[int], Built]
    healthy: bool
    expected: frozenset[str] = frozenset()
    expected_module: str | None = None
    notes: str = ""


def _seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """Build a model from ``seed`` without disturbing the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def teacher_batch(seed: int, n: int = BATCH, d: int = D_IN, k: int = CLASSES):
    """Gaussian inputs labelled by a random linear teacher (learnable targets)."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(n, d, generator=gen)
    teacher = torch.randn(d, k, generator=gen)
    return x, (x @ teacher).argmax(1)


def image_batch(seed: int, n: int = 32, size: int = 8):
    gen = torch.Generator().manual_seed(20_000 + seed)
    x = torch.randn(n, 3, size, size, generator=gen)
    teacher = torch.randn(3 * size * size, CLASSES, generator=gen)
    return x, (x.flatten(1) @ teacher).argmax(1)


def token_batch(seed: int, n: int = 16, length: int = 8, vocab: int = 16):
    """Tokens in ``1..vocab-1`` (0 is padding); target = a fixed permutation of the
    previous token, so attention is needed to learn it."""
    gen = torch.Generator().manual_seed(30_000 + seed)
    tokens = torch.randint(1, vocab, (n, length), generator=gen)
    perm = torch.randperm(vocab, generator=gen)
    previous = torch.cat([tokens[:, :1], tokens[:, :-1]], dim=1)
    return tokens, perm[previous].flatten()


def sgd(lr: float, momentum: float = 0.9) -> OptimizerFactory:
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum)


def adam(lr: float, weight_decay: float = 0.0) -> OptimizerFactory:
    if weight_decay:
        return lambda params: torch.optim.AdamW(
            params, lr=lr, weight_decay=weight_decay
        )
    return lambda params: torch.optim.Adam(params, lr=lr)


CE = nn.CrossEntropyLoss()


def init_linears(model: nn.Module, init: Callable[[nn.Linear], None]) -> nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                init(module)
    return model


def kaiming(gain: float = 1.0, bias: float = 0.0) -> Callable[[nn.Linear], None]:
    def init(layer: nn.Linear) -> None:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.weight.mul_(gain)
        nn.init.constant_(layer.bias, bias)

    return init


def normal(gain: float) -> Callable[[nn.Linear], None]:
    """Weights ~ N(0, gain**2 / fan_in), zero biases."""

    def init(layer: nn.Linear) -> None:
        nn.init.normal_(layer.weight, std=gain / layer.in_features**0.5)
        nn.init.zeros_(layer.bias)

    return init


def mlp_case(
    widths: list[int],
    optimizer: OptimizerFactory | None,
    act: type[nn.Module] = nn.ReLU,
    init: Callable[[nn.Linear], None] | None = None,
    edit: Callable[[zm.MLP], None] | None = None,
    shift: float = 0.0,
) -> Callable[[int], Built]:
    """A builder for an MLP classifier on the teacher batch (inputs + ``shift``)."""

    def build(seed: int) -> Built:
        def make() -> nn.Module:
            model = zm.MLP(widths, act)
            if init is not None:
                init_linears(model, init)
            if edit is not None:
                with torch.no_grad():
                    edit(model)
            return model

        x, y = teacher_batch(seed)
        return _seeded(seed, make), (x + shift, y), CE, optimizer

    return build


def custom_case(
    make: Callable[[], nn.Module],
    optimizer: OptimizerFactory | None,
    batch: Callable[[int], tuple[Any, torch.Tensor]] = teacher_batch,
    loss_fn: Callable[..., torch.Tensor] = CE,
) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        return _seeded(seed, make), batch(seed), loss_fn, optimizer

    return build


def slow_divergence(seed: int) -> Built:
    """Linear regression trained by SGD at 1.15x the stability limit ``2 / lambda_max``.

    The weights start at the optimum plus noise that is orthogonal to the Hessian's top
    eigenvector, plus 1e-3 along it: the stable directions converge first (the loss
    falls), then the unstable one grows 1.3x per step and the loss diverges after ~15
    steps. Deterministic given the data, whatever the seed.
    """
    gen = torch.Generator().manual_seed(40_000 + seed)
    x = torch.randn(BATCH, D_IN, generator=gen)
    x[:, 0] *= 5.0
    w_true = torch.randn(D_IN + 1, generator=gen)
    augmented = torch.cat([x, torch.ones(BATCH, 1)], dim=1)
    y = (augmented @ w_true)[:, None]
    hessian = 2.0 / BATCH * augmented.T @ augmented
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian)
    top = eigenvectors[:, -1]
    noise = 0.3 * torch.randn(D_IN + 1, generator=gen)
    start = w_true + noise - (noise @ top) * top + 1e-3 * top
    model = zm.MLP([D_IN, 1])
    with torch.no_grad():
        model.linear(0).weight.copy_(start[:-1][None])
        model.linear(0).bias.copy_(start[-1:])
    lr = 2.3 / float(eigenvalues[-1])
    return model, (x, y), nn.MSELoss(), sgd(lr, momentum=0.0)
