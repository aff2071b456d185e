"""The vocabulary of canonical op kinds that graph rules speak (no torch import).

ATen packets (``aten::_softmax``), torch functions (``torch.softmax``), tensor methods
(``x.softmax``) and operators (``operator.iadd``) all map to one kind (``"softmax"``,
``"add"``), with a flag for in-place variants.
"""

from __future__ import annotations

# Name spellings (aten packets, torch functions, tensor methods) -> canonical kind.
_ALIASES = {
    "native_layer_norm": "layer_norm",
    "native_batch_norm": "batch_norm",
    "_native_batch_norm_legit": "batch_norm",
    "_native_batch_norm_legit_functional": "batch_norm",
    "_native_batch_norm_legit_no_training": "batch_norm",
    "conv1d": "conv",
    "conv2d": "conv",
    "conv3d": "conv",
    "convolution": "conv",
    "_softmax": "softmax",
    "_log_softmax": "log_softmax",
    "special_softmax": "softmax",
    "iadd": "add",
    "imul": "mul",
    "__add__": "add",
    "__radd__": "add",
    "__mul__": "mul",
    "__rmul__": "mul",
    "_unsafe_view": "view",
}
# Ops that forward a tensor without computing on its values (for "directly followed by"
# and "at the graph's tail" questions).
PASS_THROUGH = frozenset(
    {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "permute",
     "transpose", "identity", "dropout", "clone", "to", "float", "getitem", "alias",
     "expand", "detach_copy", "type_as", "t"}
)  # fmt: skip
WEIGHT_LAYERS = frozenset({"linear", "conv"})


def canonical(name: str) -> tuple[str, bool]:
    """``(kind, inplace)`` of an op spelled ``name``: ``add_`` -> ``("add", True)``."""
    name = name.split("::")[-1].split(".")[0]
    inplace = name in ("iadd", "imul", "isub") or (
        name.endswith("_") and not name.endswith("__")
    )
    if name in _ALIASES:
        return _ALIASES[name], inplace
    base = name.rstrip("_") if inplace else name
    return _ALIASES.get(base, base.lstrip("_") or base), inplace
