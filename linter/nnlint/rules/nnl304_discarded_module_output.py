"""NNL304: a module or functional op whose output is thrown away inside ``forward``."""

from __future__ import annotations

import ast

import libcst as cst

from nnlint.analysis.method_syntax import self_attr
from nnlint.analysis.module_model import ClassModel, module_class
from nnlint.analysis.tensors import PURE_METHODS, ProvableTensors
from nnlint.analysis.walk import iter_children, walk
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import (
    any_class,
    attribute_assignments,
    forward_methods,
    nodes,
)


class DiscardedModuleOutput(Rule):
    """## What it does
    Finds expression statements inside a `forward*` method of an `nn.Module` that
    compute something and drop the result:

    - a call of a submodule built from `torch.nn` in `__init__` (`self.norm(x)`),
    - a `torch.nn.functional` / `torch` function (`F.relu(h)`, `torch.tanh(h)`),
    - a tensor method that returns a new tensor (`h.relu()`, `x.view(b, -1)`) on a
      receiver that is provably a tensor: an argument of `forward`, the output of a
      `torch` function or of a `torch.nn` submodule, a tensor method's result, or a
      local only ever assigned one of those. A method of a user submodule
      (`self.ctc.softmax(h)`, which may store state) or of any other object
      (`model.reshape(shape)` on a third-party class that works in place) is not
      judged: its name says nothing about what it does.

    A submodule call in a class that mentions hooks (`register_forward_hook`, timm's
    `FeatureHooks`) is not reported either: it runs for the hooks' side effects. Nor
    is one whose submodule's state the same method reads (`self.net[-1].v`,
    `self.cell.state`; not its `weight`/`bias`): a stateful module (a spiking
    neuron's membrane potential, a memory) is run for what it stores.

    In-place operations (`x.relu_()`, `F.relu(x, inplace=True)`, functions ending in
    `_`, `out=` arguments) are not reported: they work through their side effect.
    Nor is a call of an `nn.Identity` submodule, a common "tap" for forward hooks.

    ## Why is this bad?
    PyTorch operations return new tensors; `self.norm(x)` on its own line leaves `x`
    unchanged. The layer's parameters get no gradient and the model silently runs
    without the normalisation, activation or dropout the author meant to apply.

    ## Example
    ```python
    def forward(self, x):
        h = self.fc1(x)
        F.relu(h)
        self.dropout(h)
        return self.fc2(h)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = self.dropout(h)
        return self.fc2(h)
    ```

    ## Fix safety
    There is no automatic fix: which name should receive the result is a guess.

    ## References
    - [Tensor views and in-place operations](https://pytorch.org/docs/stable/tensor_view.html)
    """

    CODE = "NNL304"
    NAME = "discarded-module-output"
    MESSAGE = "the result of this call is discarded: it has no effect on the output"
    SEVERITY = "error"
    NEEDS = Needs(
        ("forward",),
        scope="modules",
        screen=lambda statement: any_class(statement, _may_discard_a_result),
    )
    VALID = [
        "import torch.nn as nn\n"
        "import torch.nn.functional as F\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.norm = nn.LayerNorm(8)\n"
        "    def forward(self, x):\n"
        "        x = self.norm(x)\n"
        "        x.relu_()\n"
        "        F.relu(x, inplace=True)\n"
        "        return x\n",
        # Calls kept for their side effects: hooks on an Identity tap, logging, asserts.
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.tap = nn.Identity()\n"
        "        self.fc = nn.Linear(8, 8)\n"
        "    def forward(self, x):\n"
        "        self.tap(x)\n"
        "        print(x.shape)\n"
        "        self.log(x)\n"
        "        return self.fc(x)\n",
        # Outside forward it is not this rule's business.
        "import torch\n"
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 8)\n"
        "        self.fc(torch.zeros(1, 8))\n",
        # Blocks run for the features their forward hooks collect.
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.blocks = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\n"
        "        self.feature_hooks = FeatureHooks(self.blocks)\n"
        "    def forward(self, x):\n"
        "        self.blocks(x)\n"
        "        return self.feature_hooks.get_output(x.device)\n",
        # Methods named like tensor methods on objects that are not tensors: a user
        # submodule's own softmax (which stores its result), a helper object that
        # reshapes itself in place, a local built by a user function.
        "from torch import nn\n"
        "class Decoder(nn.Module):\n"
        "    def __init__(self, ctc, builder):\n"
        "        super().__init__()\n"
        "        self.ctc = ctc\n"
        "        self.builder = builder\n"
        "    def forward(self, h, shape):\n"
        "        self.ctc.softmax(h)\n"
        "        grid = self.builder.make_grid(h)\n"
        "        grid.reshape(shape)\n"
        "        return self.ctc.log_probs(h)\n",
        # A stateful module stepped T times for its state, read afterwards from the
        # module itself (spiking neurons keep their membrane potential in `.v`).
        "from torch import nn\n"
        "class Spiking(nn.Module):\n"
        "    def __init__(self, neuron):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(nn.Linear(4, 2), neuron)\n"
        "        self.mem = nn.GRUCell(4, 4)\n"
        "    def forward(self, x):\n"
        "        for _ in range(8):\n"
        "            self.net(x)\n"
        "            self.mem(x)\n"
        "        return self.net[-1].v + self.mem.state\n",
        # torch.add with out= writes its result.
        "import torch\n"
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x, buf):\n"
        "        torch.add(x, 1, out=buf)\n"
        "        return buf\n",
    ]
    INVALID = [
        Invalid(
            # Reading the dropped layer's parameters or calling its methods is not
            # reading state a forward call left behind.
            "from torch import nn\n"
            "class Tied(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.embed = nn.Linear(8, 8)\n"
            "    def forward(self, x):\n"
            "        self.embed(x)\n"
            "        return self.embed.forward(x) @ self.embed.weight\n",
            line=7,
            column=9,
        ),
        Invalid(
            "import torch.nn as nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 8)\n"
            "        self.norm = nn.LayerNorm(8)\n"
            "    def forward(self, x):\n"
            "        h = self.fc(x)\n"
            "        self.norm(h)\n"
            "        return h\n",
            line=9,
            column=9,
        ),
        Invalid(
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 8)\n"
            "    def forward(self, x):\n"
            "        h = self.fc(x)\n"
            "        if self.training:\n"
            "            F.dropout(h, 0.1)\n"
            "        return h\n",
            line=10,
            column=13,
        ),
        Invalid(
            # Provably tensors: a torch function's output kept in a local, and a
            # torch.nn layer's output.
            "import torch\n"
            "from torch import nn\n"
            "class Head(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.proj = nn.Linear(8, 8)\n"
            "    def forward(self, a, b):\n"
            "        h = torch.cat([a, b], dim=-1)\n"
            "        h.view(h.size(0), -1)\n"
            "        self.proj(h).softmax(dim=-1)\n"
            "        return h\n",
            line=9,
            column=9,
        ),
        Invalid(
            # An argument reassigned only to tensors or None is still a tensor.
            "from torch import nn\n"
            "class Cross(nn.Module):\n"
            "    def forward(self, q, mask=None):\n"
            "        mask = mask.bool() if mask is not None else None\n"
            "        if mask is not None and mask.dim() == 2:\n"
            "            mask.unsqueeze(1)\n"
            "        return q.masked_fill(mask, 0.0)\n",
            line=6,
            column=13,
        ),
        Invalid(
            "from torch import nn\n"
            "class Net(nn.Module):\n"
            "    def forward_features(self, x):\n"
            "        x.relu()\n"
            "        return x\n",
            line=4,
            column=9,
        ),
        Invalid(
            "import torch\n"
            "from torch.nn import Module, Sequential, Linear, GELU\n"
            "class Net(Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.mlp = Sequential(Linear(4, 4), GELU())\n"
            "    def forward(self, x):\n"
            "        self.mlp(x)\n"
            "        torch.sigmoid(x)\n"
            "        return x\n",
            line=8,
            column=9,
        ),
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        owner = module_class(self.context, node)
        if owner is None:
            return
        for function in owner.forward_methods():
            tensors = owner.tensors(function)
            stateful = _state_read(function, tensors.me)
            for statement in _expression_statements(function.body):
                call = statement.value
                if isinstance(call, cst.Call):
                    if self_attr(call.func, tensors.me) not in stateful:
                        self._check(call, owner, tensors)

    def _check(
        self, call: cst.Call, owner: ClassModel, tensors: ProvableTensors
    ) -> None:
        attr = self_attr(call.func, tensors.me)
        if attr is not None:
            if tensors.torch_layer(attr) and not _uses_hooks(owner):
                self.report(call, f"the output of `self.{attr}(...)` is discarded")
            return
        if any(
            a.keyword is not None and a.keyword.value in ("inplace", "out")
            for a in call.args
        ):
            return
        qualified = self.qualified_name(call.func)
        if qualified is not None:
            if _is_pure_torch_function(qualified):
                self.report(call, f"the result of `{qualified}(...)` is discarded")
            return
        if (
            isinstance(call.func, cst.Attribute)
            and call.func.attr.value in PURE_METHODS
            and tensors.is_tensor(call.func.value)
        ):
            method = call.func.attr.value
            self.report(
                call, f"the result of `.{method}()` is discarded (it is not in-place)"
            )


# Reading these from a module reads its parameters, not state a forward call left.
_PARAMETERS = frozenset({"weight", "bias"})


def _state_read(function: cst.FunctionDef, me: str | None) -> set[str]:
    """Submodules ``self.<attr>`` whose state ``function`` reads: an item
    (``self.net[-1]``) or an attribute other than a parameter or a called method
    (``self.cell.v``, not ``self.block.proj(x)``)."""
    every = list(walk(function))
    called = {id(node.func) for node in every if isinstance(node, cst.Call)}
    found = set()
    for node in every:
        if isinstance(node, cst.Subscript):
            attr = self_attr(node.value, me)
        elif (
            isinstance(node, cst.Attribute)
            and node.attr.value not in _PARAMETERS
            and id(node) not in called
        ):
            attr = self_attr(node.value, me)
        else:
            continue
        if attr is not None:
            found.add(attr)
    return found


def _uses_hooks(owner: ClassModel) -> bool:
    """Submodules run for their forward hooks (timm's ``FeatureHooks``) on purpose."""
    return any(
        isinstance(node, cst.Name) and "hook" in node.value.lower()
        for node in walk(owner.node)
    )


# The names of ``torch`` functions whose dropped result is reported.
_TORCH_RESULTS = PURE_METHODS | {"matmul", "cat", "stack", "exp"}


def _is_pure_torch_function(qualified: str) -> bool:
    head, _, last = qualified.rpartition(".")
    if last.endswith("_") or last.startswith("_"):
        return False
    if head == "torch.nn.functional":
        return True
    return head == "torch" and last in _TORCH_RESULTS


def _expression_statements(block: cst.CSTNode) -> list[cst.Expr]:
    found: list[cst.Expr] = []
    for child in iter_children(block):
        if isinstance(child, cst.SimpleStatementLine):
            found.extend(s for s in child.body if isinstance(s, cst.Expr))
        elif isinstance(child, cst.BaseCompoundStatement | cst.BaseSuite):
            if not isinstance(child, cst.FunctionDef | cst.ClassDef):
                found.extend(_expression_statements(child))
        elif isinstance(child, cst.Else | cst.ExceptHandler | cst.Finally):
            found.extend(_expression_statements(child))
    return found


def _may_discard_a_result(node: ast.ClassDef) -> bool:
    """The screen: a ``forward*`` method has an expression statement calling
    something the rule could judge (see :func:`_judged_call`)."""
    built = {
        attr
        for method in node.body
        if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef)
        and not method.name.startswith("forward")
        for attr, value in attribute_assignments(method)
        if isinstance(value, ast.Call | ast.IfExp)
    }
    for function in forward_methods(node):
        # ``self`` as the rule reads it: the first parameter after any "/".
        me = function.args.args[0].arg if function.args.args else None
        local = _assigned_names(function)
        for child in nodes(function):
            if isinstance(child, ast.Expr) and isinstance(child.value, ast.Call):
                if _judged_call(child.value.func, me, built, local):
                    return True
    return False


def _assigned_names(function: ast.AST) -> set[str]:
    """Names ``function`` assigns plainly (``feats = []``): local values, never an
    imported torch module where screens are asked."""
    return {
        target.id
        for child in nodes(function)
        if isinstance(child, ast.Assign)
        for target in child.targets
        if isinstance(target, ast.Name)
    }


def _judged_call(
    func: ast.expr, me: str | None, built: set[str], local: set[str]
) -> bool:
    """Whether a dropped call of ``func`` may be reported: ``self.<attr>`` for an
    attribute the class builds from a call; a method of a local value (``feats``)
    only when its name is one of a tensor's or torch's judged ones; any other name or
    attribute unless named like an in-place or private function (the rule leaves
    ``x.add_()``, ``_assert(...)`` and ``torch._assert(...)`` alone; a bare name is
    spelled as torch spells it where screens are asked)."""
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute):
        receiver = func.value.id if isinstance(func.value, ast.Name) else None
        if receiver is not None and receiver == me:
            return func.attr in built
        if receiver in local and func.attr not in _TORCH_RESULTS:
            return False  # ``feats.append(x)``: neither torch's nor a tensor method
        name = func.attr
    else:
        return False  # ``self.layers[0](x)``: neither a name nor a method
    return not name.startswith("_") and not name.endswith("_")
