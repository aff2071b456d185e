from __future__ import annotations

import inspect
import re
import sys
from typing import Any

from nnlint.fx.rules.base import GraphInvalid, GraphRule


class SubmoduleNeverCalled(GraphRule):
    """
    ## What it does
    Reports registered submodules with trainable parameters that the traced `forward`
    never uses (none of their parameters is read, so tied weights count as used), and
    whose attribute is not referenced anywhere in the class outside `__init__` (a head
    used only in `predict()`, a branch behind a config flag, or a module the class
    hands to a helper of the same file that reads it, as in `module.linear_pos(x)`,
    is not flagged).
    Children that a method reaches by a computed name or by iterating
    (`self[f"expert_{i}"]`, `getattr(self, name)`, `for block in self`) are not
    flagged either: which of them run can depend on the input, as the experts of a
    mixture hit by one batch do.

    ## Why is this bad?
    A layer built and never called is usually a wiring mistake: `self.norm` created but
    `forward` forgot to apply it, or a block list appended to the wrong container. Its
    parameters still count in the model size, the optimizer and the checkpoint, and the
    model silently trains without it.

    ## Example
    ```python
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(16, 16)
            self.norm = nn.LayerNorm(16)  # never applied

        def forward(self, x):
            return self.proj(x)
    ```

    ## Use instead
    ```python
        def forward(self, x):
            return self.norm(self.proj(x))
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [torch.nn.Module.named_modules](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.named_modules)
    """

    CODE = "NNL616"
    NAME = "submodule-never-called"
    MESSAGE = "submodule with parameters is never called in forward"
    SEVERITY = "warning"
    _NET = (
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.proj = nn.Linear(4, 4)\n"
        "        self.norm = nn.LayerNorm(4)\n\n"
        "    def forward(self, x):\n"
        "        return {body}\n\n"
        "{extra}"
        "model = Net()\nexample_inputs = (torch.randn(3, 4),)\n"
    )
    VALID = [
        _NET.format(body="self.norm(self.proj(x))", extra=""),
        _NET.format(
            body="self.proj(x)",
            extra="    def predict(self, x):\n        return self.norm(self(x))\n\n",
        ),
        # Weight tying: the unused module's parameter is read through another name.
        "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
        "class LM(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.embed = nn.Embedding(10, 4)\n"
        "        self.lm_head = nn.Linear(4, 10, bias=False)\n"
        "        self.lm_head.weight = self.embed.weight\n\n"
        "    def forward(self, idx):\n"
        "        return F.linear(self.embed(idx), self.embed.weight)\n\n"
        "model = LM()\nexample_inputs = (torch.zeros(2, 3, dtype=torch.long),)\n",
        # Experts registered and called by computed names: which ones run is decided
        # per input, here by a configured list (by the router in a real mixture).
        "import torch\nfrom torch import nn\n\n"
        "class Experts(nn.ModuleDict):\n"
        "    def __init__(self, count):\n"
        "        super().__init__()\n"
        "        for i in range(count):\n"
        "            self[f'expert_{i}'] = nn.Linear(4, 4)\n"
        "        self.active = [0, 1]\n\n"
        "    def forward(self, x):\n"
        "        for i in self.active:\n"
        "            x = x + self[f'expert_{i}'](x)\n"
        "        return x\n\n"
        "model = Experts(3)\nexample_inputs = (torch.randn(3, 4),)\n",
        "import torch\nfrom torch import nn\n\n"
        "class Stages(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        for i in range(3):\n"
        "            setattr(self, f'stage{i}', nn.Linear(4, 4))\n\n"
        "    def forward(self, x, depth=2):\n"
        "        for i in range(depth):\n"
        "            x = getattr(self, f'stage{i}')(x)\n"
        "        return x\n\n"
        "model = Stages()\nexample_inputs = (torch.randn(3, 4),)\n",
        # Called only through a helper that takes the module, on a configured path.
        "import torch\nfrom torch import nn\n\n"
        "def _project(module, x):\n"
        "    return module.proj(x)\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, relative=False):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n"
        "        self.proj = nn.Linear(4, 4)\n"
        "        self.relative = relative\n\n"
        "    def forward(self, x):\n"
        "        h = self.fc(x)\n"
        "        return _project(self, h) if self.relative else h\n\n"
        "model = Net()\nexample_inputs = (torch.randn(3, 4),)\n",
    ]
    INVALID = [
        GraphInvalid(_NET.format(body="self.proj(x)", extra=""), line=8),
        # A helper of the file reads `.norm` of a tensor, not of this module.
        GraphInvalid(
            _NET.format(
                body="unit(self.proj(x))",
                extra="def unit(x):\n    return x / x.norm(dim=-1, keepdim=True)\n\n",
            ),
            line=8,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.blocks = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\n"
            "        self.extra = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))\n\n"
            "    def forward(self, x):\n"
            "        return self.blocks(x)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(3, 4),)\n",
            line=8,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Block(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(4, 4)\n"
            "        self.gate = nn.Linear(4, 4)\n\n"
            "    def forward(self, x):\n"
            "        return self.fc(x)\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.block = Block()\n\n"
            "    def forward(self, x):\n"
            "        return self.block(x)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(3, 4),)\n",
            line=8,
        ),
    ]

    def run(self, graph: Any) -> None:
        model = graph.model
        holding = _trainable_holders(model, set(graph.parameter_users()))
        unused: list[str] = []
        for name, module in model.named_modules():
            if not name or holding.get(name) is not False:
                continue  # the root, no trainable parameter, or one of them read
            if any(name.startswith(f"{outer}.") for outer in unused):
                continue  # reported through its unused parent
            parent, attribute = _user_owner(model, name)
            if _maybe_called(type(parent), attribute):
                continue
            unused.append(name)
            where = _assignment(type(parent), attribute)
            self.report(
                None,
                f"`{name}` ({type(module).__name__}) has trainable parameters but "
                "`forward` never calls it",
                location=where or graph_location(parent),
            )


def _trainable_holders(model: Any, read: set[str]) -> dict[str, bool]:
    """Module name -> whether any trainable parameter under it is read, for every
    module that holds one. One pass over the parameters by every name they have (a
    tied weight has two), where asking each module for its parameters walks the
    subtree once per module."""
    names: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if param.requires_grad:
            names.setdefault(id(param), []).append(name)
    holders: dict[str, bool] = {}
    for paths in names.values():
        is_read = any(path in read for path in paths)
        for path in paths:
            parts = path.split(".")[:-1]
            for depth in range(1, len(parts) + 1):
                owner = ".".join(parts[:depth])
                holders[owner] = holders.get(owner, False) or is_read
    return holders


def _user_owner(model: Any, name: str) -> tuple[Any, str]:
    """The nearest ancestor of ``name`` defined outside torch (``nn.Sequential`` has no
    user source), and the attribute of it that leads to ``name``."""
    parts = name.split(".")
    for depth in range(len(parts) - 1, -1, -1):
        owner = model.get_submodule(".".join(parts[:depth]))
        if not type(owner).__module__.startswith("torch.") or depth == 0:
            return owner, parts[depth]
    return model, parts[0]


def _class_source(cls: type) -> tuple[str, str, int] | None:
    try:
        lines, start = inspect.getsourcelines(cls)
        return inspect.getsourcefile(cls) or "", "".join(lines), start
    except (OSError, TypeError):
        return None


# Children reached by a computed name or by iteration (``self[f"expert_{i}"]``,
# ``getattr(self, name)``, ``for block in self``, ``self.values()``): which ones a
# forward calls can depend on the data (a mixture's experts hit by this batch), so the
# one recorded forward proves nothing about the others.
_COMPUTED_CHILD = re.compile(
    r"self\s*\[|getattr\(\s*self\s*,|\bin\s+self\s*[:)]"
    r"|self\.(?:values|items|children|named_children|_modules)\b"
)


def _maybe_called(cls: type, attribute: str) -> bool:
    """A method other than ``__init__`` (MRO too) names ``self.<attribute>`` or
    reaches the children by a computed name, or hands ``self`` to a function at the
    top level of the class's module that reads ``<name>.<attribute>`` (the
    transformers pattern: ``_apply_relative(self, q)``, which calls
    ``module.linear_pos(...)``)."""
    pattern = re.compile(rf"self\.{re.escape(attribute)}\b|{_COMPUTED_CHILD.pattern}")
    for klass in cls.__mro__:
        if klass.__module__.startswith("torch."):
            break
        methods = [m for n, m in vars(klass).items() if n != "__init__"]
        if any(_source_matches(m, pattern) for m in methods):
            return True
        if _handed_to_a_reader(klass, methods, attribute):
            return True
    return False


def _handed_to_a_reader(klass: type, methods: list[Any], attribute: str) -> bool:
    """A method passes ``self`` whole to a top-level function of the class's module
    that reads ``<name>.<attribute>``."""
    reads = re.compile(rf"\w\.{re.escape(attribute)}\b")
    for function in vars(sys.modules.get(klass.__module__, object())).values():
        if not _defined_in(function, klass) or not _source_matches(function, reads):
            continue
        call = re.compile(rf"\b{re.escape(function.__name__)}\s*\(\s*self\s*[,)]")
        if any(_source_matches(method, call) for method in methods):
            return True
    return False


def _defined_in(function: Any, cls: type) -> bool:
    return inspect.isfunction(function) and function.__module__ == cls.__module__


def _source_matches(function: Any, pattern: re.Pattern[str]) -> bool:
    if not inspect.isfunction(function):
        return False
    try:
        return pattern.search(inspect.getsource(function)) is not None
    except (OSError, TypeError):
        return False


def _assignment(cls: type, attribute: str) -> tuple[str, int] | None:
    """Where ``self.<attribute> = ...`` is written in the class body."""
    found = _class_source(cls)
    if found is None:
        return None
    path, text, start = found
    pattern = re.compile(rf"self\.{re.escape(attribute)}\s*(:[^=]*)?=[^=]")
    for offset, line in enumerate(text.splitlines()):
        if pattern.search(line):
            return path, start + offset
    return path, start


def graph_location(module: Any) -> tuple[str, int] | None:
    found = _class_source(type(module))
    return (found[0], found[2]) if found else None
