"""The parse guard's cheap scan gives the same answer as the per-bracket loop it
replaced (kept here as the reference), on generated text and on real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlint.engine import parse_guard
from nnlint.engine.parse_guard import _BLANK, _OPERATOR, _SCAN_CHAIN, _SCAN_DEPTH

_BRACKET = re.compile(r"[()\[\]{}]")
_SEPARATOR = re.compile(r"[,;()\[\]{}]")
_TRAILER_GAP = re.compile(r"\s*(?:\.\s*\w+\s*)?")


def reference(source: str) -> bool:
    """The scan as a loop over the brackets (nnlint before the C-speed passes)."""
    blanked = _BLANK.sub("S", source)
    depth = deepest = trailers = 0
    closed = -1
    for match in _BRACKET.finditer(blanked):
        if match.group() in "([{":
            depth += 1
            deepest = max(deepest, depth)
            between = blanked[closed : match.start()] if closed >= 0 else "-"
            trailers = trailers + 1 if _TRAILER_GAP.fullmatch(between) else 0
        else:
            depth -= 1
            closed = match.end()
        if deepest >= _SCAN_DEPTH or trailers >= _SCAN_CHAIN:
            return True
    return any(
        len(part) >= _SCAN_CHAIN and len(_OPERATOR.findall(part)) >= _SCAN_CHAIN
        for part in _SEPARATOR.split(blanked)
    )


# Pieces that move the measures near their limits: trailers with and without gaps,
# brackets, strings and comments that hide brackets, operators, NUL and look-alikes.
_PIECES = [
    "(", ")", "[", "]", "{", "}", ")(", "][", ").f(", ") . f (", "x", " ", "\n",
    ".", "+", ",", ";", "'('", '"]"', "# (\n", '"""\n(\n"""', "\x00", "$", "S",
    "not ", "[0]", "(a)", ".g()",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_PIECES), st.integers(1, 120)), max_size=12).map(
        lambda runs: "".join(piece * count for piece, count in runs)
    )
)
def test_scan_matches_the_loop_on_generated_text(text: str) -> None:
    assert parse_guard._might_exceed(text) == reference(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(" * _SCAN_DEPTH, True),
        ("(" * (_SCAN_DEPTH - 1), False),
        # The first bracket follows a name, not a bracket: it starts no run.
        ("x" + "[0]" * (_SCAN_CHAIN + 1), True),
        ("x" + "[0]" * _SCAN_CHAIN, False),
        ("x" + ". f ( ) " * (_SCAN_CHAIN + 1), True),
        # A NUL between the brackets breaks the trailer run, as in the loop.
        ("x" + "[0]" * 60 + "\x00" + "[0]" * 60, False),
        ("x" + "[0]" * 60 + "(" + "[0]" * 60, False),
        ("a" + "+b" * _SCAN_CHAIN, True),
    ],
)
def test_scan_limits(text: str, expected: bool) -> None:
    assert parse_guard._might_exceed(text) is expected
    assert reference(text) is expected


def test_scan_matches_the_loop_on_this_repository() -> None:
    files = sorted(Path(__file__).resolve().parents[3].glob("linter/**/*.py"))
    assert len(files) > 100
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert parse_guard._might_exceed(text) == reference(text), file
