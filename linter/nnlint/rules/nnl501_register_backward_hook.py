"""NNL501: the deprecated ``Module.register_backward_hook``."""

from __future__ import annotations

import libcst as cst

from nnlint.analysis.cst_syntax import descendants
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.rules.needs import Needs

_METHOD = "register_backward_hook"
_GLOBAL = (
    "torch.nn.register_module_backward_hook"  # canonical for torch.nn.modules.module
)
_REPLACEMENT = {
    _METHOD: "register_full_backward_hook",
    "register_module_backward_hook": "register_module_full_backward_hook",
}


class RegisterBackwardHook(Rule):
    """
    ## What it does
    Flags calls to `.register_backward_hook(...)` (on any object: it is the
    `nn.Module` API) and to the global
    `torch.nn.modules.module.register_module_backward_hook(...)`. A file that defines
    its own `register_backward_hook` function or method is skipped, since its calls
    may be to that. So is a method call whose arguments cannot be the module API's
    one `hook` (none, or two and more, with no `*`/`**` unpacking): it calls another
    class's method of the same name, defined elsewhere. So is a call inside an `if`
    or `try` statement that also calls the full hook: a fallback for torch releases
    older than 1.8, which lack it.

    ## Why is this bad?
    The old backward hook is deprecated because it is wrong for most modules: it is
    attached to the *last autograd operation* inside the module, so `grad_input` is
    the gradient with respect to that operation's inputs, not the module's. For any
    module doing more than one operation (a `Linear` with bias, a block, an
    attention layer) the hook sees partial or mislabelled gradients, silently.
    `register_full_backward_hook` reports the gradients with respect to the module's
    actual inputs and outputs.

    ## Example
    ```python
    handle = model.encoder.register_backward_hook(log_gradients)
    ```

    ## Use instead
    ```python
    handle = model.encoder.register_full_backward_hook(log_gradients)
    ```

    ## Fix safety
    The fix renames the call. It is unsafe because the hook then receives
    different tensors (the module's true input gradients, possibly `None` for
    inputs that do not require grad), and full hooks forbid in-place changes of the
    module's inputs or outputs in forward; a hook written around the old behaviour
    may need adjusting. The global form is only fixed when called as an attribute
    (`module.register_module_backward_hook`): a bare imported name would need its
    import changed too.

    ## References
    - [torch.nn.Module.register_full_backward_hook](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.register_full_backward_hook)
    - [torch.nn.modules.module.register_module_full_backward_hook](https://pytorch.org/docs/stable/generated/torch.nn.modules.module.register_module_full_backward_hook.html)
    """

    CODE = "NNL501"
    NAME = "register-backward-hook"
    MESSAGE = (
        "`register_backward_hook` is deprecated and gives wrong gradients for modules "
        "with several operations; use `register_full_backward_hook`"
    )
    SEVERITY = "error"
    FIX_TITLE = "Use `register_full_backward_hook`"
    FIX_IS_SAFE = False
    NEEDS = Needs(("register_backward_hook", "register_module_backward_hook"))

    VALID = [
        "handle = model.register_full_backward_hook(hook)\n",
        # A plain function of the user's own with the same name, called by name.
        "def register_backward_hook(registry, fn):\n"
        "    registry.append(fn)\n"
        "register_backward_hook(hooks, print)\n",
        # A class that defines its own method of that name.
        "class Events:\n"
        "    def register_backward_hook(self, fn):\n"
        "        self.fns.append(fn)\n"
        "events = Events()\n"
        "events.register_backward_hook(print)\n",
        # A method of the same name on another object, defined in another file: the
        # module API takes exactly one hook, so a call with two arguments is not it.
        "from pipelines import BasePipeline\n"
        "class Pipeline(BasePipeline):\n"
        "    def attach(self, site, step):\n"
        "        self.register_backward_hook(site, step)\n",
        # Tensor hooks are a different, current API.
        "import torch\n"
        "x = torch.ones(2, requires_grad=True)\n"
        "x.register_hook(lambda grad: grad * 2)\n",
        # A fallback for old torch beside the full hook, by version or by failure.
        "import torch\n"
        "def attach(m, hook, hooks):\n"
        "    if hasattr(m, 'register_full_backward_hook'):\n"
        "        hooks.append(m.register_full_backward_hook(hook))\n"
        "    else:\n"
        "        hooks.append(m.register_backward_hook(hook))\n"
        "    try:\n"
        "        m.register_full_backward_hook(hook)\n"
        "    except AttributeError:\n"
        "        m.register_backward_hook(hook)\n",
    ]
    INVALID = [
        Invalid(
            "handle = model.register_backward_hook(hook)\n",
            line=1,
            column=16,
            fixed="handle = model.register_full_backward_hook(hook)\n",
        ),
        Invalid(
            "from torch import nn\n"
            "net = nn.Sequential(nn.Linear(2, 2))\n"
            "for layer in net:\n"
            "    layer.register_backward_hook(\n"
            "        lambda module, grad_in, grad_out: None\n"
            "    )\n",
            line=4,
            column=11,
            fixed="from torch import nn\n"
            "net = nn.Sequential(nn.Linear(2, 2))\n"
            "for layer in net:\n"
            "    layer.register_full_backward_hook(\n"
            "        lambda module, grad_in, grad_out: None\n"
            "    )\n",
        ),
        Invalid(
            "from pipelines import BasePipeline\n"
            "class Pipeline(BasePipeline):\n"
            "    def attach(self, step):\n"
            "        self.register_backward_hook(hook=step)\n",
            line=4,
            column=14,
            fixed="from pipelines import BasePipeline\n"
            "class Pipeline(BasePipeline):\n"
            "    def attach(self, step):\n"
            "        self.register_full_backward_hook(hook=step)\n",
        ),
        Invalid(
            "import torch.nn.modules.module as mm\n"
            "mm.register_module_backward_hook(trace)\n",
            line=2,
            column=4,
            fixed="import torch.nn.modules.module as mm\n"
            "mm.register_module_full_backward_hook(trace)\n",
        ),
        Invalid(
            "from torch.nn.modules.module import register_module_backward_hook\n"
            "register_module_backward_hook(trace)\n",
            line=2,
            column=1,
        ),
    ]

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        self._shadowed: bool | None = None

    def _user_defines_method(self) -> bool:
        if self._shadowed is None:
            self._shadowed = any(
                isinstance(node, cst.FunctionDef) and node.name.value == _METHOD
                for node in descendants(self.context.module)
            )
        return self._shadowed

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == _METHOD:
            if (
                _one_hook(node)
                and not self._user_defines_method()
                and not self._fallback()
            ):
                self._flag(func.attr)
        elif self.qualified_name(func) == _GLOBAL:
            target = func.attr if isinstance(func, cst.Attribute) else func
            self._flag(target, fixable=isinstance(func, cst.Attribute))

    def _fallback(self) -> bool:
        """Inside an ``if``/``try`` that also calls the full hook (old torch)."""
        return any(
            isinstance(outer, cst.If | cst.Try)
            and any(
                isinstance(node, cst.Name) and node.value == _REPLACEMENT[_METHOD]
                for node in descendants(outer)
            )
            for outer in self.context.ancestors
        )

    def _flag(self, name: cst.BaseExpression, fixable: bool = True) -> None:
        if not isinstance(name, cst.Name):
            return
        new = cst.Name(_REPLACEMENT[name.value])
        self.report(name, replacements={name: new} if fixable else None)


def _one_hook(call: cst.Call) -> bool:
    """The arguments can be ``Module.register_backward_hook``'s one ``hook``: exactly
    one, or an unpacking that may hold one."""
    return len(call.args) == 1 or any(arg.star for arg in call.args)
