"""NNL303: submodules kept in a plain list, dict or tuple attribute."""

from __future__ import annotations

import ast

import libcst as cst

from nnlint.analysis.cst_syntax import called_name
from nnlint.analysis.method_syntax import self_attr
from nnlint.analysis.module_constructors import (
    is_module_constructor,
    torch_nn_expression,
)
from nnlint.analysis.module_model import ClassModel, FileModel, file_model
from nnlint.analysis.walk import walk
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import (
    any_class,
    attribute_assignments,
    call_name,
    calls,
    methods,
)

_LIST_LIKE = (cst.List, cst.Tuple, cst.ListComp)
_DICT_LIKE = (cst.Dict, cst.DictComp)
_STRING = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
_REGISTERING = frozenset({"add_module", "register_module", "setattr"})


class UnregisteredSubmodules(Rule):
    """## What it does
    Finds `nn.Module` classes that store submodules in a plain Python `list`, `tuple` or
    `dict` attribute, e.g. `self.layers = [nn.Linear(d, d) for _ in range(n)]`, or an
    empty list later filled with `self.layers.append(nn.Linear(...))`.

    Only containers whose elements are visibly modules are reported (`torch.nn` layers
    or `nn.Module` classes of the same file). Modules without parameters, buffers or
    train/eval behaviour (losses, activations, pooling, `nn.Identity`) are harmless in a
    plain container and do not count. A container later passed to a call (such as
    `nn.ModuleList(self.layers)` or `nn.Sequential(*self.layers)`) or registered
    element by element with `add_module`/`register_module` is left alone.

    ## Why is this bad?
    `nn.Module` only registers submodules assigned directly to an attribute or held in
    `nn.ModuleList`/`nn.ModuleDict`. Modules inside a plain container are invisible to
    `parameters()`, `state_dict()`, `.to(device)`, `.train()`/`.eval()` and the
    optimizer: they run in `forward` but are never trained, never saved, and stay on the
    CPU when the model moves to the GPU.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self, width, depth):
            super().__init__()
            self.layers = [nn.Linear(width, width) for _ in range(depth)]
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self, width, depth):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
    ```

    ## Fix safety
    The fix wraps the container in `nn.ModuleList` / `nn.ModuleDict`, spelled with the
    file's own `torch.nn` import; it is offered for dicts only when every key is a
    string literal. It is unsafe: the parameters start being trained and saved, so
    `state_dict()` gains keys (old checkpoints no longer load with `strict=True`), and
    list or dict methods that the module containers lack (`sort`, `get`, ...) fail.

    ## References
    - [torch.nn.ModuleList](https://pytorch.org/docs/stable/generated/torch.nn.ModuleList.html)
    - [torch.nn.ModuleDict](https://pytorch.org/docs/stable/generated/torch.nn.ModuleDict.html)
    """

    CODE = "NNL303"
    NAME = "unregistered-submodules"
    MESSAGE = (
        "submodules in a plain container are not registered: their parameters are "
        "never trained, saved or moved by .to(); use nn.ModuleList / nn.ModuleDict"
    )
    SEVERITY = "error"
    FIX_TITLE = "Wrap the container in nn.ModuleList / nn.ModuleDict"
    FIX_IS_SAFE = False
    # "Module" finds `class Net(Module)` after `from torch.nn import Module`. A class
    # whose text names neither (`class Wide(Conv2d)` with a bare import) is only
    # parsed when another rule asks for it.
    NEEDS = Needs(
        ("nn.", "torch.nn", "Module"),
        scope="modules",
        screen=lambda statement: any_class(statement, _may_hold_modules),
    )
    VALID = [
        # Registered properly.
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, d, n):\n"
        "        super().__init__()\n"
        "        self.layers = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])\n",
        # A plain list turned into a Sequential afterwards.
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.blocks = []\n"
        "        self.blocks.append(nn.Linear(d, d))\n"
        "        self.body = nn.Sequential(*self.blocks)\n",
        # Plain data in a list is not a problem; nor is a non-torch framework.
        "import torch\n"
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.sizes = [64, 128, 256]\n"
        "        self.names = {'a': 'relu'}\n",
        "import flax.linen as nn\n"
        "class Net(nn.Module):\n"
        "    def setup(self):\n"
        "        self.layers = [nn.Dense(4) for _ in range(3)]\n",
        # Registered one by one.
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.heads = [nn.Linear(4, 2), nn.Linear(4, 3)]\n"
        "        for i, head in enumerate(self.heads):\n"
        "            self.add_module(f'head{i}', head)\n",
        # Filled in a loop, each element registered as it is added.
        "from torch import nn\n"
        "class Encoder(nn.Module):\n"
        "    def __init__(self, dims):\n"
        "        super().__init__()\n"
        "        self.stages = []\n"
        "        for i, d in enumerate(dims):\n"
        "            self.stages.append(nn.Linear(d, d))\n"
        "            self.add_module(f'stage{i}', self.stages[i])\n",
    ]
    INVALID = [
        Invalid(
            # The stages are registered one by one; the norms beside them are not.
            "from torch import nn\n"
            "class Encoder(nn.Module):\n"
            "    def __init__(self, dims):\n"
            "        super().__init__()\n"
            "        self.stages = []\n"
            "        self.norms = []\n"
            "        for i, d in enumerate(dims):\n"
            "            self.stages.append(nn.Linear(d, d))\n"
            "            self.norms.append(nn.LayerNorm(d))\n"
            "            self.add_module(f'stage{i}', self.stages[i])\n",
            line=6,
            column=22,
            fixed="from torch import nn\n"
            "class Encoder(nn.Module):\n"
            "    def __init__(self, dims):\n"
            "        super().__init__()\n"
            "        self.stages = []\n"
            "        self.norms = nn.ModuleList()\n"
            "        for i, d in enumerate(dims):\n"
            "            self.stages.append(nn.Linear(d, d))\n"
            "            self.norms.append(nn.LayerNorm(d))\n"
            "            self.add_module(f'stage{i}', self.stages[i])\n",
        ),
        Invalid(
            "import torch.nn as nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self, d, n):\n"
            "        super().__init__()\n"
            "        self.layers = [nn.Linear(d, d) for _ in range(n)]\n",
            line=5,
            column=23,
            fixed="import torch.nn as nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self, d, n):\n"
            "        super().__init__()\n"
            "        self.layers = nn.ModuleList("
            "[nn.Linear(d, d) for _ in range(n)])\n",
        ),
        Invalid(
            "from torch import nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            '        self.heads = {"cls": nn.Linear(8, 10), "box": nn.Linear(8, 4)}\n',
            line=5,
            column=22,
            fixed="from torch import nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            '        self.heads = nn.ModuleDict({"cls": nn.Linear(8, 10), '
            '"box": nn.Linear(8, 4)})\n',
        ),
        Invalid(
            "import torch.nn as tnn\n"
            "class Block(tnn.Module):\n"
            "    pass\n"
            "class Net(tnn.Module):\n"
            "    def __init__(self, depth):\n"
            "        super().__init__()\n"
            "        self.blocks = []\n"
            "        for _ in range(depth):\n"
            "            self.blocks.append(Block())\n",
            line=7,
            column=23,
            fixed="import torch.nn as tnn\n"
            "class Block(tnn.Module):\n"
            "    pass\n"
            "class Net(tnn.Module):\n"
            "    def __init__(self, depth):\n"
            "        super().__init__()\n"
            "        self.blocks = tnn.ModuleList()\n"
            "        for _ in range(depth):\n"
            "            self.blocks.append(Block())\n",
        ),
        Invalid(
            "from torch.nn import Conv2d, Module\n"
            "class Net(Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.convs = (Conv2d(3, 8, 3), Conv2d(8, 8, 3))\n",
            line=5,
            column=23,
        ),
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        model = self.context.get(file_model)
        owner = model.classes.get(node)
        if owner is None or not owner.is_module:
            return
        for attr, values in owner.assigned.items():
            if len(values) != 1:
                continue  # rebuilt later (e.g. as a ModuleList): too unclear to judge
            value = values[0]
            element = self._module_element(value, attr, owner, model)
            if element is not None and not _registered_later(owner, attr):
                self._report(attr, value, element)

    def _module_element(
        self, value: cst.BaseExpression, attr: str, owner: ClassModel, model: FileModel
    ) -> cst.BaseExpression | None:
        """A module constructor the container holds (or will hold), if any."""
        if isinstance(value, cst.List | cst.Tuple) and not value.elements:
            return _appended_module(self, owner, attr, model)
        candidates: list[cst.BaseExpression] = []
        if isinstance(value, cst.List | cst.Tuple):
            candidates = [e.value for e in value.elements]
        elif isinstance(value, cst.Dict):
            candidates = [
                e.value for e in value.elements if isinstance(e, cst.DictElement)
            ]
        elif isinstance(value, cst.ListComp):
            candidates = [value.elt]
        elif isinstance(value, cst.DictComp):
            candidates = [value.value]
        for candidate in candidates:
            if is_module_constructor(self.context, candidate, model):
                return candidate
        return None

    def _report(
        self, attr: str, value: cst.BaseExpression, element: cst.BaseExpression
    ) -> None:
        is_dict = isinstance(value, _DICT_LIKE)
        container = "ModuleDict" if is_dict else "ModuleList"
        hint = element.func if isinstance(element, cst.Call) else None
        func = torch_nn_expression(self.context, container, hint)
        kind = {cst.Dict: "dict", cst.DictComp: "dict", cst.Tuple: "tuple"}.get(
            type(value), "list"
        )
        message = (
            f"`self.{attr}` keeps submodules in a plain {kind}: their parameters are"
            " not registered (never trained, saved or moved by .to()); use"
            f" nn.{container}"
        )
        if func is None or (is_dict and not _string_keys(value)):
            self.report(value, message)
            return
        empty = isinstance(value, cst.List | cst.Tuple) and not value.elements
        args = [] if empty else [cst.Arg(value)]
        self.report(value, message, replacements={value: cst.Call(func, args)})


def _appended_module(
    rule: Rule, owner: ClassModel, attr: str, model: FileModel
) -> cst.BaseExpression | None:
    """The module passed to ``self.<attr>.append(...)`` / ``.extend([...])``, if any."""
    for name, method in owner.methods.items():
        if name.startswith("forward"):
            continue
        for node in walk(method):
            if not (
                isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            ):
                continue
            if (
                node.func.attr.value not in ("append", "insert", "extend")
                or not node.args
            ):
                continue
            if self_attr(node.func.value) != attr:
                continue
            value = node.args[-1].value
            if isinstance(value, cst.List | cst.Tuple):
                values = [e.value for e in value.elements]
            else:
                values = [value]
            for element in values:
                if is_module_constructor(rule.context, element, model):
                    return element
    return None


def _registered_later(owner: ClassModel, attr: str) -> bool:
    """``self.<attr>`` handed to a call, or looped over with ``add_module``."""
    for name, method in owner.methods.items():
        if name.startswith("forward"):
            continue
        for node in walk(method):
            if isinstance(node, cst.Call) and _hands_over(node, attr):
                return True
            if isinstance(node, cst.For) and self_attr(node.iter) == attr:
                calls = [n for n in walk(node.body) if isinstance(n, cst.Call)]
                if any(called_name(call) in _REGISTERING for call in calls):
                    return True
    return False


def _hands_over(call: cst.Call, attr: str) -> bool:
    """``self.<attr>`` passed to ``call``, or one of its elements passed to a
    registering call (``self.add_module(f"stage{i}", self.<attr>[i])``)."""
    for argument in call.args:
        value = argument.value
        if self_attr(value) == attr:
            return True
        if (
            type(value) is cst.Subscript
            and self_attr(value.value) == attr
            and called_name(call) in _REGISTERING
        ):
            return True
    return False


def _string_keys(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.DictComp):
        return isinstance(value.key, cst.FormattedString)
    if not isinstance(value, cst.Dict):
        return False
    return all(
        isinstance(e, cst.DictElement) and isinstance(e.key, _STRING)
        for e in value.elements
    )


def _may_hold_modules(node: ast.ClassDef) -> bool:
    """The screen: a method other than ``forward*`` assigns ``self.<attr>`` a list,
    tuple or dict display (or comprehension) holding a call that may build a module,
    or an empty list or tuple that such a call is appended to: the rule judges no
    other value."""
    for method in methods(node):
        if method.name.startswith("forward"):
            continue
        for _, value in attribute_assignments(method):
            if any(map(_may_build_a_module, _elements(value))) or (
                isinstance(value, ast.List | ast.Tuple)
                and not value.elts
                and _fills_a_container(node)
            ):
                return True
    return False


def _elements(value: ast.expr) -> list[ast.expr]:
    """What a container display holds (a comprehension: its element)."""
    if isinstance(value, ast.List | ast.Tuple):
        return value.elts
    if isinstance(value, ast.Dict):
        return value.values
    if isinstance(value, ast.ListComp):
        return [value.elt]
    return [value.value] if isinstance(value, ast.DictComp) else []


def _may_build_a_module(element: ast.expr) -> bool:
    """A call of a capitalised name: torch.nn's modules are, and so is every class
    of a file where screens are asked (``dict(...)`` builds no module there)."""
    if not isinstance(element, ast.Call):
        return False
    name = call_name(element)
    return name is not None and name.lstrip("_")[:1].isupper()


def _fills_a_container(node: ast.ClassDef) -> bool:
    """``<x>.append(...)``, ``.insert`` or ``.extend`` of a call that may build a
    module (or of a list or tuple holding one)."""
    for call in calls(node):
        if not (
            isinstance(call.func, ast.Attribute)
            and call.func.attr in ("append", "insert", "extend")
            and call.args
        ):
            continue
        value = call.args[-1]
        values = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
        if any(map(_may_build_a_module, values)):
            return True
    return False
