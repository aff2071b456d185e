"""NNL402: a last-axis norm (LayerNorm/RMSNorm) over a channels-first conv output."""

from __future__ import annotations

import ast

import libcst as cst

from nnlint.analysis.class_facts import ClassTable, MethodIndex
from nnlint.analysis.container_links import resolved_elements
from nnlint.analysis.cst_syntax import (
    argument,
    first_arg,
    is_self_attr,
    keyword,
    only_statement,
    same_expression,
    source_text,
)
from nnlint.analysis.module_model import class_model
from nnlint.analysis.norm_kinds import CONV, ELEMENTWISE, LAYER_NORM
from nnlint.rules.base import Invalid
from nnlint.rules.container_rule import ContainerLinkRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import called_names

_FUNCTIONAL = frozenset(
    {"torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"}
)
_RNNS = frozenset({"torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU"})
_BATCH_NORM_1D = frozenset({"torch.nn.BatchNorm1d", "torch.nn.LazyBatchNorm1d"})
_LAST_AXIS = {"Conv1d": "L", "Conv2d": "W", "Conv3d": "W"}
_EMBEDDING = frozenset({"torch.nn.Embedding"})
# The last names of the producers other than convolutions (``Conv`` in the name).
_PRODUCER_SPELLINGS = frozenset(kind.rpartition(".")[2] for kind in _RNNS | _EMBEDDING)


def _builds_a_producer(statement: ast.stmt) -> bool:
    """Every finding names the layer whose output is misread (a convolution, an
    embedding, a recurrent layer), built in the same statement: in the same
    container or function, or as an attribute of the same class."""
    names = called_names(statement)
    return not names.isdisjoint(_PRODUCER_SPELLINGS) or any(
        "Conv" in name for name in names
    )


def _out_channels(ctor: cst.Call, kind: str) -> cst.BaseExpression | None:
    lazy = kind.rsplit(".", 1)[-1].startswith("Lazy")
    return argument(ctor, 0 if lazy else 1, "out_channels")


def _normalized_size(norm: cst.Call, kind: str) -> cst.BaseExpression | None:
    """The single size a norm normalises over (``LayerNorm(c)``, ``[c]``, ``(c,)``);
    None for several axes (``LayerNorm([c, h, w])`` is fine after a conv)."""
    shape = argument(norm, 1 if kind in _FUNCTIONAL else 0, "normalized_shape")
    if isinstance(shape, cst.Tuple | cst.List):
        if len(shape.elements) != 1 or isinstance(
            shape.elements[0], cst.StarredElement
        ):
            return None
        return shape.elements[0].value
    return shape


def _token_axes(norm: cst.Call, kind: str) -> cst.BaseExpression | bool:
    """How a norm's shape reaches past the last axis: ``[fields, dim]`` (several
    sizes: its last size) or ``x.shape[1:]`` / ``x.size()[1:]`` (every axis after
    the batch: True); False when it does not."""
    shape = argument(norm, 1 if kind in _FUNCTIONAL else 0, "normalized_shape")
    if isinstance(shape, cst.Tuple | cst.List):
        elements = shape.elements
        if len(elements) < 2 or any(
            isinstance(e, cst.StarredElement) for e in elements
        ):
            return False
        return elements[-1].value
    if isinstance(shape, cst.Subscript) and len(shape.slice) == 1:
        part = shape.slice[0].slice
        base = shape.value
        sized = (isinstance(base, cst.Attribute) and base.attr.value == "shape") or (
            isinstance(base, cst.Call)
            and isinstance(base.func, cst.Attribute)
            and base.func.attr.value == "size"
        )
        if sized and isinstance(part, cst.Slice) and part.upper is None:
            lower = part.lower
            if isinstance(lower, cst.Integer) and int(lower.value) >= 1:
                return True
    return False


def _rnn_output(expr: cst.BaseExpression | None, table: ClassTable) -> str | None:
    """The attribute of a ``batch_first=True`` RNN/LSTM/GRU whose output (element 0
    of its result) ``expr`` is."""
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.Integer):
            if index.value.value == "0" and isinstance(expr.value, cst.Call):
                return _batch_first_rnn(expr.value, table)
    return None


def _batch_first_rnn(call: cst.Call, table: ClassTable) -> str | None:
    attr = is_self_attr(call.func)
    member = table.members.get(attr) if attr else None
    if member is None or member.kind not in _RNNS or member.ctor is None:
        return None
    flag = keyword(member.ctor, "batch_first")
    if flag and isinstance(flag.value, cst.Name) and flag.value.value == "True":
        return attr
    return None


def _unpacked_rnn(statement: cst.BaseStatement, table: ClassTable) -> str | None:
    """``v`` for ``v, state = self.rnn(x)`` or ``v = self.rnn(x)[0]``."""
    small = only_statement(statement)
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target = small.targets[0].target
    if isinstance(target, cst.Tuple | cst.List) and isinstance(small.value, cst.Call):
        first = target.elements[0].value if target.elements else None
        if isinstance(first, cst.Name) and _batch_first_rnn(small.value, table):
            return first.value
    if isinstance(target, cst.Name) and _rnn_output(small.value, table):
        return target.value
    return None


def _batch_norms_of_rnn_outputs(
    index: MethodIndex, table: ClassTable
) -> list[cst.Call]:
    """``BatchNorm1d`` calls taking a batch-first RNN's output directly."""
    found = []
    for call in index.calls:
        if table.kind(is_self_attr(call.func) or "") not in _BATCH_NORM_1D:
            continue
        if _rnn_output(first_arg(call), table):
            found.append(call)
    for suite in index.suites:
        for before, statement in zip(suite, suite[1:], strict=False):
            name = _unpacked_rnn(before, table)
            small = only_statement(statement)
            value = getattr(small, "value", None)
            if name is None or not isinstance(value, cst.Call):
                continue
            arg = first_arg(value)
            kind = table.kind(is_self_attr(value.func) or "")
            if (
                isinstance(arg, cst.Name)
                and arg.value == name
                and kind in _BATCH_NORM_1D
            ):
                found.append(value)
    return found


def _axis(conv_kind: str) -> str:
    name = conv_kind.rsplit(".", 1)[-1].replace("Lazy", "").replace("Transpose", "")
    return _LAST_AXIS.get(name, "last")


class NormOverWrongAxes(ContainerLinkRule):
    """
    ## What it does
    Flags a `LayerNorm`/`RMSNorm` (module or `F.layer_norm`/`F.rms_norm`) sized
    for the channels of a convolution and applied straight to that convolution's
    output: the norm's single `normalized_shape` is written exactly like the
    conv's `out_channels` (`Conv2d(c_in, dim, 3)` then `LayerNorm(dim)`), and the
    conv output reaches the norm directly or only through element-wise layers
    (activations, dropout). Links are found in `nn.Sequential(...)`/list literals
    and in methods (`self.norm(self.conv(x))`, or consecutive statements).

    Also flags a `BatchNorm1d` fed directly with the output of an `nn.RNN`,
    `nn.LSTM` or `nn.GRU` built with `batch_first=True` (`out, _ = self.rnn(x)`
    then `self.bn(out)`, or `self.bn(self.rnn(x)[0])`).

    Also flags a norm over more than the last axis of an `nn.Embedding` output,
    `(..., tokens, dim)`: `LayerNorm([fields, dim])` or
    `F.layer_norm(x, x.shape[1:])` computes one mean and variance over all the
    tokens (fields) of a sample instead of normalising each embedding on its own.

    This is the provable subset of "norm over the wrong axes". Not reported: a
    permute/transpose/reshape in between (ConvNeXt-style channels-last), a norm
    over several axes (`LayerNorm([c, h, w])`), a size that does not match the
    conv's channels (it may really mean the last axis), `GroupNorm`, and any norm
    whose input layout the source does not show.

    ## Why is this bad?
    `LayerNorm(n)` and `RMSNorm(n)` normalise the *last* axis, which must have
    size `n`. A convolution's output is channels-first, `(N, C, L)` or
    `(N, C, H, W)`, so the norm meant for the `C` channels normalises the
    length/width axis instead. When that axis happens to equal `C` (a 16x16
    feature map with 16 channels) nothing fails: each row is normalised over its
    pixels, mixing spatial positions and leaving channels unnormalised; for any
    other size the first forward pass raises a shape error. Likewise
    `BatchNorm1d(h)` expects `(N, C, L)` with the features on axis 1, while a
    batch-first RNN returns `(N, T, H)`: it normalises per time step.

    ## Example
    ```python
    features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.LayerNorm(64))
    ```

    ## Use instead
    ```python
    class ChannelsLayerNorm(nn.LayerNorm):
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), ChannelsLayerNorm(64))
    ```
    or `nn.GroupNorm(1, 64)` to normalise over channels and space together.

    ## Fix safety
    There is no automatic fix: which axes to normalise is a modelling choice.

    ## References
    - [torch.nn.LayerNorm](https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html):
      "normalizes over the last D dimensions".
    - Liu et al., "A ConvNet for the 2020s" (CVPR 2022): LayerNorm in a convnet
      needs channels-last or a channels-first implementation.
    """

    CODE = "NNL402"
    NAME = "norm-over-wrong-axes"
    MESSAGE = "The norm normalises a different axis than the features it is sized for"
    SEVERITY = "error"
    NEEDS = Needs(
        ("LayerNorm", "RMSNorm", "layer_norm", "rms_norm", "BatchNorm1d"),
        screen=_builds_a_producer,
    )

    VALID = [
        # Channels-last permute before the norm (ConvNeXt).
        "from torch import nn\n"
        "class Down(nn.Module):\n"
        "    def __init__(self, dim):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(dim, 2 * dim, 2, stride=2)\n"
        "        self.norm = nn.LayerNorm(2 * dim)\n"
        "    def forward(self, x):\n"
        "        x = self.conv(x).permute(0, 2, 3, 1)\n"
        "        return self.norm(x)\n",
        # Normalising over all of (C, H, W) is a legitimate choice.
        "import torch.nn as tnn\n"
        "net = tnn.Sequential(tnn.Conv2d(3, 8, 3), tnn.LayerNorm([8, 30, 30]))\n",
        # GroupNorm is channels-first aware; LayerNorm after a Linear is right.
        "from torch import nn\n"
        "a = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(1, 8))\n"
        "b = nn.Sequential(nn.Linear(3, 8), nn.LayerNorm(8))\n",
        # A size unrelated to the channels may mean the last axis on purpose.
        "from torch import nn\n"
        "seq = nn.Sequential(nn.Conv1d(4, 32, 3, padding=1), nn.LayerNorm(128))\n",
        # The RNN output is transposed to (N, H, T) before BatchNorm1d.
        "from torch import nn\n"
        "class Tagger(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.rnn = nn.GRU(8, 16, batch_first=True)\n"
        "        self.bn = nn.BatchNorm1d(16)\n"
        "    def forward(self, x):\n"
        "        out, _ = self.rnn(x)\n"
        "        out = out.transpose(1, 2)\n"
        "        return self.bn(out)\n",
        # Flatten between conv and norm changes the layout.
        "from torch import nn\n"
        "head = nn.Sequential(nn.Conv2d(16, 32, 1), nn.Flatten(), nn.LayerNorm(32))\n",
        # Each token's embedding normalised on its own (the last axis only).
        "import torch.nn.functional as F\n"
        "from torch import nn\n"
        "class Tokens(nn.Module):\n"
        "    def __init__(self, vocab, dim):\n"
        "        super().__init__()\n"
        "        self.embed = nn.Embedding(vocab, dim)\n"
        "        self.norm = nn.LayerNorm(dim)\n"
        "    def forward(self, ids):\n"
        "        tok = self.embed(ids)\n"
        "        return self.norm(tok) + F.layer_norm(tok, tok.shape[-1:])\n",
    ]
    INVALID = [
        Invalid(
            "from torch import nn\n"
            "stem = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.LayerNorm(16))\n",
            line=2,
            column=54,
        ),
        Invalid(
            "import torch\n"
            "from torch import nn\n"
            "class Patchify(nn.Module):\n"
            "    def __init__(self, c_in, width):\n"
            "        super().__init__()\n"
            "        self.proj = nn.Conv2d(c_in, width, kernel_size=4, stride=4)\n"
            "        self.ln = nn.LayerNorm(width)\n"
            "    def forward(self, img):\n"
            "        tokens = self.proj(img)\n"
            "        tokens = self.ln(tokens)\n"
            "        return tokens.flatten(2)\n",
            line=10,
            column=18,
        ),
        Invalid(
            "import torch.nn.functional as F\n"
            "from torch.nn import Conv1d, Module\n"
            "class Tcn(Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.conv = Conv1d(64, out_channels=64, kernel_size=3)\n"
            "    def forward(self, seq):\n"
            "        return F.layer_norm(F.gelu(self.conv(seq)), (64,))\n",
            line=8,
            column=16,
        ),
        Invalid(
            "import torch.nn as tnn\n"
            "class Speech(tnn.Module):\n"
            "    def __init__(self, n_mels, hidden):\n"
            "        super().__init__()\n"
            "        self.lstm = tnn.LSTM(n_mels, hidden, batch_first=True)\n"
            "        self.norm = tnn.BatchNorm1d(hidden)\n"
            "    def forward(self, frames):\n"
            "        states, (h, c) = self.lstm(frames)\n"
            "        return self.norm(states)\n",
            line=9,
            column=16,
        ),
        # One statistic over all fields of a sample: LayerNorm([fields, dim]).
        Invalid(
            "from torch import nn\n"
            "class FieldEmbedding(nn.Module):\n"
            "    def __init__(self, n_fields, d):\n"
            "        super().__init__()\n"
            "        self.table = nn.Embedding(10_000, d)\n"
            "        self.norm = nn.LayerNorm([n_fields, d])\n"
            "    def forward(self, ids):\n"
            "        return self.norm(self.table(ids))\n",
            line=8,
            column=16,
        ),
        # ``x.shape[1:]`` normalises every axis after the batch, tokens included.
        Invalid(
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class Encoder(nn.Module):\n"
            "    def __init__(self, vocab, dim):\n"
            "        super().__init__()\n"
            "        self.embed = nn.Embedding(vocab, dim)\n"
            "    def forward(self, ids):\n"
            "        x = self.embed(ids)\n"
            "        x = F.layer_norm(x, x.shape[1:])\n"
            "        return x\n",
            line=9,
            column=13,
        ),
    ]

    def check_container(
        self, node: cst.Call | cst.List, scope: cst.CSTNode | None
    ) -> None:
        elements = resolved_elements(node, self.qualified_name, scope)
        for position, element in enumerate(elements):
            if element is None or element[1] not in LAYER_NORM:
                continue
            before = position - 1
            while before >= 0 and (elements[before] or ("", ""))[1] in ELEMENTWISE:
                before -= 1
            producer = elements[before] if before >= 0 else None
            if producer is not None:
                for check in (self._check, self._check_tokens):
                    check(producer[1], producer[2], element[1], element[2], element[0])

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        facts = class_model(self.context, node)
        for link in facts.links(through=ELEMENTWISE):
            norm = link.consumer_ctor
            if norm is None and isinstance(link.consumer, cst.Call):
                norm = link.consumer  # a functional norm carries its own shape
            for check in (self._check, self._check_tokens):
                check(
                    link.producer_kind,
                    link.producer_ctor,
                    link.consumer_kind,
                    norm,
                    link.consumer,
                )
        for index in facts.indexes:
            for call in _batch_norms_of_rnn_outputs(index, facts.table):
                self._flag_sequence(call)

    def _flag_sequence(self, call: cst.Call) -> None:
        if id(call) in self.flagged:
            return
        self.flagged.add(id(call))
        self.report(
            call,
            "`BatchNorm1d` normalises axis 1, but a `batch_first` RNN output is "
            "(N, T, H): this normalises over time steps, not the H features; "
            "transpose to (N, H, T) first or use LayerNorm",
        )

    def _check_tokens(
        self,
        producer_kind: str,
        embedding: cst.Call | None,
        norm_kind: str,
        norm: cst.Call | None,
        where: cst.BaseExpression,
    ) -> None:
        """An embedding's output is (..., tokens, dim): a norm over more than the
        last axis mixes the tokens (or fields) of a sample into one statistic."""
        if producer_kind not in _EMBEDDING or embedding is None or norm is None:
            return
        if norm_kind not in LAYER_NORM and norm_kind not in _FUNCTIONAL:
            return
        last = _token_axes(norm, norm_kind)
        dim = argument(embedding, 1, "embedding_dim")
        if last is False or dim is None or id(where) in self.flagged:
            return
        if last is not True and not same_expression(last, dim):
            return  # sized for something else: the layout is not what we think
        self.flagged.add(id(where))
        norm_name = norm_kind.rsplit(".", 1)[-1]
        text = source_text(dim)
        self.report(
            where,
            f"`{norm_name}` here normalises across the tokens (fields) of each sample "
            f"together with their {text} features: each embedding should be "
            f"normalised on its own; normalise the last axis only ({text})",
        )

    def _check(
        self,
        conv_kind: str,
        conv: cst.Call | None,
        norm_kind: str,
        norm: cst.Call | None,
        where: cst.BaseExpression,
    ) -> None:
        if conv_kind not in CONV or conv is None or norm is None:
            return
        if norm_kind not in LAYER_NORM and norm_kind not in _FUNCTIONAL:
            return
        size = _normalized_size(norm, norm_kind)
        channels = _out_channels(conv, conv_kind)
        if size is None or channels is None or id(where) in self.flagged:
            return
        if not same_expression(size, channels):
            return
        self.flagged.add(id(where))
        conv_name = conv_kind.rsplit(".", 1)[-1]
        norm_name = norm_kind.rsplit(".", 1)[-1]
        text = source_text(size)
        self.report(
            where,
            f"`{norm_name}({text})` normalises the last axis, but `{conv_name}` "
            f"output is channels-first: this normalises {_axis(conv_kind)}, not the "
            f"{text} channels; permute to channels-last first or use GroupNorm",
        )
