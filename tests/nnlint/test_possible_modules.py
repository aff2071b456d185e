"""possible_modules: which class statements could define an nn.Module, from text."""

from __future__ import annotations

import pytest

from nnlint.engine.possible_modules import module_statements, torch_bindings
from nnlint.engine.statement_scan import statement_starts


def _possible(source: str) -> list[str]:
    """The first line of every statement that may define a module class."""
    starts = statement_starts(source)
    ends = [*starts[1:], len(source)]
    found = module_statements(source, starts, ends)
    return [source[starts[i] :].split("\n")[0] for i in sorted(found)]


@pytest.mark.parametrize(
    ("imports", "header"),
    [
        ("import torch.nn as nn", "class A(nn.Module):"),
        ("from torch import nn", "class A(nn.Linear):"),
        ("import torch", "class A(torch .nn. Module):"),
        ("from torch.nn import Module as M", "class A(M):"),
        (
            "from torch.nn import (\n    Conv2d,  # a comment\n    Module,\n)",
            "class A(Module):",
        ),
        ("from torch import nn as tnn", "class A(\n    tnn.Module,  # base\n):"),
        ("from torch import *", "class A(Anything):"),
        ("from timm import Thing", "class A(Thing):\n    def forward(self, x):"),
        ("class Base:\n    pass", "class A(Base):"),
        ("import torch.nn as nn", "class A[T](nn.Module):"),
    ],
)
def test_a_class_that_may_be_a_module_is_kept(imports: str, header: str) -> None:
    source = f"{imports}\n{header}\n    pass\n"
    assert header.split("\n")[0] in _possible(source)


@pytest.mark.parametrize(
    ("imports", "header"),
    [
        ("import torch.nn as nn", "class Config:"),
        ("import torch.nn as nn", "class Config():"),
        ("import torch", "class Adam(torch.optim.Optimizer):"),
        ("from torch.utils.data import Dataset", "class Images(Dataset):"),
        ("from timm import Thing", "class A(Thing):\n    def step(self):"),
    ],
)
def test_a_class_that_cannot_be_a_module_is_dropped(imports: str, header: str) -> None:
    source = f"{imports}\n{header}\n    pass\n"
    assert header.split("\n")[0] not in _possible(source)


def test_statements_that_are_not_top_level_classes_are_kept() -> None:
    source = "import torch\ndef build():\n    class Local:\n        pass\nx = 1\n"
    assert _possible(source) == ["import torch", "def build():", "x = 1"]


def test_bindings_name_what_each_import_binds() -> None:
    source = (
        "import torch, numpy as np\n"
        "import torch.nn.functional as F\n"
        "from torch.nn import Linear as Dense, Module\n"
        "from torchvision.ops import nms\n"
    )
    assert torch_bindings(source) == {
        "torch": "torch",
        "F": "torch.nn.functional",
        "Dense": "torch.nn.Linear",
        "Module": "torch.nn.Module",
        "nms": "torchvision.ops.nms",
    }
