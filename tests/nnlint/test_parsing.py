"""parse_module: libcst's tree without libcst's node validation while parsing."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.engine import parsing
from nnlint.engine.parsing import parse_module

SOURCE = """\
import torch.nn as nn

class Block(nn.Module):
    def forward(self, x):  # comment
        return (x + self.f(x)) * 2
"""


def test_the_tree_equals_libcsts_own() -> None:
    tree = parse_module(SOURCE)
    assert tree.deep_equals(cst.parse_module(SOURCE))
    assert tree.code == SOURCE


def test_validation_is_skipped_on_this_libcst() -> None:
    # The speed-up depends on libcst's __post_init__ doing only validation; a libcst
    # release that changes that falls back to ordinary parsing (and fails this test,
    # so the lost speed is noticed).
    assert parsing._SKIPPABLE


def _unbalanced_parentheses() -> cst.Name:
    return cst.Name("x", lpar=[cst.LeftParen()])


def test_nodes_built_after_a_parse_are_validated_again() -> None:
    parse_module(SOURCE)
    with pytest.raises(cst.CSTValidationError):
        _unbalanced_parentheses()


def test_validation_comes_back_when_the_parser_raises() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def broken(:\n")
    with pytest.raises(cst.CSTValidationError):
        _unbalanced_parentheses()
