"""One forward hook per sampled step for every probe that reads module outputs.

Each probe used to register its own hook on every module it watches, on every step
that reads it, each wrapped by ``quiet.unseen``: on a deep step a leaf module carried
three (activations, rank, histograms), and a model of ~150 modules registered and
removed ~400 hooks per step (~3.5 us each, and Python objects that wake the garbage
collector). Now a probe asks the run's hub to ``watch`` a module with a callback; at
the end of ``attach_step`` the hub registers one global forward hook for the step
(``register_module_forward_hook``, removed with the step's other hooks), which looks
the running module up and calls its callbacks in the order the probes asked, with the
attention probe's mode popped once per call instead of once per probe.

Global hooks run before a module's own. A module that already carries forward hooks
when the run starts (a user's, which may replace the output) is hooked directly
instead, after them, so every probe still reads the output those hooks returned.
Modules that are not the model's (a loss module, one kept in a plain list) go to the
``watch_others`` callbacks (the plumbing probe).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from torch import nn

from pytest_nnhealth.probes.quiet import unseen

Hook = Callable[[nn.Module, Any, Any], None]


class ForwardHub:
    def __init__(self, model: nn.Module) -> None:
        modules = list(model.modules())
        self._model_ids = {id(module) for module in modules}
        # Modules whose own forward hooks must run before the probes read the output.
        self._direct = {id(m): m for m in modules if m._forward_hooks}
        self._table: dict[int, list[Hook]] = {}
        self._others: list[Hook] = []

    def watch(self, module: nn.Module, hook: Hook) -> None:
        """Call ``hook(module, inputs, output)`` after ``module`` runs, this step."""
        hooks = self._table.get(id(module))
        if hooks is None:
            self._table[id(module)] = [hook]
        else:
            hooks.append(hook)

    def watch_others(self, hook: Hook) -> None:
        """Call ``hook`` after any module that is not the model's runs, this step."""
        self._others.append(hook)

    def install(self, stack: ExitStack) -> None:
        """Hook what the probes asked for this step; ``stack`` removes it and
        empties the table at the step's end."""
        stack.callback(self._clear)
        if not self._table and not self._others:
            return  # a plain step: no hook at all
        for key, module in self._direct.items():
            hooks = self._table.pop(key, None)
            if hooks is not None:
                hook = unseen(_calling(hooks))
                stack.enter_context(module.register_forward_hook(hook))
        global_hook = unseen(self._dispatch)
        stack.enter_context(nn.modules.module.register_module_forward_hook(global_hook))

    def _dispatch(self, module: nn.Module, inputs: Any, output: Any) -> None:
        key = id(module)
        hooks = self._table.get(key)
        if hooks is not None:
            for hook in hooks:
                hook(module, inputs, output)
        elif self._others and key not in self._model_ids:
            for hook in self._others:
                hook(module, inputs, output)

    def _clear(self) -> None:
        self._table = {}
        self._others = []


def _calling(hooks: list[Hook]) -> Hook:
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        for each in hooks:
            each(module, inputs, output)

    return hook
