"""Vocabulary of ``torch.nn`` layer kinds: which layers mix features, which only pass
a tensor through, and the functional and method spellings that keep a value's chain.

Qualified names (``torch.nn.Linear``), as ``Rule.qualified_name`` resolves them; the
class model and the forward flow use them, and so do the rules reading either.
"""

from __future__ import annotations

_LINEAR = ("Linear", "LazyLinear", "Bilinear")
_CONV = tuple(
    f"{kind}{dim}d" for kind in ("Conv", "ConvTranspose") for dim in (1, 2, 3)
)
# Layers whose weight mixes features: a constant weight makes all output units equal.
MIXING = frozenset(f"torch.nn.{name}" for name in _LINEAR + _CONV)
_ACTIVATIONS = (
    "ReLU ReLU6 LeakyReLU PReLU ELU SELU CELU GELU SiLU Mish Tanh Sigmoid Hardswish "
    "Hardsigmoid Hardtanh Softplus Softsign Tanhshrink RReLU Threshold LogSigmoid"
).split()
_NORMS = (
    "LayerNorm RMSNorm GroupNorm LocalResponseNorm BatchNorm1d BatchNorm2d BatchNorm3d "
    "InstanceNorm1d InstanceNorm2d InstanceNorm3d SyncBatchNorm"
).split()
_DROPOUT = "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout Identity".split()
# Shape-preserving modules without feature mixing: they pass a layer's output through.
PASSTHROUGH = frozenset(f"torch.nn.{name}" for name in _ACTIVATIONS + _NORMS + _DROPOUT)
SEQUENTIAL = "torch.nn.Sequential"
# A raw weight: ``self.w = nn.Parameter(...)`` applied as ``x @ self.w``.
PARAMETER = "torch.nn.Parameter"
STATELESS = frozenset(
    f"torch.nn.{name}"
    for name in [n for n in _ACTIVATIONS if n != "PReLU"]
    + "Identity Flatten Unflatten Softmax LogSoftmax Softmin Upsample".split()
)
FUNCTIONAL_PASSTHROUGH = frozenset(
    [
        f"torch.nn.functional.{n}"
        for n in "relu relu6 gelu silu elu selu leaky_relu "
        "mish tanh sigmoid hardswish dropout softplus".split()
    ]
    + [f"torch.{n}" for n in "relu tanh sigmoid".split()]
)
RESHAPE_METHODS = frozenset("view reshape flatten permute transpose unflatten".split())
