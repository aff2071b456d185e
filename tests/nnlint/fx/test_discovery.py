"""Model discovery: configured factories (every return convention, inputs, shapes, loss)
and ``example_input_array`` classes, run in-process on modules written to tmp_path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from nnlint.fx import discovery  # noqa: E402

MODELS = """\
import torch
from torch import nn


class WithExample(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = nn.Linear(8, width)
        self.example_input_array = torch.zeros(2, 8)

    def forward(self, x):
        return self.fc(x)


class NeedsArguments(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.example_input_array = torch.zeros(2, width)


class NoExample(nn.Module):
    def forward(self, x):
        return x


class Inherits(WithExample):
    def forward(self, x):
        return super().forward(x).relu()


class UnsetExample(nn.Module):
    example_input_array = None  # Lightning's default: not a graph-mode model


def bare():
    return WithExample()


def pair():
    return nn.Linear(8, 2), torch.zeros(3, 8)


def triple():
    batch = (torch.zeros(5, 8), torch.zeros(5, dtype=torch.long))
    return nn.Linear(8, 2), batch, nn.CrossEntropyLoss()


def as_dict():
    return {"model": nn.Linear(8, 2), "batch": (torch.zeros(6, 8), None)}


def wrong():
    return 42


def inputs():
    return (torch.ones(7, 8),)
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "discpkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "models.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root / "models.py"
    for name in [n for n in sys.modules if n.startswith("discpkg")]:
        del sys.modules[name]


def _build(entry: object, fx: dict[str, object] | None = None) -> discovery.Built:
    return discovery.configured_candidate(entry, fx or {}).build()


def test_classes_with_example_input_array(package: Path) -> None:
    module = discovery.import_file(str(package))
    assert module.__name__ == "discpkg.models"
    candidates = list(discovery.file_candidates(module))
    assert [c.label for c in candidates] == ["WithExample", "Inherits", "UnsetExample"]
    built = candidates[0].build()
    assert built is not None
    assert isinstance(built.model, nn.Module)
    assert [tuple(x.shape) for x in built.inputs] == [(2, 8)]
    assert built.origin == (str(package), 5)
    inherited = candidates[1].build()
    assert inherited is not None
    assert inherited.origin[1] == 26
    assert candidates[2].build() is None


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize(
    ("entry", "shape", "loss"),
    [
        ("discpkg.models:bare", (2, 8), None),  # falls back to example_input_array
        ("discpkg.models:pair", (3, 8), None),
        ("discpkg.models:triple", (5, 8), "CrossEntropyLoss"),
        ("discpkg.models:as_dict", (6, 8), None),
        (
            {"factory": "discpkg.models:pair", "inputs": "discpkg.models:inputs"},
            (7, 8),
            None,
        ),
        ({"factory": "discpkg.models:WithExample", "shapes": [[9, 8]]}, (9, 8), None),
    ],
)
def test_factory_conventions(
    entry: object, shape: tuple[int, ...], loss: str | None
) -> None:
    built = _build(entry)
    assert tuple(built.inputs[0].shape) == shape
    assert (type(built.loss).__name__ if built.loss is not None else None) == loss


@pytest.mark.usefixtures("package")
def test_loss_from_entry_overrides_global_and_factory() -> None:
    entry = {"factory": "discpkg.models:triple", "loss": "torch.nn.NLLLoss"}
    assert _build(entry, {"loss": "torch.nn.BCELoss"}).loss == "torch.nn.NLLLoss"
    assert _build("discpkg.models:pair", {"loss": "torch.nn.BCELoss"}).loss == (
        "torch.nn.BCELoss"
    )


def test_shapes_are_meta_tensors_with_dtypes() -> None:
    inputs = discovery.shapes_to_inputs([[2, 3], {"shape": [4], "dtype": "int64"}])
    assert [x.device.type for x in inputs] == ["meta", "meta"]
    assert [x.dtype for x in inputs] == [torch.float32, torch.int64]


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"inputs": "x"}, "needs a 'factory'"),
        ({"factory": "discpkg.models:pair", "colour": 1}, "unknown key"),
        ("discpkg.models:nothing", "has no attribute"),
        ("not an import path", "not an import path"),
        ({"factory": "discpkg.models:pair", "shapes": [[2, "x"]]}, "bad shape"),
        (
            {
                "factory": "discpkg.models:pair",
                "shapes": [{"shape": [2], "dtype": "f8"}],
            },
            "bad dtype",
        ),
        ("discpkg.models:wrong", "returned int"),
        ("discpkg.models:NoExample", "no example inputs"),
    ],
)
def test_bad_entries_raise_build_error(entry: object, match: str) -> None:
    with pytest.raises(discovery.BuildError, match=match):
        _build(entry)
