"""Shared test set-up.

pytester's in-process runs delete the modules first imported during a run. torch
cannot be imported twice in one process (its operator libraries register once), it
imports parts of itself lazily (the optimizers' first step imports ``torch._dynamo``),
and libcst classes imported twice no longer match each other. So one tiny health check
(graph mode included) and one lint run happen here, before any test, to load it all.
"""

from __future__ import annotations

import importlib.util


def _warm_up() -> None:
    from nnlint.api import lint_text
    from nnlint.engine.config import LintConfig
    from nnlint.output.text import render_text

    source = "import torch.nn.functional as F\nF.cross_entropy(F.softmax(x, 1), y)\n"
    render_text(lint_text(source, "warm_up.py", LintConfig()))
    if importlib.util.find_spec("torch") is None:
        return
    import torch
    from torch import nn

    from pytest_nnhealth import check

    # One thread for the whole session: the test models are tiny, xdist already uses
    # both cores, and spin-waiting OpenMP threads cost ~10x (the zoo file took 70 s
    # of CPU instead of ~7 s with two threads).
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    batch = (torch.randn(8, 2), torch.tensor([0, 1] * 4))
    check(model, batch, loss_fn=nn.CrossEntropyLoss(), steps=2)


_warm_up()
