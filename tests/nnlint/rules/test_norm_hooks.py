"""Normalisation (NNL4xx) and hooks/API (NNL5xx) rules beyond their own examples."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from nnlint.engine.fixer import apply_fixes
from nnlint.engine.lint_source import (
    check_source,
    lint_module,
    lint_source,
    should_parse,
)
from nnlint.rules import rule_by_code
from nnlint.rules.base import Rule


def _rule(code: str) -> type[Rule]:
    rule = rule_by_code(code)
    assert rule is not None, code
    return rule


def positions(code: str, source: str) -> list[tuple[int, int]]:
    source = textwrap.dedent(source)
    findings = lint_source(source, "model.py", [_rule(code)])
    return [(f.line, f.column) for f in findings if f.code == code]


def fixed(code: str, source: str) -> str:
    module = cst.parse_module(textwrap.dedent(source))
    findings = lint_module(module, "model.py", [_rule(code)])
    result = apply_fixes(module, findings, unsafe=True)
    again = lint_module(cst.parse_module(result), "model.py", [_rule(code)])
    assert all(f.fix is None for f in again), "fix is not idempotent"
    return result


# -- NNL401 post-ln-in-deep-stack ---------------------------------------------------

POST_LN_BLOCK = """\
    from torch import nn

    class Enc(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.mix = nn.Linear(width, width)
            self.drop = nn.Dropout(0.1)
            self.ln_a = nn.LayerNorm(width)

        def forward(self, s):
            m = self.mix(s)
            m = self.drop(m)
            s = self.ln_a(s + m)
            return s
"""


def test_nnl401_post_ln_found_through_intermediate_variables_and_nested_stacks() -> (
    None
):
    source = POST_LN_BLOCK + (
        "\n"
        "    class Stage(nn.Module):\n"
        "        def __init__(self):\n"
        "            super().__init__()\n"
        "            self.encs = nn.ModuleList([Enc(32) for _ in range(4)])\n"
        "\n"
        "    trunk = nn.Sequential(*[Stage() for _ in range(3)])\n"
    )
    findings = lint_source(textwrap.dedent(source), "m.py", [_rule("NNL401")])
    assert [(f.line, f.column) for f in findings] == [(13, 13)]
    assert "stacked 12 deep" in findings[0].message


def test_nnl401_post_ln_shallow_product_of_stacks_is_not_reported() -> None:
    source = POST_LN_BLOCK + (
        "\n"
        "    class Stage(nn.Module):\n"
        "        def __init__(self):\n"
        "            super().__init__()\n"
        "            self.encs = nn.ModuleList([Enc(32) for _ in range(3)])\n"
        "\n"
        "    trunk = nn.Sequential(*[Stage() for _ in range(2)])\n"
    )
    assert positions("NNL401", source) == []


@pytest.mark.parametrize(
    ("loop", "expected"),
    [
        ("for k in range(2, 10):", [(13, 13)]),
        ("for k in range(depth):", [(13, 13)]),
        ("for k, _ in enumerate(range(10)):", []),  # not a plain range: unknown
        ("for k in range(cfg.layers):", []),
    ],
)
def test_nnl401_post_ln_loop_depths(loop: str, expected: list[tuple[int, int]]) -> None:
    source = POST_LN_BLOCK + (
        "\n"
        "    def build(cfg, depth=9):\n"
        "        stack = nn.ModuleList()\n"
        f"        {loop}\n"
        "            stack.append(Enc(16))\n"
        "        return stack\n"
    )
    assert positions("NNL401", source) == expected


def test_nnl401_post_ln_filtered_comprehension_is_unknown_depth() -> None:
    source = POST_LN_BLOCK + "\n    s = [Enc(8) for i in range(20) if i % 2]\n"
    assert positions("NNL401", source) == []


def test_nnl401_loop_sum_then_norm_is_a_final_norm_not_post_ln() -> None:
    source = """\
        from torch import nn

        class Tower(nn.Module):
            def __init__(self):
                super().__init__()
                self.blks = nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])
                self.final = nn.LayerNorm(8)

            def forward(self, v):
                for blk in self.blks:
                    v = v + blk(v)
                return self.final(v)

        towers = nn.ModuleList([Tower() for _ in range(10)])
    """
    assert positions("NNL401", source) == []


def test_nnl401_functional_layer_norm_post_ln_block() -> None:
    source = """\
        import torch
        import torch.nn.functional as F

        class Unit(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.ff = torch.nn.Linear(4, 4)

            def forward(self, z):
                return F.layer_norm(z + self.ff(z), (4,))

        units = torch.nn.Sequential(*(Unit() for _ in range(7)))
    """
    assert positions("NNL401", source) == [(10, 16)]


def test_nnl401_torch_transformer_variants() -> None:
    source = """\
        from torch import nn
        DEPTH = 10
        dec_layer = nn.TransformerDecoderLayer(64, 4, norm_first=False)
        dec = nn.TransformerDecoder(dec_layer, DEPTH)
        pre_ln = nn.TransformerEncoderLayer(64, 4, norm_first=True)
        pre = nn.TransformerEncoder(pre_ln, 24)
        shallow = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4), num_layers=6)
        custom = nn.Transformer(num_encoder_layers=12, custom_encoder=my_encoder)
        deep_dec = nn.Transformer(64, 4, 6, 8)
    """
    assert positions("NNL401", source) == [(3, 13), (9, 12)]


# -- NNL402 norm-over-wrong-axes -----------------------------------------------------


def test_nnl402_conv_norm_through_activation_statements() -> None:
    source = """\
        from torch import nn

        class Stem(nn.Module):
            def __init__(self, ch):
                super().__init__()
                self.c1 = nn.Conv3d(1, ch, 3)
                self.act = nn.GELU()
                self.n1 = nn.RMSNorm(ch)

            def forward(self, vol):
                vol = self.c1(vol)
                vol = self.act(vol)
                vol = self.n1(vol)
                return vol
    """
    assert positions("NNL402", source) == [(13, 15)]


def test_nnl402_conv_norm_in_lists_and_sequential_subclasses() -> None:
    source = """\
        import torch.nn as tnn

        class Up(tnn.Sequential):
            def __init__(self, k, c):
                super().__init__(tnn.ConvTranspose2d(k, c, 2), tnn.LayerNorm(c))

        mods = [tnn.LazyConv1d(24, 3), tnn.Dropout(0.1), tnn.LayerNorm(24)]
        ok = [tnn.Conv1d(3, 24, 3), tnn.LayerNorm(width)]
    """
    assert positions("NNL402", source) == [(5, 56), (7, 50)]


def test_nnl402_conv_output_permuted_before_norm_is_fine() -> None:
    source = """\
        from torch import nn

        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.dw = nn.Conv2d(d, d, 7, padding=3, groups=d)
                self.norm = nn.LayerNorm(d)

            def forward(self, t):
                t = self.dw(t)
                t = t.permute(0, 2, 3, 1)
                return self.norm(t)
    """
    assert positions("NNL402", source) == []


# -- NNL403 bias-before-batchnorm ------------------------------------------------------


def test_nnl403_bias_fix_positional_true_and_trailing_comma() -> None:
    source = """\
        from torch import nn
        a = nn.Sequential(nn.Linear(4, 8, True), nn.BatchNorm1d(8))
        b = nn.Sequential(
            nn.Conv1d(
                2,
                6,
                kernel_size=5,
            ),
            nn.BatchNorm1d(6),
        )
    """
    assert positions("NNL403", source) == [(2, 19), (4, 5)]
    assert fixed("NNL403", source) == textwrap.dedent(
        """\
        from torch import nn
        a = nn.Sequential(nn.Linear(4, 8, False), nn.BatchNorm1d(8))
        b = nn.Sequential(
            nn.Conv1d(
                2,
                6,
                kernel_size=5,
                bias=False,
            ),
            nn.BatchNorm1d(6),
        )
        """
    )


def test_nnl403_bias_name_bound_layer_in_list() -> None:
    source = """\
        from torch import nn

        def make_layers(widths):
            layers = []
            for w in widths:
                proj = nn.Conv2d(3, w, 3, padding=1)
                layers += [proj, nn.BatchNorm2d(w), nn.ReLU()]
            return nn.Sequential(*layers)
    """
    assert positions("NNL403", source) == [(6, 16)]
    assert "nn.Conv2d(3, w, 3, padding=1, bias=False)" in fixed("NNL403", source)


def test_nnl403_bias_layer_also_used_without_batchnorm_is_fine() -> None:
    # torchvision's VGG: the same conv is followed by BN only in one configuration.
    source = """\
        from torch import nn

        def make_layers(widths, batch_norm):
            layers = []
            for w in widths:
                conv = nn.Conv2d(3, w, 3, padding=1)
                if batch_norm:
                    layers += [conv, nn.BatchNorm2d(w)]
                else:
                    layers += [conv, nn.ReLU()]
            return layers
    """
    assert positions("NNL403", source) == []


def test_nnl403_bias_read_elsewhere_or_layer_reused_is_fine() -> None:
    source = """\
        from torch import nn

        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(3, 3)
                self.bn = nn.BatchNorm1d(3)
                nn.init.zeros_(self.lin.bias)

            def forward(self, q):
                return self.bn(self.lin(q))

        class B(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(3, 3)
                self.bn = nn.BatchNorm1d(3)

            def forward(self, q):
                return self.bn(self.lin(q)) + self.lin(q)

        c = nn.Sequential(nn.Conv2d(1, 1, 1, **opts), nn.BatchNorm2d(1))
    """
    assert positions("NNL403", source) == []


def test_nnl403_bias_sequential_subclass_and_ordered_dict() -> None:
    source = """\
        from collections import OrderedDict
        import torch

        class ConvNorm(torch.nn.Sequential):
            def __init__(self, a, b):
                super().__init__(torch.nn.Conv2d(a, b, 1), torch.nn.BatchNorm2d(b))

        head = torch.nn.Sequential(OrderedDict([
            ("lin", torch.nn.Linear(9, 9, bias=True)),
            ("bn", torch.nn.BatchNorm1d(9)),
        ]))
    """
    assert positions("NNL403", source) == [(6, 26), (9, 13)]


# -- NNL404 dropout-before-batchnorm --------------------------------------------------


def test_nnl404_dropout_before_bn_statements_and_lists() -> None:
    source = """\
        import torch.nn.functional as F
        from torch import nn

        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm1d(10)

            def forward(self, emb):
                emb = F.dropout(emb, p=0.2, training=self.training)
                emb = self.bn(emb)
                off = F.dropout(emb, 0.2, False)
                return self.bn(off)

        parts = []
        parts += [nn.Dropout2d(.1), nn.BatchNorm2d(4), nn.Dropout(0), nn.BatchNorm2d(4)]
    """
    assert positions("NNL404", source) == [(10, 15), (16, 11)]


# -- NNL501 register-backward-hook ----------------------------------------------------


def test_nnl501_register_backward_hook_inside_module_and_chained() -> None:
    source = """\
        import torch

        class Tracer(torch.nn.Module):
            def attach(self, net):
                self.register_backward_hook(self._record)
                net.layer1[0].conv.register_backward_hook(self._record)
                torch.nn.modules.module.register_module_backward_hook(self._record)
    """
    assert positions("NNL501", source) == [(5, 14), (6, 28), (7, 33)]
    result = fixed("NNL501", source)
    assert "self.register_full_backward_hook(self._record)" in result
    assert "net.layer1[0].conv.register_full_backward_hook(self._record)" in result
    assert "module.register_module_full_backward_hook(self._record)" in result


def test_nnl501_register_backward_hook_trigger_is_tight() -> None:
    rule = _rule("NNL501")
    assert not should_parse("model.register_forward_hook(f)\n", [rule])
    assert should_parse("model.register_backward_hook(f)\n", [rule])


# -- NNL502 data-in-forward -----------------------------------------------------------


def test_nnl502_data_in_forward_reads_writes_and_conditions() -> None:
    source = """\
        import torch
        from torch import nn

        class Net(nn.Module):
            def forward(self, inp: torch.Tensor, meta: dict):
                self.cache = inp.data
                if inp.data.abs().max() > 1:
                    inp = inp / 2
                self.head.weight.data[0] = 0
                scale = self.head.bias.data * 2
                return self.head(inp.data) * scale + meta.data

            def probe(self, inp):
                return inp.data
    """
    assert positions("NNL502", source) == [(10, 17), (11, 26)]
    result = fixed("NNL502", source)
    assert "scale = self.head.bias * 2" in result
    assert "return self.head(inp) * scale + meta.data" in result


def test_nnl502_data_on_inherited_layer_parameters() -> None:
    source = """\
        from torch import nn
        import torch.nn.functional as F

        class FrozenLinear(nn.Linear):
            def forward(self, v):
                return F.linear(v, self.weight.data, self.bias.data)

        class Wrapper(nn.Module):
            def forward(self, v):
                return v + self.weight.data
    """
    assert positions("NNL502", source) == [(6, 28), (6, 46)]


def test_nnl502_data_packed_sequence_file_needs_tensor_annotation() -> None:
    source = """\
        from torch import Tensor, nn
        from torch.nn.utils.rnn import PackedSequence

        class Rnn(nn.Module):
            def forward(self, packed, lengths: Tensor):
                return packed.data, lengths.data
    """
    assert positions("NNL502", source) == [(6, 29)]


def test_nnl401_stack_in_another_statement_survives_partial_parsing() -> None:
    # The CLI parses only top-level statements that contain a trigger word; the
    # model class below has no norm of its own, only the stack.
    source = POST_LN_BLOCK + (
        "\n"
        "    class Model(nn.Module):\n"
        "        def __init__(self):\n"
        "            super().__init__()\n"
        "            self.encs = nn.ModuleList([Enc(32) for _ in range(8)])\n"
        "\n"
        "    def make_model():\n"
        "        return Model()\n"
    )
    findings, _ = check_source(
        textwrap.dedent(source), "m.py", [_rule("NNL401")], prune=True
    )
    assert [(f.line, f.column) for f in findings] == [(13, 13)]


def test_nnl402_batchnorm_over_batch_first_rnn_outputs() -> None:
    source = """\
        from torch import nn

        class Seq(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = nn.RNN(4, 12, batch_first=True)
                self.dec = nn.GRU(12, 12)
                self.bn_a = nn.BatchNorm1d(12)
                self.bn_b = nn.BatchNorm1d(12)

            def forward(self, series):
                a = self.bn_a(self.enc(series)[0])
                b = self.dec(series)[0]
                b = self.bn_b(b)
                return a + b
    """
    # ``dec`` is not batch_first: its (T, N, H) layout is not assumed.
    assert positions("NNL402", source) == [(12, 13)]


def test_nnl401_in_place_residual_add_then_norm() -> None:
    source = """\
        from torch import nn

        class Inplace(nn.Module):
            def __init__(self):
                super().__init__()
                self.ff = nn.Linear(8, 8)
                self.ln = nn.LayerNorm(8)

            def forward(self, r):
                r += self.ff(r)
                r = self.ln(r)
                r *= 2
                return self.ln(r)

        towers = nn.ModuleList([Inplace() for _ in range(8)])
    """
    assert positions("NNL401", source) == [(11, 13)]


def test_nnl403_weight_init_does_not_hide_the_finding_but_module_escape_does() -> None:
    source = """\
        from torch import nn

        class Stem(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)
                nn.init.kaiming_normal_(self.conv.weight)

            def forward(self, img):
                return self.bn(self.conv(img))

        class Shared(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)
                self.other = Head(self.conv)

            def forward(self, img):
                return self.bn(self.conv(img))
    """
    assert positions("NNL403", source) == [(6, 21)]
