from __future__ import annotations

from nnlint.fx.rules.base import GraphRule


class AnalysisCrashed(GraphRule):
    """
    ## What it does
    Reports that the child process analysing a file died without an answer (a segfault,
    `os._exit`, an out-of-memory kill) or that a graph rule raised, with the exit status
    and the last line the process wrote to stderr.

    ## Why is this bad?
    The file's models were not checked. Code that kills the interpreter at import time
    (native extensions, `sys.exit` at module level) also breaks test collection.

    ## Example
    ```python
    # model.py
    import os
    os._exit(3)  # at import time
    ```

    ## Use instead
    ```python
    if __name__ == "__main__":
        main()  # side effects only when run as a script
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Graph mode: limits](../graph-mode.md)
    """

    CODE = "NNL602"
    NAME = "analysis-crashed"
    MESSAGE = "the graph-mode child process crashed"
    SEVERITY = "error"
    REPORTED_BY_ENGINE = True
