"""Module kinds the normalisation rules (NNL4xx) compare, and the "A feeds B" link.

Kinds are qualified constructor names (``torch.nn.LayerNorm``); a :class:`Link` says
the output of one module (or function) goes straight into another, found either in a
container (:mod:`nnlint.analysis.container_links`) or in a forward chain
(:mod:`nnlint.analysis.forward_chains`).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst


def _nn(*names: str) -> frozenset[str]:
    return frozenset(f"torch.nn.{name}" for name in names)


CONV = _nn(
    *(
        f"{kind}{dims}d"
        for kind in ("Conv", "ConvTranspose", "LazyConv")
        for dims in "123"
    ),
    *(f"LazyConvTranspose{dims}d" for dims in "123"),
)
LINEAR = _nn("Linear", "LazyLinear")
BATCH_NORM = _nn(
    *(f"{kind}{dims}d" for kind in ("BatchNorm", "LazyBatchNorm") for dims in "123"),
    "SyncBatchNorm",
)
LAYER_NORM = _nn("LayerNorm", "RMSNorm")
# AlphaDropout keeps mean and variance (it is built for SELU nets), so it is left out.
DROPOUT = _nn("Dropout", "Dropout1d", "Dropout2d", "Dropout3d") | frozenset(
    f"torch.nn.functional.{name}"
    for name in ("dropout", "dropout1d", "dropout2d", "dropout3d")
)
# Shape-preserving, element-wise modules and functions: the layout of their input passes
# through unchanged.
ELEMENTWISE = (
    _nn(
        "ReLU",
        "ReLU6",
        "GELU",
        "SiLU",
        "LeakyReLU",
        "ELU",
        "SELU",
        "CELU",
        "Mish",
        "Tanh",
        "Sigmoid",
        "Hardswish",
        "Hardsigmoid",
        "Hardtanh",
        "Softplus",
        "PReLU",
        "Identity",
    )
    | DROPOUT
    | frozenset(
        f"torch.nn.functional.{name}"
        for name in (
            "relu",
            "relu6",
            "gelu",
            "silu",
            "leaky_relu",
            "elu",
            "mish",
            "hardswish",
        )
    )
)


@dataclass(frozen=True)
class Link:
    """Module (or function) A's output goes straight into B.

    ``producer``/``consumer`` are the expressions as written (a call site in a forward
    chain, an element in a container); ``*_ctor`` are the constructor calls, when known.
    ``exclusive`` says A's output is used nowhere else (so A's bias only reaches B).
    """

    producer: cst.BaseExpression
    consumer: cst.BaseExpression
    producer_kind: str
    consumer_kind: str
    producer_ctor: cst.Call | None
    consumer_ctor: cst.Call | None
    producer_attr: str | None = None
    exclusive: bool = True
