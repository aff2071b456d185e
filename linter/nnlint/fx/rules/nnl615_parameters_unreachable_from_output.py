from __future__ import annotations

from typing import Any

from nnlint.fx.rules.base import GraphInvalid, GraphRule


class ParametersUnreachableFromOutput(GraphRule):
    """
    ## What it does
    Follows the traced data flow backwards from the model's outputs (an in-place write
    such as `out.index_add_(...)` or `out[mask] = v` flows into `out`) and reports
    trainable parameters that are used in `forward` but cannot influence any output:
    their branch is `.detach()`ed (or read through `.data`), or its result is computed
    and then never used. Frozen parameters (`requires_grad=False`) are ignored.

    ## Why is this bad?
    The optimizer steps these parameters with a gradient of `None` (or weight decay
    alone) forever, and the model trains "normally" without the branch: no activation
    or loss statistic shows it. It is usually a leftover `.detach()` from debugging, a
    branch whose output was meant to be added, or an auxiliary head whose loss term was
    dropped.

    ## Example
    ```python
    def forward(self, x):
        context = self.context_encoder(x).detach()
        return self.head(x + context)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        context = self.context_encoder(x)
        return self.head(x + context)
    ```

    ## Fix safety
    There is no automatic fix: a detached branch may be intentional (a target network);
    freeze its parameters (`requires_grad_(False)`) to say so.

    ## References
    - [torch.Tensor.detach](https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)
    - [Autograd mechanics](https://pytorch.org/docs/stable/notes/autograd.html)
    """

    CODE = "NNL615"
    NAME = "parameters-unreachable-from-output"
    MESSAGE = "trainable parameters cannot influence the model's output"
    _NET = (
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.branch = nn.Linear(4, 4)\n"
        "        self.head = nn.Linear(4, 2)\n\n"
        "    def forward(self, x):\n"
        "{body}"
        "model = Net()\n{setup}example_inputs = (torch.randn(3, 4),)\n"
    )
    VALID = [
        _NET.format(body="        return self.head(x + self.branch(x))\n\n", setup=""),
        # A frozen target branch, detached on purpose.
        _NET.format(
            body="        return self.head(x + self.branch(x).detach())\n\n",
            setup="model.branch.requires_grad_(False)\n",
        ),
        # Auxiliary output returned next to the main one.
        _NET.format(body="        return self.head(x), self.branch(x)\n\n", setup=""),
        # Written in place into a tensor returned by its earlier name (mixture of
        # experts: ``out.index_add_(0, tokens, expert(h))``, then ``return out``).
        _NET.format(
            body="        out = torch.zeros_like(x)\n"
            "        out.index_add_(0, torch.arange(3), self.branch(x))\n"
            "        return self.head(out)\n\n",
            setup="",
        ),
    ]
    INVALID = [
        GraphInvalid(
            _NET.format(
                body="        context = self.branch(x).detach()\n"
                "        return self.head(x + context)\n\n",
                setup="",
            ),
            line=11,
        ),
        GraphInvalid(
            _NET.format(
                body="        aux = self.branch(x)\n        return self.head(x)\n\n",
                setup="",
            ),
            line=11,
        ),
        GraphInvalid(
            _NET.format(
                body="        h = self.branch(x)\n"
                "        return self.head(x + h.data)\n\n",
                setup="",
            ),
            line=11,
        ),
    ]

    def run(self, graph: Any) -> None:
        alive = graph.reaches_output()
        trainable = {
            name for name, p in graph.model.named_parameters() if p.requires_grad
        }
        reported: set[Any] = set()
        for name, users in graph.parameter_users().items():
            if name not in trainable:
                continue
            sites = [
                u for n in users for u in (n.users if n.op == "placeholder" else [n])
            ]
            if not sites or any(site in alive for site in sites):
                continue
            site = sites[0]
            if site in reported:
                continue
            reported.add(site)
            owner = graph.module_of(site)
            label = (
                f"`{owner[0]}` ({type(owner[1]).__name__})" if owner else f"`{name}`"
            )
            self.report(site, f"parameters of {label} never reach the output: "
                        f"{_why(graph, site)}")  # fmt: skip


def _why(graph: Any, site: Any) -> str:
    seen, work = set(), [site]
    while work:
        node = work.pop()
        if node in seen:
            continue
        seen.add(node)
        if graph.op(node) in ("detach", "data"):
            return "the branch is detached (`.detach()` / `.data`) before it is used"
        work.extend(node.users)
    return "the result is computed but never used"
