"""NNL002: the file's bytes are not text in its declared encoding."""

from __future__ import annotations

from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import EngineRule


class UndecodableFile(EngineRule):
    """## What it does
    Reports a file whose bytes cannot be decoded: not UTF-8 and no PEP 263 coding
    cookie saying otherwise, or a cookie naming an unknown encoding. The finding points
    at the first byte that does not decode (its column counts bytes).

    ## Why is this bad?
    Python refuses to import such a file, and no rule can look at it. The other files
    are still linted.

    ## Example
    A file saved as Latin-1 containing `é` without a coding cookie.

    ## Use instead
    Save the file as UTF-8, or declare its encoding on the first or second line:
    ```python
    # -*- coding: latin-1 -*-
    ```

    ## Fix safety
    There is no fix: re-encoding a file is the author's decision.

    ## References
    - [PEP 263: defining Python source code encodings](https://peps.python.org/pep-0263/)
    """

    CODE = "NNL002"
    NAME = "undecodable-file"
    MESSAGE = "the file cannot be decoded"
    SEVERITY = "error"
    # Examples are Latin-1 encoded before they are linted (see the rule example tests).
    VALID = [
        "# -*- coding: latin-1 -*-\nname = 'café'\n",
        "name = 'plain ascii'\n",
        "# coding: latin-1\nimport torch\nlabel = 'naïve'\n",
    ]
    INVALID = [
        Invalid("name = 'café'\n", line=1, column=12),
        Invalid("import torch\n# déjà vu\n", line=2, column=4),
        Invalid("# -*- coding: no-such-codec -*-\nx = 1\n", line=1, column=1),
    ]
