"""torch's own Transformer stacks built from post-LN layers (NNL401).

``nn.TransformerEncoder``/``nn.TransformerDecoder`` around a layer whose
``norm_first`` is left False, and ``nn.Transformer`` with ``norm_first`` False; the
depth is the ``num_layers`` argument (torch's default 6 for ``nn.Transformer``) when
it is provable (see :mod:`nnlint.analysis.stack_depth`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.cst_syntax import Resolve, argument, bound_call, enclosing
from nnlint.analysis.stack_depth import LoopDepths

if TYPE_CHECKING:
    from nnlint.analysis.context import WalkPosition

# Stack class -> (keyword of its layer argument, the layer class it must be built of).
ENCODER_STACKS = {
    "torch.nn.TransformerEncoder": (
        "encoder_layer",
        "torch.nn.TransformerEncoderLayer",
    ),
    "torch.nn.TransformerDecoder": (
        "decoder_layer",
        "torch.nn.TransformerDecoderLayer",
    ),
}


# (position, keyword) of each stack's depth, and the position of its custom module.
_TRANSFORMER_STACKS = ((2, "num_encoder_layers", 7), (3, "num_decoder_layers", 8))


def _post_ln_flag(value: cst.BaseExpression | None) -> bool:
    """``norm_first`` left at its default or set to a literal False."""
    return value is None or (isinstance(value, cst.Name) and value.value == "False")


def post_ln_encoder(
    node: cst.Call,
    kind: str,
    resolve: Resolve,
    depths: LoopDepths,
    context: WalkPosition,
) -> tuple[cst.Call, int] | None:
    """The post-LN layer constructor an encoder/decoder ``node`` of class ``kind``
    stacks, and its provable depth."""
    keyword, layer_kind = ENCODER_STACKS[kind]
    if any(arg.star == "**" for arg in node.args):
        return None
    scope = enclosing(context.ancestors, cst.FunctionDef)
    layer = argument(node, 0, keyword)
    if isinstance(layer, cst.Name):
        layer = bound_call(scope or context.module, layer.value)[0]
    if not isinstance(layer, cst.Call) or resolve(layer.func) != layer_kind:
        return None
    if any(arg.star == "**" for arg in layer.args):
        return None
    depth = depths.integer_arg(node, 1, "num_layers", scope)
    if depth is None or not _post_ln_flag(argument(layer, 7, "norm_first")):
        return None
    return layer, depth


def post_ln_transformer_depth(
    node: cst.Call, depths: LoopDepths, context: WalkPosition
) -> int | None:
    """Depth of the deeper stack of a post-LN ``nn.Transformer`` call, if known."""
    if any(arg.star == "**" for arg in node.args):
        return None
    if not _post_ln_flag(argument(node, 11, "norm_first")):
        return None
    scope = enclosing(context.ancestors, cst.FunctionDef)
    found = []
    for position, name, custom in _TRANSFORMER_STACKS:
        if argument(node, custom, f"custom_{name[4:-7]}") is not None:
            continue  # a user-supplied encoder/decoder: its layers are unknown
        if argument(node, position, name) is None:
            found.append(6)  # torch's default
        else:
            found.append(depths.integer_arg(node, position, name, scope) or 0)
    return max(found) if found else None
