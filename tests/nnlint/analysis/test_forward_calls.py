"""The forward pass follows calls to the class's own methods (``self.helper(x)``)."""

from __future__ import annotations

import textwrap

import libcst as cst

from nnlint.analysis.context import AnalysisContext
from nnlint.analysis.forward_flow import ForwardFlow
from nnlint.analysis.module_model import file_model
from nnlint.analysis.names import ImportMap
from nnlint.api import LintConfig, lint_text

HEAD = """
import torch
from torch import nn
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 32)
        self.act = nn.ReLU(inplace=True)
"""


def _flow(methods: str, name: str = "forward") -> ForwardFlow:
    source = HEAD + textwrap.indent(textwrap.dedent(methods), "    ")
    module = cst.parse_module(source)
    context = AnalysisContext("m.py", module, ImportMap.from_module(module))
    model = context.get(file_model).by_name["Block"]
    return model.flow(model.methods[name])


def _line(node: cst.CSTNode, methods: str) -> str:
    code = cst.Module([]).code_for_node(node)
    return next(line.strip() for line in methods.splitlines() if code in line)


def test_a_helpers_return_value_carries_its_submodule_chain() -> None:
    flow = _flow(
        """
        def _branch(self, y):
            h = self.fc1(y)
            return self.fc2(h)
        def forward(self, x):
            return x + self._branch(x)
        """
    )
    (add,) = flow.adds
    skip, branch = add.flows
    assert skip is not None
    assert branch is not None
    assert branch.root == skip.root
    assert branch.steps == ("fc1", "fc2")


def test_a_helpers_add_sees_the_callers_chain_through_its_parameter() -> None:
    flow = _flow(
        """
        def _residual(self, h, x):
            return x + h
        def forward(self, x):
            return self._residual(self.fc2(self.fc1(x)), x=x)
        """
    )
    (add,) = flow.adds
    assert [f.steps for f in add.flows if f is not None] == [(), ("fc1", "fc2")]
    assert [a.attr for a in flow.applications] == ["fc1", "fc2"]


def test_a_helper_overwriting_its_argument_in_place_stales_the_callers_skip() -> None:
    methods = """
        def _act(self, t):
            return self.act(t)
        def forward(self, x):
            skip = x
            x = self._act(x)
            return self.fc1(x) + skip
        """
    (overwrite,) = _flow(methods).overwrites.found
    assert overwrite.alias == "skip"
    assert _line(overwrite.node, methods) == "return self.act(t)"


def test_different_returns_make_the_value_unknown_and_one_return_keeps_it() -> None:
    flow = _flow(
        """
        def _pick(self, x, flag):
            if flag:
                return self.fc1(x)
            return x
        def forward(self, x):
            return x + self._pick(x, True)
        """
    )
    assert flow.adds[0].flows[1] is not None
    assert flow.adds[0].flows[1].root != flow.adds[0].flows[0].root


def test_recursion_decorated_methods_and_star_args_are_not_followed() -> None:
    flow = _flow(
        """
        def _loop(self, x):
            return x + self._loop(self.fc1(x))
        @staticmethod
        def _static(x):
            return x + x
        def _star(self, *xs):
            return xs[0] + xs[1]
        def forward(self, x):
            return self._loop(x) + self._static(x) + self._star(*[x, x])
        """
    )
    # _loop walked once (its self-call not followed), the other two not at all.
    assert len(flow.adds) == 1 + 2


def test_helpers_are_followed_at_most_three_calls_deep() -> None:
    flow = _flow(
        """
        def _a(self, x):
            return self._b(x) + x
        def _b(self, x):
            return self._c(x) + x
        def _c(self, x):
            return self._d(x) + x
        def _d(self, x):
            return self.fc1(x) + x
        def forward(self, x):
            return self._a(x)
        """
    )
    assert len(flow.adds) == 3  # _a, _b, _c; _d is a fourth call deep


def test_a_helpers_data_reads_are_left_to_its_own_pass() -> None:
    flow = _flow(
        """
        def _detach(self, x):
            return x.data
        def forward(self, x):
            return self._detach(x).data
        """
    )
    assert len(flow.data_reads.found) == 1


def test_a_finding_in_a_helper_called_twice_is_reported_once_at_its_line() -> None:
    source = HEAD + textwrap.indent(
        textwrap.dedent(
            """
            def _branch(self, y):
                return y + self.fc2(self.fc1(y))
            def forward(self, x):
                return self._branch(x) + self._branch(x)
            """
        ),
        "    ",
    )
    found = lint_text(source, "m.py", LintConfig())
    assert [(f.code, f.line) for f in found] == [("NNL301", 12)]
