"""Graph-mode test helpers: exec an inline example model under a fixed file name;
import the bundled examples' model factories."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nnlint.fx.locations import register_source

EXAMPLE_FILE = "example.py"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load_example(source: str) -> types.ModuleType:
    """Exec ``source`` as module ``nnlint_example`` whose file is ``example.py`` (so
    stack traces, ``inspect`` and ``linecache`` all see the example's lines)."""
    register_source(EXAMPLE_FILE, source)
    module = types.ModuleType("nnlint_example")
    module.__file__ = EXAMPLE_FILE
    sys.modules["nnlint_example"] = module
    exec(compile(source, EXAMPLE_FILE, "exec"), module.__dict__)
    return module


@pytest.fixture
def example() -> Iterator[Callable[[str], Any]]:
    yield load_example
    sys.modules.pop("nnlint_example", None)


@pytest.fixture(scope="module")
def factories() -> Iterator[ModuleType]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import nnhealth_examples.factories as module

        yield module
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in [n for n in sys.modules if n.startswith("nnhealth_examples")]:
            del sys.modules[name]
