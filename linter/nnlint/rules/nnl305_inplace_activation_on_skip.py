"""NNL305: an in-place operation modifies a tensor the skip path reads later."""

from __future__ import annotations

import re

import libcst as cst

from nnlint.analysis.inplace import Overwrite
from nnlint.analysis.module_model import module_class
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs
from nnlint.rules.nnl305_screen import may_overwrite_a_skip
from nnlint.rules.screens import any_class


class InplaceActivationOnSkip(Rule):
    """## What it does
    Finds in-place operations in a `forward*` method that modify a tensor which another
    name still refers to and reads afterwards, typically the skip path of a residual
    block:

    ```python
    identity = x             # the same tensor, not a copy
    x = self.relu(x)         # self.relu = nn.ReLU(inplace=True)
    ...
    return x + identity      # identity now holds relu(x)
    ```

    In-place operations are in-place `torch.nn` modules (`nn.ReLU(inplace=True)`,
    `nn.LeakyReLU(0.1, True)`, `nn.Dropout(p, inplace=True)`, a `nn.Sequential` starting
    with one), `F.relu(x, inplace=True)`, `F.relu_(x)`, `torch.relu_(x)`, tensor methods
    ending in `_` (`x.relu_()`) and augmented assignments (`x += y`) on tensors.
    Assignment `identity = x` binds the same tensor; `self.downsample(x)`, `x.clone()`
    or any other operation makes a new one. Reading the operated-on name itself after
    `x.relu_()` or `x += y` is intended and not reported, and neither is reading only
    the other name's shape, size, dimensions, dtype or device, which no in-place
    operation changes.

    ## Why is this bad?
    The skip path is meant to carry the block input unchanged. After the in-place op it
    carries the modified values, so the block computes `f(x) + relu(x)` instead of
    `f(x) + x`; nothing fails, the model just trains worse. Autograd may also raise
    "one of the variables needed for gradient computation has been modified by an
    inplace operation".

    ## Example
    ```python
    def forward(self, x):
        out = self.relu(x)  # nn.ReLU(inplace=True)
        out = self.conv(out)
        return out + x
    ```

    ## Use instead
    ```python
    def forward(self, x):
        out = self.relu(x)  # nn.ReLU() (not in-place)
        out = self.conv(out)
        return out + x
    ```

    ## Fix safety
    When the operation is in-place through a literal `inplace=True` (in the module's
    constructor or the functional call), the fix sets it to `False`. It is unsafe:
    the module may be shared by other call sites that relied on the in-place update,
    and memory use grows by one activation.

    ## References
    - [In-place correctness checks](https://pytorch.org/docs/stable/notes/autograd.html#in-place-correctness-checks)
    """

    CODE = "NNL305"
    NAME = "inplace-activation-on-skip"
    MESSAGE = "an in-place operation modifies a tensor that the skip path reads later"
    SEVERITY = "error"
    FIX_TITLE = "Make the operation out-of-place (inplace=False)"
    FIX_IS_SAFE = False
    # Only forward* methods are checked; an in-place op there is a literal ``True``
    # passed as an argument (``inplace=True``, ``LeakyReLU(0.2, True)``), a call of a
    # name ending in ``_`` (``x.relu_()``, ``F.relu_(x)``) or an augmented assignment.
    NEEDS = Needs(
        ("forward",),
        scope="modules",
        pattern=re.compile(
            r"(?:inplace(?:[\s\\]|#[^\n]*+)*+=|[(,])(?:[\s(\\]|#[^\n]*+)*+True(?!\w)"
            r"|(?<!\w)[^\W\d_]\w*_(?:[\s)\\]|#[^\n]*+)*+\("
            r"|(?:[-+*/%@&|^]|>>|<<)="
        ),
        screen=lambda statement: any_class(statement, may_overwrite_a_skip),
    )
    VALID = [
        # torchvision's BasicBlock: the in-place ReLUs act on fresh conv outputs.
        "import torch.nn as nn\n"
        "class BasicBlock(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(c, c, 3, padding=1)\n"
        "        self.conv2 = nn.Conv2d(c, c, 3, padding=1)\n"
        "        self.relu = nn.ReLU(inplace=True)\n"
        "        self.downsample = None\n"
        "    def forward(self, x):\n"
        "        identity = x\n"
        "        out = self.conv1(x)\n"
        "        out = self.relu(out)\n"
        "        out = self.conv2(out)\n"
        "        if self.downsample is not None:\n"
        "            identity = self.downsample(x)\n"
        "        out += identity\n"
        "        out = self.relu(out)\n"
        "        return out\n",
        # A copy on the skip path; an out-of-place activation.
        "import torch.nn as nn\n"
        "class PreAct(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.act = nn.ReLU(inplace=True)\n"
        "        self.act2 = nn.ReLU()\n"
        "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
        "    def forward(self, x):\n"
        "        shortcut = x.clone()\n"
        "        x = self.act(x)\n"
        "        y = self.act2(shortcut)\n"
        "        return self.conv(x) + shortcut + y\n",
        # The name operated on is read again on purpose; no alias survives.
        "import torch.nn.functional as F\n"
        "from torch import nn\n"
        "class Gate(nn.Module):\n"
        "    def forward(self, x):\n"
        "        h = self.proj(x)\n"
        "        h.sigmoid_()\n"
        "        F.relu(x, inplace=True)\n"
        "        return x * h\n",
        # After the in-place activation the other name is asked only for its shape
        # and dtype, which no in-place operation changes.
        "import torch.nn.functional as F\n"
        "from torch import nn\n"
        "class Pooled(nn.Module):\n"
        "    def forward(self, x):\n"
        "        feats = self.body(x)\n"
        "        out = F.relu(feats, inplace=True)\n"
        "        out = F.adaptive_avg_pool2d(out, 1).view(feats.size(0), -1)\n"
        "        return self.fc(out).to(feats.dtype), feats.shape[-1]\n",
        # Integers, not tensors.
        "from torch import nn\n"
        "class Cache(nn.Module):\n"
        "    def forward(self, x, start):\n"
        "        offset = len(x)\n"
        "        first = offset\n"
        "        offset += 1\n"
        "        return x[first:offset]\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n"
            "class PreActBlock(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.relu = nn.ReLU(inplace=True)\n"
            "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
            "    def forward(self, x):\n"
            "        identity = x\n"
            "        x = self.relu(x)\n"
            "        x = self.conv(x)\n"
            "        return x + identity\n",
            line=9,
            column=13,
            fixed="import torch.nn as nn\n"
            "class PreActBlock(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.relu = nn.ReLU(inplace=False)\n"
            "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
            "    def forward(self, x):\n"
            "        identity = x\n"
            "        x = self.relu(x)\n"
            "        x = self.conv(x)\n"
            "        return x + identity\n",
        ),
        Invalid(
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, x):\n"
            "        out = F.relu(x, inplace=True)\n"
            "        out = self.fc(out)\n"
            "        return out + x\n",
            line=5,
            column=15,
            fixed="import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, x):\n"
            "        out = F.relu(x, inplace=False)\n"
            "        out = self.fc(out)\n"
            "        return out + x\n",
        ),
        Invalid(
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, hidden):\n"
            "        skip = hidden\n"
            "        hidden.mul_(self.scale)\n"
            "        return self.mlp(hidden) + skip\n",
            line=5,
            column=9,
        ),
        Invalid(
            "import torch.nn as tnn\n"
            "class Res(tnn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.pre = tnn.Sequential(tnn.LeakyReLU(0.2, True), tnn.ReLU())\n"
            "    def forward(self, feats):\n"
            "        branch = self.pre(feats)\n"
            "        return branch + feats\n",
            line=7,
            column=18,
            fixed="import torch.nn as tnn\n"
            "class Res(tnn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.pre = tnn.Sequential(tnn.LeakyReLU(0.2, False), tnn.ReLU())\n"
            "    def forward(self, feats):\n"
            "        branch = self.pre(feats)\n"
            "        return branch + feats\n",
        ),
        Invalid(
            "import torch\n"
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, x):\n"
            "        residual = x\n"
            "        x += self.attn(x)\n"
            "        return torch.cat([x, residual], dim=-1)\n",
            line=6,
            column=9,
        ),
        Invalid(  # a shape read first, then the values
            "from torch.nn import functional\n"
            "import torch\n"
            "class Summary(torch.nn.Module):\n"
            "    def forward(self, image):\n"
            "        hidden = self.encoder(image)\n"
            "        out = functional.relu(hidden, inplace=True)\n"
            "        out = out.flatten(1) * hidden.shape[1]\n"
            "        return self.fc(out) + hidden.mean()\n",
            line=6,
            column=15,
            fixed="from torch.nn import functional\n"
            "import torch\n"
            "class Summary(torch.nn.Module):\n"
            "    def forward(self, image):\n"
            "        hidden = self.encoder(image)\n"
            "        out = functional.relu(hidden, inplace=False)\n"
            "        out = out.flatten(1) * hidden.shape[1]\n"
            "        return self.fc(out) + hidden.mean()\n",
        ),
        Invalid(  # the in-place activation sits in a helper forward calls
            "import torch.nn as nn\n"
            "class Stage(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.gelu_like = nn.SiLU(True)\n"
            "        self.proj = nn.Conv2d(c, c, 1)\n"
            "    def _activate(self, feat):\n"
            "        return self.gelu_like(feat)\n"
            "    def forward(self, feat):\n"
            "        shortcut = feat\n"
            "        feat = self.proj(self._activate(feat))\n"
            "        return feat + shortcut\n",
            line=8,
            column=16,
            fixed="import torch.nn as nn\n"
            "class Stage(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.gelu_like = nn.SiLU(False)\n"
            "        self.proj = nn.Conv2d(c, c, 1)\n"
            "    def _activate(self, feat):\n"
            "        return self.gelu_like(feat)\n"
            "    def forward(self, feat):\n"
            "        shortcut = feat\n"
            "        feat = self.proj(self._activate(feat))\n"
            "        return feat + shortcut\n",
        ),
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        owner = module_class(self.context, node)
        if owner is None:
            return
        for function in owner.forward_methods():
            for overwrite in owner.flow(function).overwrites.found:
                if overwrite.alias is not None:
                    self._report(overwrite, overwrite.alias)

    def _report(self, overwrite: Overwrite, alias: str) -> None:
        message = (
            f"in-place operation modifies the tensor `{alias}` still refers to; "
            f"`{alias}` is read afterwards and sees the modified values"
        )
        self.report(overwrite.node, message, replacements=overwrite.fix or None)
