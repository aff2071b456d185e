"""NNL004: the file nests or chains expressions too deeply to be linted safely."""

from __future__ import annotations

from nnlint.findings import Finding
from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import EngineRule

# Deepest bracket nesting and longest operator chain linted; the engine's parse guard
# (nnlint.engine.parse_guard) refuses anything beyond, for the measured reasons its
# docstring gives.
MAX_DEPTH = 100
MAX_CHAIN = 200


class TooComplexToLint(EngineRule):
    """## What it does
    Reports a file that nnlint refuses to parse because an expression in it is too
    deep: brackets nested more than 100 levels, or more than 200 operators chained in
    one expression (`a + a + ...`, `not not ...`, implicit string pieces, `x.a.b...`).
    Only the text nnlint is about to parse is measured: a generated table in a file,
    or a statement, that no selected rule reads is never parsed and is not refused.
    It also reports a file on which the linter hit Python's recursion limit or whose
    worker process crashed. The finding points at the line where the limit was passed.
    Such a file is never changed by `--fix`; every other file is still linted.

    ## Why is this bad?
    The parser nnlint uses recurses once per level: about 1,500 nested brackets crash
    it, a few hundred levels exhaust Python's recursion limit, and long chains parse in
    quadratic time. CPython itself refuses more than 200 nested brackets. Code this
    deep is almost always generated; no rule can look at it, so the file is reported
    instead of silently skipped.

    ## Example
    ```python
    total = x + x + x + x + ...  # 20,000 terms, generated
    ```

    ## Use instead
    Build long expressions in a loop or with `sum(...)`, and keep generated data in a
    data file (JSON, `.npy`) instead of a Python expression.

    ## Fix safety
    There is no fix.

    ## References
    - [CPython's nesting limit (MAXLEVEL in the tokenizer)](https://github.com/python/cpython/blob/main/Parser/tokenizer.h)
    """

    CODE = "NNL004"
    NAME = "too-complex-to-lint"
    MESSAGE = "too deep to lint"
    SEVERITY = "warning"
    VALID = [
        "x = " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n",
        "y = " + " + ".join(["x"] * MAX_CHAIN) + "\n",
        "s = ('a' 'b' 'c')\nt = not not x\n",
    ]
    INVALID = [
        Invalid("x = " + "[" * 101 + "1" + "]" * 101 + "\n", line=1, column=1),
        Invalid("import torch\n\ny = " + " + ".join(["x"] * 300) + "\n", line=3),
        Invalid("y = " + "not " * 300 + "x\n", line=1, column=1),
        Invalid("f = " + "g(" * 120 + ")" * 120 + "\n", line=1, column=1),
    ]

    @classmethod
    def finding(cls, path: str, line: int, reason: str) -> Finding:
        """The one finding a refused (or crashed-on) file gets."""
        message = f"not linted: {reason}"
        return Finding(path, line, 1, line, 1, cls.CODE, cls.NAME, message, "warning")
