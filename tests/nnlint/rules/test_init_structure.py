"""Initialisation (NNL2xx) and structure (NNL3xx) rules beyond their own examples."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from nnlint.engine.fixer import apply_fixes
from nnlint.engine.lint_source import lint_module, lint_source
from nnlint.rules import rule_by_code


def _rule(code: str):  # type: ignore[no-untyped-def]
    rule = rule_by_code(code)
    assert rule is not None, code
    return rule


def _positions(code: str, source: str) -> list[tuple[int, int]]:
    source = textwrap.dedent(source)
    findings = lint_source(source, "model.py", [_rule(code)])
    return [(f.line, f.column) for f in findings if f.code == code]


def _messages(code: str, source: str) -> list[str]:
    source = textwrap.dedent(source)
    return [f.message for f in lint_source(source, "model.py", [_rule(code)])]


def _fixed(code: str, source: str) -> str:
    module = cst.parse_module(textwrap.dedent(source))
    findings = lint_module(module, "model.py", [_rule(code)])
    assert findings, "expected a finding"
    return apply_fixes(module, findings, unsafe=True)


# -- NNL201 zero-init-stacked-layers ---------------------------------------------------


def test_nnl201_conv_stack_through_norm_and_reshape() -> None:
    source = """
        import torch.nn as tnn
        from torch.nn import init as I
        class Encoder(tnn.Module):
            def __init__(self):
                super().__init__()
                self.stem = tnn.Conv2d(3, 32, 3)
                self.norm = tnn.GroupNorm(8, 32)
                self.proj = tnn.Conv2d(32, 64, 1)
                I.constant_(self.stem.weight, 0.5)
            def forward(self, images):
                feats = self.norm(self.stem(images))
                feats = feats.flatten(2).view(1, 32, -1, 1)
                return self.proj(feats)
    """
    assert _positions("NNL201", source) == [(10, 9)]
    assert "feeds `proj`" in _messages("NNL201", source)[0]


def test_nnl201_both_stacked_layers_constant_says_so() -> None:
    source = """
        from torch import nn
        class Autoenc(nn.Module):
            def __init__(self):
                super().__init__()
                self.down = nn.Linear(16, 4)
                self.up = nn.Linear(4, 16)
                nn.init.ones_(self.down.weight)
                self.up.weight.data.fill_(1.0)
            def forward(self, sig):
                return self.up(self.down(sig))
    """
    assert _positions("NNL201", source) == [(8, 9)]
    assert "stacked layers `down` and `up`" in _messages("NNL201", source)[0]


def test_nnl201_parallel_heads_and_zeroed_residual_projection_are_fine() -> None:
    source = """
        from torch import nn
        class Heads(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.fc = nn.Linear(d, 4 * d)
                self.proj = nn.Linear(4 * d, d)
                self.cls_head = nn.Linear(d, 10)
                self.box_head = nn.Linear(d, 4)
                nn.init.zeros_(self.proj.weight)
                nn.init.zeros_(self.cls_head.weight)
                nn.init.zeros_(self.box_head.weight)
            def forward(self, tokens):
                tokens = tokens + self.proj(self.fc(tokens).relu())
                return self.cls_head(tokens), self.box_head(tokens)
    """
    assert _positions("NNL201", source) == []


# -- NNL202 uninitialised-parameter ----------------------------------------------------


def test_nnl202_reports_only_the_parameter_left_uninitialised() -> None:
    source = """
        import torch
        import torch.nn as tnn
        class Bilinear(tnn.Module):
            def __init__(self, n):
                super().__init__()
                self._build(n)
            def _build(self, n):
                self.left = tnn.Parameter(torch.Tensor(n, n))
                self.right = tnn.Parameter(torch.Tensor(n, n))
                self.data_init = tnn.Parameter(torch.Tensor((3, 4)))
                self._reset()
            def _reset(self):
                tnn.init.xavier_normal_(self.left)
    """
    assert _positions("NNL202", source) == [(10, 36)]
    assert "`self.right`" in _messages("NNL202", source)[0]


def test_nnl202_list_loop_init_and_quantised_storage_are_fine() -> None:
    source = """
        import torch
        from torch import nn
        from torch.nn import init
        class RelAttn(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.q = nn.Parameter(torch.FloatTensor(d, d))
                self.k = nn.Parameter(torch.FloatTensor(d, d))
        class QuantLinear(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.weight = nn.Parameter(torch.empty(d, d, dtype=torch.int8))
                self.scales = nn.Parameter(torch.empty(d))
        class FrozenTable(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.table = nn.Parameter(torch.empty(d), requires_grad=False)
        def _init_weights(module):
            if isinstance(module, RelAttn):
                for param in [module.q, module.k]:
                    init.normal_(param, std=0.02)
    """
    assert _positions("NNL202", source) == []


def test_nnl202_plain_class_placeholder_and_copied_data_are_ignored() -> None:
    source = """
        import torch
        from torch import nn
        class Holder:
            def __init__(self):
                self.p = nn.Parameter(torch.empty(3))
        class Lazy(nn.Module):
            def __init__(self):
                super().__init__()
                self.p = nn.Parameter(torch.empty(0))
                self.copied = nn.Parameter(torch.Tensor(values))
        class Distilled(VisionTransformer):
            def __init__(self):
                super().__init__()
                self.pos_embed = nn.Parameter(torch.empty(1, 8, 4))
                self.init_weights()
    """
    assert _positions("NNL202", source) == []


# -- NNL301 residual-width-mismatch ----------------------------------------------------


def test_nnl301_nested_chain_and_pooling() -> None:
    source = """
        from torch import nn
        class Ffn(nn.Module):
            def __init__(self, width, hidden, width_out):
                super().__init__()
                self.up = nn.Linear(width, hidden)
                self.act = nn.GELU()
                self.down = nn.Linear(hidden, width_out)
                self.pool = nn.AvgPool2d(2)
            def forward(self, seq, img):
                seq = seq + self.down(self.act(self.up(seq)))
                return seq, img + self.pool(img)
        ffn = Ffn(width=256, hidden=1024, width_out=128)
    """
    assert _positions("NNL301", source) == [(11, 15), (12, 21)]
    message = _messages("NNL301", source)[0]
    assert "builds `Ffn` with width=256, width_out=128" in message
    # Without that call only the pooling (a stride, not a width) is provable.
    assert _positions("NNL301", source.replace("ffn = ", "# ")) == [(12, 21)]


def test_nnl301_compared_widths_and_literal_equal_widths_are_fine() -> None:
    source = """
        from torch import nn
        class Adapter(nn.Module):
            def __init__(self, a, b):
                super().__init__()
                assert a == b
                self.fc = nn.Linear(a, b)
                self.same = nn.Linear(64, 64)
            def forward(self, z):
                return z + self.fc(z) + self.same(z)
    """
    assert _positions("NNL301", source) == []


def test_nnl301_skip_replaced_on_one_branch_only_is_unknown() -> None:
    # timm's DLA: ``shortcut`` is ``x`` only when the caller passed none.
    source = """
        from torch import nn
        class DlaBasic(nn.Module):
            def __init__(self, inplanes, planes):
                super().__init__()
                self.conv = nn.Conv2d(inplanes, planes, 3, padding=1)
            def forward(self, x, shortcut=None):
                if shortcut is None:
                    shortcut = x
                out = self.conv(x)
                out += shortcut
                return out
    """
    assert _positions("NNL301", source) == []
    unconditional = """
        from torch import nn
        class DlaBasic(nn.Module):
            def __init__(self, inplanes, planes):
                super().__init__()
                self.conv = nn.Conv2d(inplanes, planes, 3, padding=1)
            def forward(self, x):
                shortcut = x
                out = self.conv(x)
                out += shortcut
                return out
        level = DlaBasic(64, 128)
    """
    assert _positions("NNL301", unconditional) == [(10, 9)]


def test_nnl301_parameter_widths_need_a_call_with_different_literals() -> None:
    block = textwrap.dedent(
        """
        from torch import nn
        class Unit(nn.Module):
            def __init__(self, c_in, c_out, k=1, *, c_mid=32):
                super().__init__()
                self.conv = nn.Conv1d(c_in, c_out, k)
            def forward(self, x):
                return x + self.conv(x)
        """
    )
    proofs = [
        "u = Unit(16, 32)",
        "u = Unit(c_out=32, c_in=16)",
        "u = Unit(16, c_out=8, k=3)",
        "us = [Unit(8, 8), Unit(4, 0x10)]",
    ]
    for call in proofs:
        assert _positions("NNL301", block + call) == [(8, 16)], call
    no_proofs = [
        "",  # never built here
        "u = Unit(16, 16)",
        "u = Unit(c_in=8, c_out=8, c_mid=64)",  # c_mid is not a width of the add
        "u = Unit(16, width)",
        "u = Unit(*widths)",
        "u = Unit(16, **cfg)",
        "u = Unit(16)",  # c_out has no default: a TypeError, not a width
        "u = Unit(1, 1, 1, 2)",  # more positionals than parameters: unbindable
        "u = other.Unit(16, 32)",  # another module's Unit
    ]
    for call in no_proofs:
        assert _positions("NNL301", block + call) == [], call


def test_nnl301_defaults_and_ambiguous_class_names() -> None:
    source = textwrap.dedent(
        """
        from torch import nn
        class Unit(nn.Module):
            def __init__(self, c_in=64, c_out=64):
                super().__init__()
                self.fc = nn.Linear(c_in, c_out)
            def forward(self, x):
                return x + self.fc(x)
        a, b = Unit(), Unit(c_out=64)
        """
    )
    assert _positions("NNL301", source) == []
    assert _positions("NNL301", source + "c = Unit(32)\n") == [(8, 16)]
    twice = (
        source + "if FAST:\n    class Unit(nn.Module):\n        pass\nc = Unit(32)\n"
    )
    assert _positions("NNL301", twice) == []  # which ``Unit`` is built is unclear


# -- NNL302 self-add-skip --------------------------------------------------------------


def test_nnl302_fix_uses_the_block_input() -> None:
    source = """
        import torch.nn as tnn
        class Residual(tnn.Module):
            def forward(self, inp):
                y = self.layer(inp)
                return y + y
    """
    assert _fixed("NNL302", source).splitlines()[-1] == "        return inp + y"


def test_nnl302_no_fix_when_the_input_was_rebound() -> None:
    source = """
        import torch.nn as tnn
        class Residual(tnn.Module):
            def forward(self, inp):
                y = self.layer(inp)
                inp = self.other(inp)
                return y + y
    """
    module = cst.parse_module(textwrap.dedent(source))
    findings = lint_module(module, "model.py", [_rule("NNL302")])
    assert [(f.line, f.column, f.fix) for f in findings] == [(7, 16, None)]


def test_nnl302_integer_arguments_are_not_tensors() -> None:
    source = """
        from torch import nn
        class Pad(nn.Module):
            def forward(self, x, pad: int):
                return x[..., pad + pad:]
    """
    assert _positions("NNL302", source) == []


# -- NNL303 unregistered-submodules ----------------------------------------------------


def test_nnl303_dict_comprehension_with_string_keys_is_fixed() -> None:
    source = """
        import torch.nn as tnn
        class Experts(tnn.Module):
            def __init__(self, names):
                super().__init__()
                self.experts = {f"e{n}": tnn.Linear(4, 4) for n in names}
    """
    fixed = _fixed("NNL303", source)
    assert (
        'self.experts = tnn.ModuleDict({f"e{n}": tnn.Linear(4, 4) for n in names})'
        in fixed
    )


def test_nnl303_int_keys_are_reported_without_fix() -> None:
    source = """
        from torch import nn
        class ByDepth(nn.Module):
            def __init__(self):
                super().__init__()
                self.by_depth = {1: nn.Linear(4, 4), 2: nn.Linear(4, 4)}
    """
    module = cst.parse_module(textwrap.dedent(source))
    findings = lint_module(module, "model.py", [_rule("NNL303")])
    assert [(f.line, f.column, f.fix) for f in findings] == [(6, 25, None)]


def test_nnl303_list_rewrapped_later_is_fine() -> None:
    source = """
        from torch import nn
        class Stack(nn.Module):
            def __init__(self):
                super().__init__()
                self.stages = [nn.Conv2d(3, 3, 1)]
                self.stages = nn.ModuleList(self.stages)
    """
    assert _positions("NNL303", source) == []


def test_nnl303_parameter_free_modules_in_a_dict_are_harmless() -> None:
    source = """
        from torch.nn import CrossEntropyLoss, GELU, Module, SmoothL1Loss
        class Pretraining(Module):
            def __init__(self):
                super().__init__()
                self.loss_fcts = {"l2": SmoothL1Loss(), "ce": CrossEntropyLoss()}
                self.acts = [GELU(), GELU()]
    """
    assert _positions("NNL303", source) == []


# -- NNL304 discarded-module-output ----------------------------------------------------


def test_nnl304_nested_blocks_and_in_place_forms() -> None:
    source = """
        import torch
        import torch.nn.functional as F
        from torch import nn
        class Tower(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm1d(4)
            def forward(self, feats):
                with torch.no_grad():
                    self.bn(feats)
                F.relu_(feats)
                F.gelu(feats)
                return feats
    """
    assert _positions("NNL304", source) == [(11, 13), (13, 9)]


# -- NNL305 inplace-activation-on-skip -------------------------------------------------


def test_nnl305_functional_fix_with_other_names() -> None:
    source = """
        import torch.nn.functional as F
        import torch.nn as tnn
        class Pre(tnn.Module):
            def forward(self, sig):
                shortcut = sig
                sig = F.relu(sig, inplace=True)
                return self.body(sig) + shortcut
    """
    fixed = _fixed("NNL305", source)
    assert "sig = F.relu(sig, inplace=False)" in fixed
    assert _positions("NNL305", fixed) == []


def test_nnl305_explicit_method_with_alias_and_rebound_alias() -> None:
    source = """
        from torch import nn
        class Pre(nn.Module):
            def forward(self, sig):
                keep = sig
                sig.relu_()
                return self.body(sig) + keep
        class Fine(nn.Module):
            def forward(self, sig):
                keep = sig
                keep = self.proj(keep)
                sig.relu_()
                return self.body(sig) + keep
    """
    assert _positions("NNL305", source) == [(6, 9)]


@pytest.mark.parametrize(
    "code", ["NNL201", "NNL202", "NNL301", "NNL302", "NNL303", "NNL304", "NNL305"]
)
def test_rules_ignore_files_without_classes(code: str) -> None:
    assert _positions(code, "import torch\nx = torch.zeros(3) + torch.empty(3)\n") == []


# -- module_model (shared by the rules above) -----------------------------------------


def _model_of(source: str):  # type: ignore[no-untyped-def]
    from nnlint.analysis.module_model import file_model
    from nnlint.analysis.names import ImportMap
    from nnlint.rules.base import RuleContext

    module = cst.parse_module(textwrap.dedent(source))
    context = RuleContext("m.py", module, ImportMap.from_module(module))
    return context, context.get(file_model)


def test_module_model_is_built_once_per_file_and_reads_constructors() -> None:
    from nnlint.analysis.module_model import file_model

    context, model = _model_of(
        """
        import torch.nn as tnn
        class Block(tnn.Module):
            def __init__(self, d):
                super().__init__()
                self.mlp = tnn.Sequential(tnn.Linear(d, 2 * d), tnn.GELU())
                self.norm = tnn.LayerNorm(d) if d else tnn.Identity()
        class NotAModule:
            pass
        """
    )
    assert context.get(file_model) is model
    block = model.by_name["Block"]
    assert block.is_module
    assert not model.by_name["NotAModule"].is_module
    mlp = block.layer("mlp")
    assert mlp is not None
    assert mlp.kind == "torch.nn.Sequential"
    assert [e.kind for e in mlp.elements or ()] == ["torch.nn.Linear", "torch.nn.GELU"]
    # One assignment, two alternatives: no single constructor to reason about.
    assert block.layer("norm") is None
    assert [layer.kind for layer in block.layers["norm"]] == [
        "torch.nn.LayerNorm",
        "torch.nn.Identity",
    ]


def test_forward_flow_follows_chains_and_merges_branches() -> None:
    _, model = _model_of(
        """
        from torch import nn
        class Block(nn.Module):
            def forward(self, x, flag):
                h = self.fc(x).view(2, -1)
                skip = x
                if flag:
                    skip = self.down(x)
                return h + x, h + skip
        """
    )
    block = model.by_name["Block"]
    flow = block.flow(block.methods["forward"])
    first, second = flow.adds
    chain, skip = first.flows
    assert chain is not None
    assert skip is not None
    assert chain.steps == ("fc", "~")
    assert chain.root == skip.root
    merged = second.flows[1]
    assert merged is not None
    assert merged.root != skip.root  # ``skip`` is ``x`` on one branch only
    assert [a.attr for a in flow.applications] == ["fc", "down"]
