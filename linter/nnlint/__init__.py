"""nnlint: a static linter for PyTorch model code.

Source rules run on the libcst tree and never import torch or the user's code; graph
rules (``--fx``) build the model and inspect the traced ``torch.fx`` graph.
"""

from __future__ import annotations

__version__ = "0.1.0"
