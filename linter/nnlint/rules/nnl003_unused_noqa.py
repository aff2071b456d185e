"""NNL003: a ``# noqa`` code suppresses nothing."""

from __future__ import annotations

from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import EngineRule


class UnusedNoqa(EngineRule):
    """## What it does
    Reports nnlint codes in `# noqa: ...` and `# nnlint: noqa: ...` comments that
    suppressed no finding, although their rule ran on the file.

    Only `NNL` codes are checked: codes of other tools (`E501`, `F401`) and bare
    `# noqa` comments are left alone, as are codes of rules that were not selected and
    graph-mode codes (`NNL6xx`) outside `--fx`.

    ## Why is this bad?
    A stale suppression hides the next real problem on that line. Once the code was
    fixed, the comment only documents something that is no longer true.

    ## Example
    ```python
    probs = torch.softmax(logits, dim=-1)  # noqa: NNL101
    ```
    where the line no longer feeds a loss.

    ## Use instead
    ```python
    probs = torch.softmax(logits, dim=-1)
    ```

    ## Fix safety
    There is no automatic fix yet; remove the code from the comment by hand.

    ## References
    - [ruff's unused-noqa (RUF100)](https://docs.astral.sh/ruff/rules/unused-noqa/)
    """

    CODE = "NNL003"
    NAME = "unused-noqa"
    MESSAGE = "unused suppression"
    SEVERITY = "warning"
    VALID = [
        "x = 1  # noqa: E501\n",
        "x = 1  # noqa\n",
        "# nnlint: noqa: NNL601\nx = 1\n",
    ]
    INVALID = [
        Invalid("import torch\nx = 1  # noqa: NNL002\n", line=2, column=8),
        Invalid("x = 1  # noqa: E501, NNL001\n", line=1, column=8),
        Invalid("# nnlint: noqa: NNL001\nx = 1\n", line=1, column=1),
    ]
