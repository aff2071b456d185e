"""Parameters and their state, asked directly rather than through the rules:
attributes outside the gradient (``frozen_tensors``), names something may initialise
(``initialisation``), bases visible in the file (``class_bases``) and gate weights
taken from biased scores (``gate_weights``)."""

from __future__ import annotations

import textwrap

import libcst as cst

from nnlint.analysis.class_bases import bases_in_file
from nnlint.analysis.context import AnalysisContext
from nnlint.analysis.frozen_tensors import frozen_attributes
from nnlint.analysis.gate_weights import GateWalker
from nnlint.analysis.initialisation import InitialisationEvidence, init_like
from nnlint.analysis.module_model import file_model
from nnlint.analysis.names import ImportMap
from nnlint.analysis.walk import walk


def _context(source: str) -> AnalysisContext:
    module = cst.parse_module(textwrap.dedent(source))
    return AnalysisContext("m.py", module, ImportMap.from_module(module))


def test_buffers_frozen_parameters_and_factory_tensors_are_outside_the_gradient() -> (
    None
):
    context = _context(
        """
        import torch
        from torch import nn
        class Router(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.register_buffer("load_bias", torch.zeros(n))
                self.mask = nn.Buffer(torch.ones(n))
                self.scale = nn.Parameter(torch.ones(n), requires_grad=False)
                self.table = torch.full((n,), 2.0)
                self.learned = nn.Parameter(torch.zeros(n))
                self.proj = nn.Linear(n, n)
        """
    )
    assert context.get(frozen_attributes) == {"load_bias", "mask", "scale", "table"}


def _evidence(source: str) -> InitialisationEvidence:
    """Feed every node of ``source`` as the rules' walk does (pre-order), treating
    ``torch.empty(...)`` values as uninitialised creations."""
    module = cst.parse_module(textwrap.dedent(source))

    def created(value: cst.BaseExpression) -> bool:
        return "empty" in cst.Module([]).code_for_node(value)

    evidence = InitialisationEvidence(created)
    functions = [n for n in walk(module) if isinstance(n, cst.FunctionDef)]
    inside_init = {
        id(inner)
        for function in functions
        if init_like(function.name.value)
        for inner in walk(function)
    }
    for node in walk(module):
        if isinstance(node, cst.Call):
            evidence.call(node, id(node) in inside_init)
        elif isinstance(node, cst.Assign | cst.AugAssign | cst.AnnAssign):
            evidence.assign(node)
        elif isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            evidence.string(node)
        elif isinstance(node, cst.For):
            evidence.loop(node)
    return evidence


def test_every_way_of_reaching_an_attribute_to_initialise_it_counts() -> None:
    evidence = _evidence(
        """
        def reset_parameters(self):
            glorot(self.a)
        def forward(self, x):
            nn.init.normal_(self.b)
            self.c.data.uniform_(-1, 1)
            self.d.data[0] = 1.0
            getattr(self, "e")
            self.register_parameter("f", nn.Parameter(torch.empty(3)))
            self.g = nn.Parameter(torch.empty(3))
            for p in [self.h, self.i]:
                init.zeros_(p)
            propagate(self.j)
        """
    )
    assert [name in evidence for name in "abcdefghij"] == [
        *(True,) * 5,
        False,  # register_parameter's own name is no evidence
        False,  # created from uninitialised memory
        True,
        True,
        False,  # a call outside any init-like function, without a telling name
    ]


def test_a_loop_initialising_parameters_covers_every_name() -> None:
    evidence = _evidence(
        """
        def setup(model):
            for p in model.parameters():
                nn.init.normal_(p)
        """
    )
    assert "anything" in evidence


def test_bases_are_visible_when_torch_or_defined_here() -> None:
    context = _context(
        """
        from torch import nn
        from timm.models import VisionTransformer
        class Base(nn.Module):
            pass
        class Local(Base):
            pass
        class Imported(VisionTransformer):
            pass
        class OnImported(Imported):
            pass
        """
    )
    models = context.get(file_model).by_name
    visible = [
        bases_in_file(context, models[n])
        for n in ("Base", "Local", "Imported", "OnImported")
    ]
    assert visible == [True, True, False, False]


def test_gate_weights_from_biased_scores_are_found_where_they_weight_outputs() -> None:
    context = _context(
        """
        def route(self, scores, x, k):
            weights, idx = (scores + self.expert_bias).topk(k)
            clean = scores.gather(-1, idx)
            return weights * x, clean * x
        """
    )
    function = context.module.body[0]
    assert isinstance(function, cst.FunctionDef)
    walker = GateWalker(context.imports, {"expert_bias"})
    walker.run(function)
    found = [cst.Module([]).code_for_node(n) for n in dict.fromkeys(walker.found)]
    assert found == ["(scores + self.expert_bias).topk(k)"]
    unbiased = GateWalker(context.imports, {"other_bias"})
    unbiased.run(function)
    assert unbiased.found == []
