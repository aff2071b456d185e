"""Refuse source that would crash or stall libcst, before libcst sees it.

libcst's native parser recurses on the machine stack: measured here (libcst 1.9,
8 MiB stack) 1,000 nested brackets parse, 1,500 kill the process (SIGSEGV). Parsing
nested brackets also costs quadratic time (1,000 nested ``f(`` calls: 12.7 s), and
the Python side of libcst (``PositionProvider``, code generation) recurses once per
level of the tree: 150 nested lists or 500 chained ``+``/``not``/``.``/string pieces
already raise ``RecursionError`` at Python's default limit, while 100 nested lists
and 300 chained operators work. ``bench``-free reproduction: ``docs/reliability.md``.

So a file is refused (one NNL004 finding, nothing parsed, nothing fixed) when its
brackets nest deeper than :data:`MAX_DEPTH` (CPython's own tokenizer stops at 200)
or one expression chains more than :data:`MAX_CHAIN` operators. Real code stays far
below both (timm: depth 7; see ``docs/nnlint.md``).

The exact measure tokenizes the file, which costs as much as the rest of a warm
lint; it runs only when a C-speed scan (strings and comments blanked by one regular
expression, then brackets and operator runs counted) says a file might be close.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from itertools import accumulate

# The limits are NNL004's documented contract, so the rule module owns them.
from nnlint.rules.nnl004_too_complex_to_lint import MAX_CHAIN, MAX_DEPTH

# The cheap scan hands a file to the exact measure well before either limit.
_SCAN_DEPTH = MAX_DEPTH // 2
_SCAN_CHAIN = MAX_CHAIN // 2

# Comments, then strings (triple-quoted first), leftmost first like the tokenizer.
_BLANK = re.compile(
    r"#[^\r\n]*"
    r'|"""(?:\\.|[^\\])*?(?:"""|$)'
    r"|'''(?:\\.|[^\\])*?(?:'''|$)"
    r'|"(?:\\.|[^"\\\r\n])*"?'
    r"|'(?:\\.|[^'\\\r\n])*'?",
    re.DOTALL,
)
_OPERATOR = re.compile(
    r"[-+*/%@&|^~<>.!]|\b(?:not|and|or|if|else|lambda|is|in|await)\b|S\s*S"
)
# A closing bracket, the gap a trailer may have, and the opening bracket after it.
_TRAILER = re.compile(r"[)\]}]\s*(?:\.\s*\w+\s*)?[(\[{]")
_TRAILER_SYMBOL = "\x00"
_SYMBOLS = re.compile(r"[()\[\]{}\x00]").findall
_STEP = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1, _TRAILER_SYMBOL: 0}
_CLOSING_DROPPED = str.maketrans("", "", ")]}")
# Stretches between separators; only long ones can hold a long chain.
_SEPARATOR = re.compile(r"[,;()\[\]{}]")
_OPEN, _CLOSE = "([{", ")]}"
_CHAIN_REASON = f"an expression chains more than {MAX_CHAIN} operators"
_WORD_OPERATORS = frozenset(
    {"not", "and", "or", "if", "else", "lambda", "is", "in", "await"}
)
# ``:`` neither chains nor ends a chain (``lambda: lambda: ...`` chains by keyword).
_NOT_COUNTED = frozenset({":"})
_NOT_CHAINING = frozenset({",", ";", "=", ":=", "->", "**="}) | {
    op + "=" for op in ("+", "-", "*", "/", "//", "%", "@", "&", "|", "^", ">>", "<<")
}


@dataclass(frozen=True)
class TooComplex:
    """Why a file is refused, and where (1-based line)."""

    reason: str
    line: int


def check(source: str) -> TooComplex | None:
    """None when libcst can safely parse and walk ``source``."""
    if not _might_exceed(source):
        return None
    return measure(source)


def _might_exceed(source: str) -> bool:
    """The cheap scan: bracket depth, runs of trailers, long operator chains.

    Every pass is a regular expression or an iterator run in C: the scan runs on
    every file, and a Python loop with a branch per bracket cost more than the rest
    of it; tests/nnlint/engine/test_guard_scan.py keeps that loop as a reference)."""
    blanked = _BLANK.sub("S", source)
    # A closing bracket with its trailer's opening one (``x[0][0]``, ``f(a)(b)``,
    # ``x.f().g()``) becomes one symbol: it leaves the depth where it was and
    # continues a run of trailers. A NUL already in the code (never in valid Python)
    # is first made a character that is no bracket, space, dot or word, like NUL.
    marked = _TRAILER.sub(_TRAILER_SYMBOL, blanked.replace(_TRAILER_SYMBOL, "$"))
    symbols = "".join(_SYMBOLS(marked))
    if max(accumulate(map(_STEP.__getitem__, symbols)), default=0) >= _SCAN_DEPTH:
        return True
    # A run of trailers is broken by any other opening bracket, not by closing ones.
    if _TRAILER_SYMBOL * _SCAN_CHAIN in symbols.translate(_CLOSING_DROPPED):
        return True
    longest = _SCAN_CHAIN  # an operator is at least one character
    return any(
        len(part) >= longest and len(_OPERATOR.findall(part)) >= longest
        for part in _SEPARATOR.split(blanked)
    )


def measure(source: str) -> TooComplex | None:
    """The exact check, on the tokenizer's tokens."""
    chains = [0]  # operators chained so far, per open bracket (and the statement)
    previous = ""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        for token in tokens:
            kind, text = token.type, token.string
            if kind == tokenize.OP and text in _OPEN:
                # A call or subscript nests its callee: ``x[0][0]``, ``f(a)(b)``.
                trailer = previous in (")", "]", "}", "NAME", "STRING")
                chains[-1] += trailer
                chains.append(0)
                if len(chains) - 1 > MAX_DEPTH:
                    reason = f"brackets nested more than {MAX_DEPTH} levels deep"
                    return TooComplex(reason, token.start[0])
                if chains[-2] > MAX_CHAIN:
                    return TooComplex(_CHAIN_REASON, token.start[0])
            elif kind == tokenize.OP and text in _CLOSE:
                if len(chains) > 1:
                    chains.pop()
            elif kind in (tokenize.NEWLINE, tokenize.ENDMARKER) or text in (
                _NOT_CHAINING
            ):
                chains[-1] = 0
            elif _chains(kind, text, previous):
                chains[-1] += 1
                if chains[-1] > MAX_CHAIN:
                    return TooComplex(_CHAIN_REASON, token.start[0])
            if kind not in (tokenize.NL, tokenize.COMMENT):
                previous = text if kind == tokenize.OP else tokenize.tok_name[kind]
    except SyntaxError as error:
        # Python 3.12+ tokenizes in C and stops at 200 nested brackets itself.
        if "too many" in str(error):
            return TooComplex(str(error.msg), error.lineno or 1)
        return None  # the parser reports the syntax error (NNL001)
    except tokenize.TokenError:
        return None
    return None


def _chains(kind: int, text: str, previous: str) -> bool:
    """Whether the token adds a level to the expression tree it is part of."""
    if kind == tokenize.OP:
        return text not in _NOT_COUNTED
    if kind == tokenize.NAME:
        return text in _WORD_OPERATORS
    return kind == tokenize.STRING and previous == "STRING"
