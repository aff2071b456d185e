from __future__ import annotations

from nnlint.fx.rules.base import GraphRule


class ModelBuildFailed(GraphRule):
    """
    ## What it does
    Reports a configured factory or a discovered class that raised while building the
    model or its example inputs, or returned something graph mode cannot use, or a
    malformed `[tool.nnlint.fx]` model entry.

    ## Why is this bad?
    The model was not checked. A factory that raises in a clean interpreter is usually
    broken for everyone else too.

    ## Example
    ```toml
    [tool.nnlint.fx]
    models = [{factory = "pkg.models:make"}]  # make() raises
    ```

    ## Use instead
    ```toml
    [tool.nnlint.fx]
    models = [{factory = "pkg.models:make", shapes = [[2, 3, 32, 32]]}]
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Graph mode: config format](../graph-mode.md)
    """

    CODE = "NNL604"
    NAME = "model-build-failed"
    MESSAGE = "the model or its example inputs could not be built"
    SEVERITY = "error"
    REPORTED_BY_ENGINE = True
