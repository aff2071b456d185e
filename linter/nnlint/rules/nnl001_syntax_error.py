"""NNL001: the file is not valid Python."""

from __future__ import annotations

from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import EngineRule


class SyntaxErrorInFile(EngineRule):
    """## What it does
    Reports a file that cannot be parsed, at the position where Python's own parser
    stops, with its message.

    ## Why is this bad?
    No rule can look at a file that does not parse, so every other check is silently
    skipped for it. The other files are still linted.

    Files that no selected rule could apply to (none of their trigger words occur) are
    not parsed at all, so nnlint is not a substitute for a syntax checker.

    ## Example
    ```python
    def forward(self, x:
        return x
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return x
    ```

    ## Fix safety
    There is no fix.

    ## References
    - [Python grammar](https://docs.python.org/3/reference/grammar.html)
    """

    CODE = "NNL001"
    NAME = "syntax-error"
    MESSAGE = "syntax error: the file cannot be parsed"
    SEVERITY = "error"
    VALID = [
        "import torch\n\nx = torch.softmax(torch.ones(3), dim=0)\n",
        "def forward(self, x):\n    return x\n",
        "import torch.nn as nn\n\nlayer = nn.Linear(2, 2)  # noqa: E501\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\ndef forward(self, x:\n    return x\n", line=3, column=12
        ),
        Invalid("import torch\nx = torch.ones(3\n", line=2, column=15),
        Invalid("import torch\nx = torch.ones(3)\n  y = x\n", line=3, column=2),
    ]
