"""Structural screens of NNL301-NNL305: what each keeps and what it drops.

Keeping is also proved by the pruned-versus-whole comparisons (test_needs.py,
test_prefilter.py, bench/prefilter_equivalence.py); these tests pin down that each
screen drops the shapes its rule provably never reports on, so the screen is worth
its cost.
"""

from __future__ import annotations

import ast
import gc

import pytest

from nnlint.engine.prefilter import select
from nnlint.engine.screen_gates import calls_a_renamed_torch_name, screens_apply
from nnlint.rules import Rule
from nnlint.rules.nnl301_residual_width_mismatch import ResidualWidthMismatch
from nnlint.rules.nnl302_self_add_skip import SelfAddSkip
from nnlint.rules.nnl303_unregistered_submodules import UnregisteredSubmodules
from nnlint.rules.nnl304_discarded_module_output import DiscardedModuleOutput
from nnlint.rules.nnl305_inplace_activation_on_skip import InplaceActivationOnSkip
from nnlint.rules.screens import (
    attribute_assignments,
    call_name,
    forward_methods,
    methods,
    nodes,
    passes_true,
    summary,
)


def _module(init: str, forward: str) -> str:
    return (
        "class Block(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        f"{init}"
        "    def forward(self, x):\n"
        f"{forward}"
    )


def _kept(rule: type[Rule], source: str) -> bool:
    assert rule.NEEDS is not None
    assert rule.NEEDS.screen is not None
    return any(map(rule.NEEDS.screen, ast.parse(source).body))


CONV = "        self.conv = nn.Conv2d(c, c, 3)\n"
KEPT = [
    (ResidualWidthMismatch, CONV, "        return x + self.conv(x)\n"),
    (ResidualWidthMismatch, CONV, "        with ctx:\n            x += self.conv(x)\n"),
    (ResidualWidthMismatch, CONV, "        return x @ self.w + x\n"),
    (SelfAddSkip, "", "        h = self.body(x)\n        return (h) + h\n"),
    (SelfAddSkip, "", "        if x:\n            x += x\n        return x\n"),
    (UnregisteredSubmodules, "        self.blocks = [nn.Linear(c, c)]\n", ""),
    (UnregisteredSubmodules, "        self.heads = {k: Head(c) for k in ks}\n", ""),
    (
        UnregisteredSubmodules,
        "        self.blocks = []\n        self.blocks.append(Block(c))\n",
        "",
    ),
    (DiscardedModuleOutput, CONV, "        self.conv(x)\n        return x\n"),
    (DiscardedModuleOutput, "", "        relu(x)\n        return x\n"),
    (DiscardedModuleOutput, "", "        x.view(-1)\n        return x\n"),
    (DiscardedModuleOutput, "", "        h = self.f(x)\n        h.view(-1)\n"),
    (DiscardedModuleOutput, "", "        F.dropout(x)\n        return x\n"),
    (InplaceActivationOnSkip, "        self.act = nn.ReLU(True)\n", ""),
    (InplaceActivationOnSkip, "", "        return F.relu(x, inplace=True) + x\n"),
    (InplaceActivationOnSkip, "", "        skip = x\n        x += 1\n"),
    (InplaceActivationOnSkip, "", "        y = x.relu_()\n        x.mul_(2)\n"),
    (InplaceActivationOnSkip, "", "        a = b = self.conv(x)\n        a += 1\n"),
]
DROPPED = [
    # Adds in a branch, of an attribute, or with no layer the class builds.
    (
        ResidualWidthMismatch,
        CONV,
        "        if x:\n            return x + self.conv(x)\n",
    ),
    (ResidualWidthMismatch, CONV, "        return x + self.pos if x else x\n"),
    (ResidualWidthMismatch, "        self.w = 4\n", "        return x + self.f(x)\n"),
    (SelfAddSkip, "", "        return x + self.body(x)\n"),
    (SelfAddSkip, "        self.x = x + x\n", "        return x\n"),
    (UnregisteredSubmodules, "        self.sizes = [c, 2 * c]\n", ""),
    (UnregisteredSubmodules, "        self.blocks = []\n", ""),
    (UnregisteredSubmodules, "", "        self.cache = [self.f(x)]\n"),
    (UnregisteredSubmodules, "        self.info = [dict(c=c)]\n", ""),
    (UnregisteredSubmodules, "        self.blocks = [conv_bn(c)]\n", ""),
    (
        UnregisteredSubmodules,
        "        self.info = []\n        self.info.append(dict(c=c))\n",
        "",
    ),
    (DiscardedModuleOutput, "", "        feats = []\n        feats.append(x)\n"),
    (DiscardedModuleOutput, "", "        self.conv(x)\n        return x\n"),
    (DiscardedModuleOutput, CONV, "        x.add_(1)\n        _assert(x)\n"),
    (DiscardedModuleOutput, CONV, "        self.blocks[0](x)\n        return x\n"),
    (InplaceActivationOnSkip, "        self.fc = nn.Linear(c, c, bias=True)\n", ""),
    (InplaceActivationOnSkip, "", "        x += 1\n        return self.f(x)\n"),
    (
        InplaceActivationOnSkip,
        "",
        "        skip = x\n        return self.f(x) + skip\n",
    ),
]


@pytest.mark.parametrize(("rule", "init", "forward"), KEPT)
def test_a_screen_keeps_every_shape_its_rule_may_report(
    rule: type[Rule], init: str, forward: str
) -> None:
    assert _kept(rule, _module(init, forward or "        return x\n"))


@pytest.mark.parametrize(("rule", "init", "forward"), DROPPED)
def test_a_screen_drops_shapes_its_rule_never_reports(
    rule: type[Rule], init: str, forward: str
) -> None:
    assert not _kept(rule, _module(init, forward or "        return x\n"))


def test_a_class_nested_in_a_function_is_screened_too() -> None:
    source = "def build():\n" + "".join(
        "    " + line + "\n"
        for line in _module("", "        h = f(x)\n        return h + h\n").split("\n")
    )
    assert _kept(SelfAddSkip, source)


RENAMED = "from torch import relu_ as act\n"


def test_screens_are_not_asked_where_a_renamed_torch_function_is_called() -> None:
    # ``act`` is torch.relu_, which the NNL305 screen cannot tell from its name.
    body = _module("", "        y = act(x)\n        x += 1\n        return y\n")
    source = "import torch\n" + RENAMED + body
    assert calls_a_renamed_torch_name(source)
    assert select(source, [InplaceActivationOnSkip.NEEDS])[1] == [True]  # type: ignore[list-item]
    assert select(source.replace(RENAMED, ""), [InplaceActivationOnSkip.NEEDS])[
        1  # type: ignore[list-item]
    ] == [False]


@pytest.mark.parametrize(
    ("source", "applies"),
    [
        ("import torch.nn.functional as F\nclass Net(nn.Module): ...\n", True),
        ("from timm.layers import checkpoint\nf(checkpoint=True)\n", True),
        ("class _Block(nn.Module): ...\n", True),
        ("from torch.nn import Module\nclass A(Module):\n    x = 1\n", True),
        ("def f():\n    class conv_bn(nn.Module): ...\n", False),
        ("class _block(nn.Module): ...\n", False),
        ("import torch.nn.functional as F\nF = 3\n", False),
        ("from torch import nn\ndef f(nn=None): ...\n", False),
        ("from torch.nn import (\n    functional as feats,\n)\n(feats) = []\n", False),
        ("from torch import relu_ as r\nr(x)\n", False),
    ],
)
def test_screens_are_asked_only_where_what_they_assume_holds(
    source: str, applies: bool
) -> None:
    assert screens_apply(source) is applies


@pytest.mark.parametrize(
    ("source", "renames"),
    [
        ("from torch import relu_ as r\nr(x)\n", True),
        ("from torch.nn import (\n    a,\n    b as c,\n)\nc (1)\n", True),
        ("from torch import a, \\\n    b as c\nc(1)\n", True),
        ("from torch import relu_ as r\n", False),  # never called bare
        ("from torch import nn as nn\n", False),
        ("from torch.nn import functional as F\nF.relu(x)\n", False),
        ("import torch.nn.functional as F\n", False),
        ("from torchvision import a as b\nb()\n", False),
    ],
)
def test_renamed_torch_imports_called_bare_are_found(
    source: str, renames: bool
) -> None:
    assert calls_a_renamed_torch_name(source) is renames


def test_the_helpers_read_methods_calls_and_attribute_assignments() -> None:
    tree = ast.parse(
        "class A:\n"
        "    def __init__(me):\n"
        "        me.a = me.b = nn.ReLU(True)\n"
        "        me.c: list = []\n"
        "    def forward(self, x):\n"
        "        return F.relu(x, inplace=True)\n"
        "    async def forward_features(self, x):\n"
        "        return x\n"
    )
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    assert [f.name for f in methods(node)] == [
        "__init__",
        "forward",
        "forward_features",
    ]
    assert [f.name for f in forward_methods(node)] == ["forward", "forward_features"]
    assert sorted(attr for attr, _ in attribute_assignments(node)) == ["a", "b", "c"]
    init, forward = methods(node)[:2]
    assert passes_true(init, "inplace", 1)
    assert not passes_true(init, "inplace", 0)
    assert passes_true(forward, "inplace", 0)
    call = ast.parse("layers[0](x)").body[0].value  # type: ignore[attr-defined]
    assert call_name(call) is None


def test_an_indexed_statement_is_freed_without_the_cyclic_collector() -> None:
    # The pre-filter parses and indexes thousands of statements per run; a reference
    # cycle through the index would leave each tree to the collector.
    tree = ast.parse(
        "class A(nn.Module):\n"
        "    def forward(self, x):\n"
        "        def inner(y):\n"
        "            return y + 1\n"
        "        return inner(x) + x\n"
    )
    statement = tree.body[0]
    walked = list(nodes(statement))
    assert walked[0] is statement
    assert len(walked) == len(list(ast.walk(statement)))
    assert "inner" in summary(statement).called
    del walked
    gc.collect()
    gc.disable()
    try:
        del tree, statement
        assert gc.collect() == 0
    finally:
        gc.enable()
