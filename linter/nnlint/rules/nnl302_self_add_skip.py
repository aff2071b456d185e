"""NNL302: a skip connection that adds a tensor to itself."""

from __future__ import annotations

import ast
import re

import libcst as cst

from nnlint.analysis.forward_records import Add
from nnlint.analysis.module_model import module_class
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import any_class, forward_methods, nodes


class SelfAddSkip(Rule):
    """## What it does
    Finds `h + h` (and `h += h`) in a `forward*` method of an `nn.Module`, where `h`
    holds a tensor: the output of a submodule or `torch` call, or a tensor argument.

    ## Why is this bad?
    A residual connection adds a block's *input* to its *output*: `x + self.block(x)`.
    Writing `h = self.block(x); return h + h` only doubles the branch output; the skip
    path is gone, so gradients no longer bypass the block and the network behaves like
    a plain deep stack (harder to train the deeper it is). Scaling by two is spelled
    `2 * h` when it is really meant.

    ## Example
    ```python
    def forward(self, x):
        h = self.block(x)
        return h + h
    ```

    ## Use instead
    ```python
    def forward(self, x):
        h = self.block(x)
        return x + h
    ```

    ## Fix safety
    When `h` was assigned `self.<module>(x)` and `x` still holds that input at the
    addition, the fix replaces one operand by `x`. It is unsafe: it changes the
    model's output, and only you know the intended skip.

    ## References
    - [He et al., Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385)
    """

    CODE = "NNL302"
    NAME = "self-add-skip"
    MESSAGE = "a tensor is added to itself where a skip connection belongs"
    SEVERITY = "error"
    FIX_TITLE = "Add the block input instead of the block output"
    FIX_IS_SAFE = False
    # ``h + h`` / ``h += h``: one name on both sides of ``+`` (only spaces, line
    # continuations, comments and parentheses between).
    NEEDS = Needs(
        ("forward",),
        scope="modules",
        pattern=re.compile(
            r"(?<![\w.])([^\W\d]\w*+)(?:[\s)\\]|#[^\n]*+)*+\+=?"
            r"(?:[\s(\\]|#[^\n]*+)*+\1(?!\w)"
        ),
        screen=lambda statement: any_class(statement, _adds_a_name_to_itself),
    )
    VALID = [
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def forward(self, x):\n"
        "        h = self.body(x)\n"
        "        return x + h\n",
        # Integers, not tensors.
        "from torch import nn\n"
        "class Pad(nn.Module):\n"
        "    def forward(self, x):\n"
        "        pad = self.kernel_size // 2\n"
        "        total = pad + pad\n"
        "        return x[..., total:]\n",
        # Doubling spelled as such; a sum of two different branches.
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def forward(self, x):\n"
        "        a = self.left(x)\n"
        "        b = self.right(x)\n"
        "        return 2 * a + b\n",
    ]
    INVALID = [
        Invalid(
            "from torch import nn\n"
            "class Block(nn.Module):\n"
            "    def forward(self, x):\n"
            "        h = self.block(x)\n"
            "        return h + h\n",
            line=5,
            column=16,
            fixed="from torch import nn\n"
            "class Block(nn.Module):\n"
            "    def forward(self, x):\n"
            "        h = self.block(x)\n"
            "        return x + h\n",
        ),
        Invalid(
            "import torch.nn as nn\n"
            "class Block(nn.Module):\n"
            "    def forward(self, inputs):\n"
            "        out = self.conv(inputs)\n"
            "        out = self.bn(out)\n"
            "        out += out\n"
            "        return out\n",
            line=6,
            column=9,
        ),
        Invalid(
            "import torch.nn as nn\n"
            "class Block(nn.Module):\n"
            "    def forward(self, hidden):\n"
            "        residual = self.mlp(hidden)\n"
            "        residual += residual\n"
            "        return residual\n",
            line=5,
            column=9,
            fixed="import torch.nn as nn\n"
            "class Block(nn.Module):\n"
            "    def forward(self, hidden):\n"
            "        residual = self.mlp(hidden)\n"
            "        residual += hidden\n"
            "        return residual\n",
        ),
        Invalid(
            "import torch\n"
            "import torch.nn as nn\n"
            "class Block(nn.Module):\n"
            "    def forward(self, x):\n"
            "        x = self.attn(x)\n"
            "        return torch.relu(x + x)\n",
            line=6,
            column=27,
        ),
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        owner = module_class(self.context, node)
        if owner is None:
            return
        for function in owner.forward_methods():
            for add in owner.flow(function).adds:
                self._check(add)

    def _check(self, add: Add) -> None:
        left, right = add.bindings
        if not (
            isinstance(add.left, cst.Name)
            and isinstance(add.right, cst.Name)
            and add.left.value == add.right.value
            and left is not None
            and left is right
            and left.tensorish
        ):
            return
        name = add.left.value
        message = (
            f"`{name}` is added to itself: the skip path should carry the block input"
        )
        source = left.source
        if (
            source is None
            or source[0] == name
            or add.env.get(source[0]) is not source[1]
        ):
            self.report(add.node, message)
            return
        skip = cst.Name(source[0])
        old = add.right if isinstance(add.node, cst.AugAssign) else add.left
        self.report(add.node, message + f" (`{source[0]}`?)", replacements={old: skip})


def _adds_a_name_to_itself(node: ast.ClassDef) -> bool:
    """The screen: a ``forward*`` method holds ``h + h`` or ``h += h`` (the only adds
    the rule judges: two plain names, the same one)."""
    for function in forward_methods(node):
        for child in nodes(function):
            if isinstance(child, ast.BinOp) and isinstance(child.op, ast.Add):
                left, right = child.left, child.right
            elif isinstance(child, ast.AugAssign) and isinstance(child.op, ast.Add):
                left, right = child.target, child.value
            else:
                continue
            if isinstance(left, ast.Name) and isinstance(right, ast.Name):
                if left.id == right.id:
                    return True
    return False
