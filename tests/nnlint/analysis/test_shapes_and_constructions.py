"""What a chain of submodules does to a tensor's shape, and the integers a class's
``__init__`` parameters take where the file builds it (``layer_shapes``,
``constructions``), asked directly rather than through NNL301."""

from __future__ import annotations

import textwrap

import libcst as cst

from nnlint.analysis.constructions import (
    bound,
    class_calls,
    class_constants,
    evaluate,
    init_parameters,
    related,
)
from nnlint.analysis.context import AnalysisContext
from nnlint.analysis.layer_shapes import chain_shape
from nnlint.analysis.module_model import ClassModel, file_model
from nnlint.analysis.names import ImportMap


def _context(source: str) -> AnalysisContext:
    module = cst.parse_module(textwrap.dedent(source))
    return AnalysisContext("m.py", module, ImportMap.from_module(module))


def _code(node: cst.CSTNode | None) -> str | None:
    return None if node is None else cst.Module([]).code_for_node(node)


def _expression(source: str) -> cst.BaseExpression:
    return cst.parse_expression(source)


BOTTLENECK = """
    from torch import nn
    class Block(nn.Module):
        expansion = 4
        def __init__(self, inplanes, planes=16):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1)
            self.bn = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes * self.expansion, 3, stride=2)
            self.smooth = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.custom = make_layer(planes)
    a = Block(64)
    b = Block(32, planes=8)
    """


def _block(source: str = BOTTLENECK) -> tuple[AnalysisContext, ClassModel]:
    context = _context(source)
    return context, context.get(file_model).by_name["Block"]


def test_a_chain_reports_its_first_input_width_last_output_width_and_resizing() -> None:
    _, block = _block()
    shape = chain_shape(("conv1", "bn", "conv2"), block)
    assert shape is not None
    assert (_code(shape.width_in), _code(shape.width_out)) == (
        "inplanes",
        "planes * self.expansion",
    )
    assert shape.spatial == "down"  # stride 2


def test_padding_that_keeps_the_size_and_a_pool_that_halves_it() -> None:
    _, block = _block()
    kept = chain_shape(("smooth",), block)
    assert kept is not None
    assert kept.spatial == "same"
    pooled = chain_shape(("smooth", "pool"), block)
    assert pooled is not None
    assert pooled.spatial == "down"
    assert _code(pooled.width_out) == "planes"


def test_a_chain_through_a_layer_it_cannot_read_has_no_shape() -> None:
    _, block = _block()
    assert chain_shape(("conv1", "custom"), block) is None
    assert chain_shape(("missing",), block) is None


def test_each_construction_binds_literals_passed_or_defaulted() -> None:
    context, block = _block()
    init = block.methods["__init__"]
    calls = class_calls(context, block)
    assert [bound(init, call) for call in calls] == [
        {"inplanes": 64, "planes": 16},
        {"inplanes": 32, "planes": 8},
    ]
    assert bound(init, None) == {"planes": 16}  # the defaults alone


def test_star_arguments_or_too_many_positionals_cannot_be_bound() -> None:
    more = "c = Block(*sizes)\nd = Block(1, 2, 3)\n"
    context, block = _block(textwrap.dedent(BOTTLENECK) + more)
    init = block.methods["__init__"]
    assert [bound(init, call) for call in class_calls(context, block)][2:] == [
        None,
        None,
    ]


def test_a_width_expression_evaluates_under_a_binding_and_the_class_constants() -> None:
    _, block = _block()
    constants = class_constants(block.node)
    assert constants == {"expansion": 4}
    width = _expression("planes * self.expansion")
    assert evaluate(width, {"planes": 16}, constants) == 64
    assert evaluate(_expression("(planes + 2) // 3 - 1"), {"planes": 16}, {}) == 5
    assert evaluate(width, {}, constants) is None  # planes unbound
    assert evaluate(_expression("planes // 0"), {"planes": 4}, {}) is None
    assert init_parameters(width, block) == {"planes"}


def test_two_classes_of_one_name_leave_every_call_ambiguous() -> None:
    context, block = _block(textwrap.dedent(BOTTLENECK) + "class Block:\n    pass\n")
    assert class_calls(context, block) == []


def test_init_relates_two_widths_it_compares_or_rebinds() -> None:
    context = _context(
        """
        class A:
            def __init__(self, c_in, c_out):
                self.skip = c_in == c_out
        class B:
            def __init__(self, c_in, c_out=None):
                c_out = c_out or c_in
        class C:
            def __init__(self, c_in, c_out):
                self.fc = Linear(c_in, c_out)
        """
    )
    models = context.get(file_model).by_name
    names = {"c_in", "c_out"}
    assert [related(models[n].methods["__init__"], names) for n in "ABC"] == [
        True,
        True,
        False,
    ]
