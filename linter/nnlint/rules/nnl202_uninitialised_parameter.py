"""NNL202: a parameter created from uninitialised memory and never initialised."""

from __future__ import annotations

import re
from collections.abc import Iterator

import libcst as cst

from nnlint.analysis.class_bases import bases_in_file
from nnlint.analysis.cst_syntax import called_name, enclosing
from nnlint.analysis.initialisation import (
    InitialisationEvidence,
    construction_methods,
    init_like,
    reaches_an_attribute,
)
from nnlint.analysis.method_syntax import self_attr, self_name
from nnlint.analysis.module_model import ClassModel, file_model
from nnlint.analysis.names import dotted_name
from nnlint.analysis.walk import walk
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.rules.needs import Needs, any_word

_UNINITIALISED = frozenset(
    ["torch.empty", "torch.empty_like", "torch.Tensor"]
    + [f"torch.{kind}Tensor" for kind in ("Float", "Double", "Half", "BFloat16")]
    + [f"torch.cuda.{kind}Tensor" for kind in ("Float", "Double", "Half", "BFloat16")]
)
_SPELLINGS = frozenset(q.rpartition(".")[2] for q in _UNINITIALISED)
_DATA = (cst.List, cst.Tuple, cst.ListComp, cst.SimpleString)
_STRINGS = (cst.SimpleString, cst.ConcatenatedString)
# A lone argument of ``torch.Tensor(...)`` that is surely a size, not data to copy.
_SIZE_LIKE = (cst.Integer, cst.BinaryOperation)
# Whatever Python allows between two tokens: spaces, newlines, continuations, comments.
_GAP = r"(?:[\s\\]|#[^\n]*+)*+"
# Where an expression starts, extra opening parentheses may come too: ``((x))``.
_OPEN = r"(?:[\s\\(]|#[^\n]*+)*+"
# ``from torch.nn import Parameter as P``, ``from torch import empty as E``, ...
# ("FloatTensor as" ends in "Tensor as").
_RENAMED = re.compile(r"(?:Parameter|empty|empty_like|Tensor)[ \t]+as[ \t]")
_CREATED = re.compile(
    rf"\.{_GAP}(\w+){_GAP}(?::[^=\n]*)?={_OPEN}(?:\w+{_GAP}\.{_GAP})*Parameter{_GAP}\("
    rf"|register_parameter{_GAP}\({_OPEN}(?:name{_GAP}={_OPEN})?[rbuRBU]*['\"]([^'\"]+)"
)


def _evidence_pattern(hit: str) -> re.Pattern[str] | None:
    """Statements that may initialise a parameter created in ``hit``: those naming it,
    and loops over ``parameters()`` (None, i.e. all, when ``Parameter`` or a
    constructor is imported under another name: the names cannot be read off)."""
    if _RENAMED.search(hit):
        return None
    names = {first or second for first, second in _CREATED.findall(hit)}
    return re.compile(any_word(names | {"parameters", "named_parameters"}))


class UninitialisedParameter(Rule):
    """## What it does
    Finds parameters created from uninitialised memory,
    `nn.Parameter(torch.empty(...))`, `nn.Parameter(torch.Tensor(n, m))` or
    `nn.Parameter(torch.FloatTensor(n, m))` (also through `register_parameter`), that
    nothing in the file initialises. `torch.Tensor(x)` with one name as argument may
    copy data (`x` a tensor or list) rather than allocate `x` elements, so only an
    integer or arithmetic lone argument counts as a size.

    Anything in the file that could initialise the attribute counts, wherever it is and
    whatever object it is reached through (so `_init_weights(self, module)` applied with
    `self.apply(...)` or timm's `named_apply` counts, as does `reset_parameters` or any
    method called from `__init__`): the attribute passed to a function whose name ends
    in `_` or mentions `init` (`nn.init.normal_(self.w)`, timm's
    `trunc_normal_(self.pos_embed)`); the attribute passed to *any* call inside
    `__init__`, a method `__init__` calls (directly or through another), or a function
    whose name mentions `init` or `reset` (`reset_parameters`, `_init_weights`), which
    covers library helpers without a telling name
    (`glorot(self.weight)`, `zeros(self.bias)`, `uniform(fan_in, self.att)`,
    `kaiming_uniform(self.w, fan, a=...)`), wherever they are imported from and whether
    or not `__init__` calls the method (PyTorch modules call `reset_parameters` by
    convention); an in-place method on it (`.uniform_()`, `.data.copy_(...)`,
    `.fill_(...)`), an assignment to it, its `.data` or an element of it, or its name as
    a string (`getattr(m, "w")`). A view of the attribute counts as the attribute
    (`init.orthogonal_(self.w.view(-1, d))` fills `w`). A file that initialises
    parameters in a loop over `.parameters()`/`.named_parameters()` is not checked,
    nor is a class with a base
    class from another file (timm's DeiT creates `pos_embed` and lets
    `VisionTransformer.init_weights` initialise it), nor a class holding checkpoint
    storage: a parameter created with `requires_grad=False` or an integer / 8-bit dtype
    marks a quantised or frozen layer whose values are loaded.

    ## Why is this bad?
    `torch.empty` returns whatever the allocator had: often zeros, sometimes huge
    values, NaN or Inf, and different from run to run. Training starts from an
    arbitrary, unreproducible point and may diverge at the first step.

    ## Example
    ```python
    self.weight = nn.Parameter(torch.empty(d_out, d_in))
    ```

    ## Use instead
    ```python
    self.weight = nn.Parameter(torch.empty(d_out, d_in))
    nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
    ```

    ## Fix safety
    There is no automatic fix: choose the initialisation for the layer.

    ## References
    - [torch.empty](https://pytorch.org/docs/stable/generated/torch.empty.html)
    - [torch.nn.init](https://pytorch.org/docs/stable/nn.init.html)
    """

    CODE = "NNL202"
    NAME = "uninitialised-parameter"
    MESSAGE = "parameter created from uninitialised memory and never initialised"
    SEVERITY = "error"
    # The pattern: where a parameter is created from an uninitialised constructor (or
    # where one of those names, or ``Parameter``, is imported under another name).
    # "Nothing initialises it": every statement naming a created parameter is read
    # (the evidence). Not scope "modules": a renamed import must stay a hit.
    NEEDS = Needs(
        ("Tensor(", "empty"),
        pattern=re.compile(
            rf"Parameter{_GAP}\({_OPEN}(?:data{_GAP}={_OPEN})?(?:\w+{_GAP}\.{_GAP})*"
            rf"(?:empty|empty_like|\w*Tensor){_GAP}\("
            rf"|{_RENAMED.pattern}"
        ),
        evidence=_evidence_pattern,
    )
    VALID = [
        # reset_parameters called from __init__ (the torch.nn.Linear pattern).
        "import math\n"
        "import torch\n"
        "from torch import nn\n"
        "class MyLinear(nn.Module):\n"
        "    def __init__(self, d_in, d_out):\n"
        "        super().__init__()\n"
        "        self.weight = nn.Parameter(torch.empty(d_out, d_in))\n"
        "        self.bias = nn.Parameter(torch.Tensor(d_out))\n"
        "        self.reset_parameters()\n"
        "    def reset_parameters(self):\n"
        "        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))\n"
        "        self.bias.data.uniform_(-0.1, 0.1)\n",
        # timm: trunc_normal_ in a method, _init_weights applied by name.
        "import torch\n"
        "import torch.nn as nn\n"
        "class ViT(nn.Module):\n"
        "    def __init__(self, n, d):\n"
        "        super().__init__()\n"
        "        self.pos_embed = nn.Parameter(torch.empty(1, n, d))\n"
        "        self.cls_token = nn.Parameter(torch.empty(1, 1, d))\n"
        "        self.apply(_init_weights)\n"
        "        self.init_weights()\n"
        "    def init_weights(self):\n"
        "        trunc_normal_(self.pos_embed, std=0.02)\n"
        "def _init_weights(module):\n"
        "    if isinstance(module, ViT):\n"
        "        module.cls_token.data.normal_(std=1e-6)\n",
        # transformers: _init_weights of the pretrained-model class.
        "import torch\n"
        "from torch import nn\n"
        "class LayerScale(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.lambda1 = nn.Parameter(torch.empty(d))\n"
        "class PreTrained(nn.Module):\n"
        "    def _init_weights(self, module):\n"
        "        if isinstance(module, LayerScale):\n"
        "            module.lambda1.data.fill_(1e-5)\n",
        # Graph-library style: reset_parameters (not even called here) initialises
        # through helpers whose names say nothing, imported from another module.
        "import torch\n"
        "from torch import nn\n"
        "from .inits import glorot, zeros, uniform\n"
        "from somelib.init import kaiming_uniform\n"
        "class GraphConv(nn.Module):\n"
        "    def __init__(self, d_in, d_out):\n"
        "        super().__init__()\n"
        "        self.weight = nn.Parameter(torch.empty(d_in, d_out))\n"
        "        self.bias = nn.Parameter(torch.Tensor(d_out))\n"
        "        self.att = nn.Parameter(torch.empty(1, d_out))\n"
        "        self.root = nn.Parameter(torch.empty(d_out, d_in))\n"
        "    def reset_parameters(self):\n"
        "        glorot(self.weight)\n"
        "        zeros(self.bias)\n"
        "        uniform(self.weight.size(0), self.att)\n"
        "        kaiming_uniform(self.root, fan=self.root.size(1), a=5 ** 0.5)\n",
        # A construction helper that __init__ calls (its name says nothing) fills
        # the weights with a graph library's helpers; a stacked weight is filled
        # through a view of it.
        "import torch\n"
        "from torch import nn\n"
        "from graphlib.inits import glorot, zeros\n"
        "class GatedGraphCell(nn.Module):\n"
        "    def __init__(self, d_in, d_out, n):\n"
        "        super().__init__()\n"
        "        self._build(d_in, d_out, n)\n"
        "        self._fill()\n"
        "    def _build(self, d_in, d_out, n):\n"
        "        self.w_gate = nn.Parameter(torch.Tensor(d_in, d_out))\n"
        "        self.b_gate = nn.Parameter(torch.Tensor(1, d_out))\n"
        "        self.stack = nn.Parameter(torch.empty(n, d_in, d_out))\n"
        "    def _fill(self):\n"
        "        glorot(self.w_gate)\n"
        "        zeros(self.b_gate)\n"
        "        nn.init.orthogonal_(self.stack.view(-1, self.stack.size(-1)))\n",
        # Built from data, initialised in a chain, or initialised generically.
        "import torch\n"
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, n):\n"
        "        super().__init__()\n"
        "        self.a = nn.Parameter(torch.Tensor([1.0, 2.0]))\n"
        "        self.b = nn.Parameter(torch.empty(n).uniform_(-1, 1))\n"
        "        self.c = nn.Parameter(torch.empty(n, n))\n"
        "        for p in self.parameters():\n"
        "            nn.init.normal_(p)\n",
    ]
    INVALID = [
        Invalid(
            # A buffer of the same name in another class initialises nothing here.
            "import torch\n"
            "from torch import nn\n"
            "class AudioEncoder(nn.Module):\n"
            "    def __init__(self, n, d):\n"
            "        super().__init__()\n"
            "        self.register_buffer('positional_embedding', torch.zeros(n, d))\n"
            "class TextDecoder(nn.Module):\n"
            "    def __init__(self, n, d):\n"
            "        super().__init__()\n"
            "        self.positional_embedding = nn.Parameter(torch.empty(n, d))\n"
            "    def forward(self, x):\n"
            "        return x + self.positional_embedding\n",
            line=10,
            column=50,
        ),
        Invalid(
            "import torch\n"
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class MyLinear(nn.Module):\n"
            "    def __init__(self, d_in, d_out):\n"
            "        super().__init__()\n"
            "        self.weight = nn.Parameter(torch.Tensor(d_out, d_in))\n"
            "    def forward(self, x):\n"
            "        return F.linear(x, self.weight)\n",
            line=7,
            column=36,
        ),
        Invalid(
            # Handed to a helper only in forward: that uses it, never initialises it.
            "import torch\n"
            "from torch import nn\n"
            "from .ops import propagate\n"
            "class Conv(nn.Module):\n"
            "    def __init__(self, d):\n"
            "        super().__init__()\n"
            "        self.weight = nn.Parameter(torch.empty(d, d))\n"
            "    def forward(self, x, edges):\n"
            "        return propagate(edges, x @ self.weight)\n",
            line=7,
            column=36,
        ),
        Invalid(
            "from torch import empty, nn\n"
            "class Scale(nn.Module):\n"
            "    def __init__(self, dim):\n"
            "        super().__init__()\n"
            "        self.gamma = nn.Parameter(empty(dim))\n"
            "    def forward(self, x):\n"
            "        return x * self.gamma\n",
            line=5,
            column=35,
        ),
        Invalid(
            "import torch\n"
            "import torch.nn as tnn\n"
            "class Net(tnn.Module):\n"
            "    def __init__(self, n):\n"
            "        super().__init__()\n"
            "        self.register_parameter(\n"
            "            'o', tnn.Parameter(torch.FloatTensor(2 * n))\n"
            "        )\n",
            line=7,
            column=32,
        ),
        Invalid(
            "import torch\n"
            "from torch.nn import Module, Parameter, init\n"
            "class Net(Module):\n"
            "    def __init__(self, n):\n"
            "        super().__init__()\n"
            "        self.u = Parameter(torch.empty(n, n))\n"
            "        self.v = Parameter(torch.empty(n, n))\n"
            "        init.orthogonal_(self.u)\n",
            line=7,
            column=28,
        ),
        Invalid(
            # Handed to a call only in a method that __init__ never calls.
            "import torch\n"
            "from torch import nn\n"
            "from .logs import record\n"
            "class Cell(nn.Module):\n"
            "    def __init__(self, d):\n"
            "        super().__init__()\n"
            "        self.w = nn.Parameter(torch.Tensor(d, d))\n"
            "        self._name()\n"
            "    def _name(self):\n"
            "        self.label = 'cell'\n"
            "    def summary(self):\n"
            "        record(self.w)\n",
            line=7,
            column=31,
        ),
    ]

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        self._evidence = InitialisationEvidence(
            lambda value: self._created(value) is not None
        )
        # Functions calling something spelled like an uninitialised constructor
        # (found during the shared walk): the only ones analysed.
        self._hot: set[cst.CSTNode] = set()
        self._construction: dict[cst.ClassDef, set[cst.FunctionDef]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        function = enclosing(self.context.ancestors, cst.FunctionDef)
        self._evidence.call(node, self._constructing(node, function))
        if called_name(node) in _SPELLINGS:
            if function is not None:
                self._hot.add(function)

    def _constructing(self, node: cst.Call, function: cst.CSTNode | None) -> bool:
        """Whether ``node`` runs while the object is built: in a function named like
        an initialiser, or in a method that ``__init__`` calls (``_set_parameters``)."""
        if type(function) is not cst.FunctionDef:
            return False
        if init_like(function.name.value):
            return True
        if not reaches_an_attribute(node):
            return False  # nothing it is given could be a parameter: skip the search
        owner = enclosing(self.context.ancestors, cst.ClassDef)
        if type(owner) is not cst.ClassDef:
            return False
        if owner not in self._construction:
            self._construction[owner] = construction_methods(owner)
        return function in self._construction[owner]

    def leave_Module(self, original_node: cst.Module) -> None:
        if self._hot:
            for owner in self.context.get(file_model).classes.values():
                if owner.is_module:
                    self._check_class(owner)

    def _check_class(self, owner: ClassModel) -> None:
        if not bases_in_file(self.context, owner):
            return  # a base class in another file may initialise it (timm's DeiT)
        found = [
            item
            for name, method in owner.methods.items()
            if not name.startswith("forward") and method in self._hot
            for item in self._uninitialised(method)
        ]
        if any(_loaded_storage(created, parameter) for _, created, parameter in found):
            return  # quantised / frozen storage, filled from a checkpoint
        for attr, created, _ in found:
            if attr not in self._evidence:
                self.report(
                    created,
                    f"`self.{attr}` is created from uninitialised memory and"
                    " nothing in this file initialises it",
                )

    def _uninitialised(
        self, method: cst.FunctionDef
    ) -> Iterator[tuple[str, cst.Call, cst.Call]]:
        """``(attr, torch.empty(...) call, nn.Parameter(...) call)`` in ``method``."""
        me = self_name(method)
        for node in walk(method):
            if isinstance(node, cst.Assign) and len(node.targets) == 1:
                attr = self_attr(node.targets[0].target, me)
                created = self._created(node.value)
                if attr is not None and created is not None:
                    yield attr, created, node.value  # type: ignore[misc]
            elif (
                isinstance(node, cst.Call) and called_name(node) == "register_parameter"
            ):
                args = [a.value for a in node.args]
                if len(args) == 2 and isinstance(args[0], cst.SimpleString):
                    created = self._created(args[1])
                    if created is not None:
                        name = args[0].evaluated_value
                        yield name, created, args[1]  # type: ignore[misc]

    def _created(self, value: cst.BaseExpression) -> cst.Call | None:
        """The uninitialised tensor inside ``nn.Parameter(...)``, if it is one."""
        if not (
            isinstance(value, cst.Call)
            and self.qualified_name(value.func) == "torch.nn.Parameter"
            and value.args
        ):
            return None
        inner = value.args[0].value
        if not isinstance(inner, cst.Call) or not inner.args:
            return None
        kind = self.qualified_name(inner.func)
        if kind not in _UNINITIALISED:
            return None
        sizes = [a.value for a in inner.args if a.keyword is None]
        if any(isinstance(s, cst.Integer) and s.value == "0" for s in sizes):
            return None  # an empty placeholder
        if kind in ("torch.empty", "torch.empty_like"):
            return inner  # sizes, also as a tuple: ``torch.empty((n, m))``
        if any(isinstance(s, _DATA) for s in sizes):
            return None  # ``torch.Tensor([1.0, 2.0])`` is built from data
        if (
            len(inner.args) == 1
            and not inner.args[0].star
            and not isinstance(sizes[0] if sizes else None, _SIZE_LIKE)
        ):
            return None  # ``torch.Tensor(values)`` copies data; only a size is empty
        return inner

    # Evidence of initialisation, gathered during the shared walk.
    def visit_Assign(self, node: cst.Assign) -> None:
        self._evidence.assign(node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._evidence.assign(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._evidence.assign(node)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        self._evidence.string(node)

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> None:
        self._evidence.string(node)

    def visit_For(self, node: cst.For) -> None:
        self._evidence.loop(node)


def _loaded_storage(created: cst.Call, parameter: cst.Call) -> bool:
    """A frozen parameter or one of an integer / 8-bit dtype: storage that a
    checkpoint fills (quantised inference layers), never trained from its init."""
    for argument in parameter.args:
        keyword = argument.keyword.value if argument.keyword else None
        if keyword == "requires_grad" and not (
            isinstance(argument.value, cst.Name) and argument.value.value == "True"
        ):
            return True
    for argument in created.args:
        if argument.keyword is not None and argument.keyword.value == "dtype":
            spelled = (dotted_name(argument.value) or "").lower()
            if any(part in spelled for part in ("int", "fp8", "float8", "fp4")):
                return True
    return False
