from __future__ import annotations

from nnlint.fx.rules.base import GraphRule


class AnalysisTimeout(GraphRule):
    """
    ## What it does
    Reports that importing and analysing a file (or building a configured model)
    took longer than `[tool.nnlint.fx] timeout` seconds (default 60). The graph-mode
    process and everything it started (its whole process group) are killed, and the
    remaining files are analysed in a fresh process. Informational: it says what graph
    mode could not check, not that the model is wrong.

    ## Why is this bad?
    A module that blocks at import (a training loop, a download, waiting for input)
    cannot be analysed, and it slows every tool that imports it.

    ## Example
    ```python
    # model.py
    train(MyModel())  # runs at import time
    ```

    ## Use instead
    ```python
    if __name__ == "__main__":
        train(MyModel())
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Graph mode: time limit](../graph-mode.md)
    """

    CODE = "NNL603"
    NAME = "analysis-timeout"
    MESSAGE = "graph mode did not finish within the time limit"
    SEVERITY = "info"
    REPORTED_BY_ENGINE = True
