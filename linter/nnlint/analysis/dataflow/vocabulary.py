"""The names the loss-wiring pass knows, as canonical qualified names.

Tables from what the walker resolves a callee to (after import resolution, so
``F.softmax`` is ``torch.nn.functional.softmax``) to what calling it means: a tensor of
a :class:`~nnlint.analysis.dataflow.values.Kind`, a module or loss object, a loss call,
or an operation that keeps what its input tensor "is".
"""

from __future__ import annotations

from nnlint.analysis.dataflow.values import Kind, Loss

_F = "torch.nn.functional."
_ACT_FUNCS = "relu relu6 elu selu celu gelu silu mish softplus leaky_relu hardtanh tanh"
# qualified function -> (kind, parameter position of ``dim``)
FUNCTION_KINDS: dict[str, tuple[Kind, int]] = {
    **{f"{p}softmax": (Kind.PROBS, 1) for p in (_F, "torch.", "torch.special.")},
    **{
        f"{p}log_softmax": (Kind.LOG_PROBS, 1) for p in (_F, "torch.", "torch.special.")
    },
    **{
        f: (Kind.SIGMOID, 1)
        for f in ("torch.sigmoid", _F + "sigmoid", "torch.special.expit")
    },
    **{_F + name: (Kind.ACTIVATED, 1) for name in _ACT_FUNCS.split()},
    **{
        f"torch.{name}": (Kind.ACTIVATED, 1)
        for name in ("relu", "tanh", "selu", "celu")
    },
    _F + "linear": (Kind.LOGITS, 1),
}
METHOD_KINDS: dict[str, Kind] = {
    "softmax": Kind.PROBS,
    "log_softmax": Kind.LOG_PROBS,
    "sigmoid": Kind.SIGMOID,
    "relu": Kind.ACTIVATED,
    "tanh": Kind.ACTIVATED,
}
_ACT_MODULES = (
    "ReLU ReLU6 ELU SELU CELU GELU SiLU Mish Softplus LeakyReLU Hardtanh Tanh"
)
_LOGIT_MODULES = "Linear LazyLinear Bilinear Conv1d Conv2d Conv3d"
MODULE_KINDS: dict[str, Kind] = {
    "torch.nn.Softmax": Kind.PROBS,
    "torch.nn.LogSoftmax": Kind.LOG_PROBS,
    "torch.nn.Sigmoid": Kind.SIGMOID,
    **{f"torch.nn.{name}": Kind.ACTIVATED for name in _ACT_MODULES.split()},
    **{f"torch.nn.{name}": Kind.LOGITS for name in _LOGIT_MODULES.split()},
}
# Modules and operations that keep what a tensor "is" (shape and dtype changes only).
_PASS_MODULES = "Identity Flatten Dropout Dropout1d Dropout2d Dropout3d AlphaDropout"
PASS_MODULES = frozenset(f"torch.nn.{name}" for name in _PASS_MODULES.split())
PASS_FUNCTIONS = frozenset(
    [
        f"torch.{n}"
        for n in "flatten reshape squeeze unsqueeze clamp clip permute".split()
    ]
    + ["torch.transpose", _F + "dropout"]
)
PASS_METHODS = frozenset(
    "view reshape flatten contiguous float double half bfloat16 to type type_as "
    "squeeze unsqueeze permute transpose clamp clip view_as reshape_as cuda cpu".split()
)
LOSS_FUNCTIONS: dict[str, Loss] = {
    _F + "cross_entropy": Loss.CE,
    _F + "nll_loss": Loss.NLL,
    _F + "binary_cross_entropy_with_logits": Loss.BCE_LOGITS,
    "torch.binary_cross_entropy_with_logits": Loss.BCE_LOGITS,
    _F + "binary_cross_entropy": Loss.BCE,
}
LOSS_MODULES: dict[str, Loss] = {
    "torch.nn.CrossEntropyLoss": Loss.CE,
    "torch.nn.NLLLoss": Loss.NLL,
    "torch.nn.NLLLoss2d": Loss.NLL,
    "torch.nn.BCEWithLogitsLoss": Loss.BCE_LOGITS,
    "torch.nn.BCELoss": Loss.BCE,
}
