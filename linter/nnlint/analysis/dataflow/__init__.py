"""Where softmax, sigmoid, activations and logits flow in a file: the loss-wiring pass.

The NNL1xx rules all ask one question, "what reaches the input of this loss?", so the
answer is computed once per file (:func:`analyse`) and shared. The analysis is a small
abstract interpreter over the libcst tree, without importing anything:

* every function body is walked in source order with an environment mapping local names
  to abstract values (a tensor of a known :class:`Kind`, a tuple/dict of values, a
  module object, a loss object, an instance of a class defined in the file);
* branches merge *must*-style: a name keeps a value after an ``if`` only when every path
  agrees, so ``return probs if eval else logits`` is unknown, never "softmax";
* ``self.<attr>`` modules come from a first pass over each class's methods; an
  ``nn.Sequential`` has the kind of its last element; calling a model class defined in
  the file yields what its ``forward`` returns (``model.predict(x)``: what ``predict``
  returns);
* every call of a loss records a :class:`LossUse` with the value reaching its *input*
  (never its target, so distillation onto softmax targets is fine); a loss applied to a
  function's parameter is checked again at each call site of that function in the file,
  and so is a loss applied to what calling a parameter returns (``model(x)`` with the
  model passed in: the forward output of the model given there) or a parameter called
  on a tensor (``criterion(probs, y)``: a loss when a call site passes one);
* a function returning ``(model, batch, loss_fn)`` (the nnhealth factory convention)
  joins the model's forward output to that loss.

Names are matched after import resolution (``F`` -> ``torch.nn.functional``); a user's
own ``softmax`` helper is followed into its body instead of being taken for torch's.

The package is laid out along the walk: :mod:`~nnlint.analysis.dataflow.values` (the
abstract values and the result), :mod:`~nnlint.analysis.dataflow.vocabulary` (which
qualified names mean what), :mod:`~nnlint.analysis.dataflow.origins` (where a kind came
from, what a fix removes), and the walker in layers, each a base class of the next:
:mod:`~nnlint.analysis.dataflow.state` (scopes and per-file tables),
:mod:`~nnlint.analysis.dataflow.linking` (functions and classes of the file, parameter
losses at call sites), :mod:`~nnlint.analysis.dataflow.statements`,
:mod:`~nnlint.analysis.dataflow.expressions` and :mod:`~nnlint.analysis.dataflow.calls`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.dataflow.calls import CallWalker
from nnlint.analysis.dataflow.state import Scope
from nnlint.analysis.dataflow.values import Analysis

if TYPE_CHECKING:
    from nnlint.analysis.context import AnalysisContext

__all__ = ["analyse", "loss_flow"]


class _Walker(CallWalker):
    def run(self) -> Analysis:
        self._index()
        # Pass 1 (silent): module globals and every class's ``self.<attr>`` values.
        top = Scope(self.module)
        self.block(self.module.body, top)
        self.globals = top.env
        for name, info in self.classes.items():
            for method in info.methods.values():
                self.walk_function(method, name)
        # Pass 2: everything again, now recording loss calls and computing summaries.
        self.record = True
        self.block(self.module.body, Scope(self.module))
        for function in self.functions.values():
            self.summary(function, None)
        for name, info in self.classes.items():
            for method in info.methods.values():
                self.summary(method, name)
        return self.analysis


def analyse(module: cst.Module) -> Analysis:
    """The loss data flow of ``module`` (rules get it through :func:`loss_flow`)."""
    try:
        return _Walker(module).run()
    except RecursionError:
        # Pathologically nested expressions: no data flow rather than no lint at all.
        return Analysis()


def loss_flow(context: AnalysisContext) -> Analysis:
    """The file's loss data flow, computed once per file by ``context.get``."""
    return analyse(context.module)
