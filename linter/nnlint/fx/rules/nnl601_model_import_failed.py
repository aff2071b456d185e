from __future__ import annotations

from nnlint.fx.rules.base import GraphRule


class ModelImportFailed(GraphRule):
    """
    ## What it does
    Reports that graph mode could not import a file (or the module of a configured
    factory) in its child process, naming the exception and the line that raised it.

    ## Why is this bad?
    Graph mode could not check any model of that file. The source rules still ran on it.
    A module that fails to import in a clean interpreter usually also fails in CI: a
    missing dependency, a relative import run as a script, or code that needs the
    current directory.

    ## Example
    ```python
    # model.py
    import tensorflow  # not installed in the lint environment
    ```

    ## Use instead
    ```python
    # keep heavy or optional imports inside the functions that need them
    def export():
        import tensorflow
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Graph mode: how models are found](../graph-mode.md)
    """

    CODE = "NNL601"
    NAME = "model-import-failed"
    MESSAGE = "importing the file or model factory failed"
    SEVERITY = "error"
    REPORTED_BY_ENGINE = True
