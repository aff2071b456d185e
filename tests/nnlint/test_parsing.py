"""parse_module: libcst's tree without libcst's node validation while parsing."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from nnlint.engine import node_init, parsing
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


def test_fast_constructors_cover_the_common_nodes() -> None:
    fast = node_init.fast_initialisers(parsing._VALIDATING_HOOK)
    for node_class in (cst.Name, cst.Call, cst.Attribute, cst.Arg, cst.FunctionDef):
        assert node_class in fast, node_class.__name__


def test_generated_constructors_come_back_after_a_parse() -> None:
    before = cst.Name.__init__
    parse_module(SOURCE)
    assert cst.Name.__init__ is before
    assert cst.Name.__init__.__code__.co_filename == "<string>"
    with pytest.raises(cst.CSTValidationError):
        _unbalanced_parentheses()


CORPUS = Path("/work/corpus/timm")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the timm corpus")
def test_the_trees_equal_libcsts_own_on_real_files() -> None:
    for path in sorted(CORPUS.rglob("*.py"))[:40]:
        source = path.read_text(encoding="utf-8")
        ours, theirs = parse_module(source), cst.parse_module(source)
        assert ours.deep_equals(theirs), path
        assert ours.code == source


def test_the_tree_equals_libcsts_own_on_every_rule_example() -> None:
    from nnlint.engine import parse_guard
    from nnlint.rules import all_rules

    for rule in all_rules():
        for source in [*rule.VALID, *(example.code for example in rule.INVALID)]:
            if parse_guard.check(source) is not None:
                continue  # too deep to compare recursively (NNL004's examples)
            try:
                theirs = cst.parse_module(source)
            except cst.ParserSyntaxError:
                continue
            assert parse_module(source).deep_equals(theirs), rule.CODE
