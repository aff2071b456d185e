"""The forward pass and the class model it hangs off, queried as the rules do."""

from __future__ import annotations

import textwrap

import libcst as cst

from nnlint.analysis.context import AnalysisContext
from nnlint.analysis.forward_flow import ForwardFlow
from nnlint.analysis.module_model import ClassModel, class_model, file_model
from nnlint.analysis.names import ImportMap


def _context(source: str) -> AnalysisContext:
    module = cst.parse_module(textwrap.dedent(source))
    return AnalysisContext("m.py", module, ImportMap.from_module(module))


def _forward(source: str, name: str = "Block") -> tuple[ClassModel, ForwardFlow]:
    model = _context(source).get(file_model).by_name[name]
    return model, model.flow(model.methods["forward"])


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def test_an_inplace_module_overwrites_the_tensor_the_skip_still_names() -> None:
    _, flow = _forward(
        """
        from torch import nn
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.ReLU(inplace=True)
            def forward(self, x):
                residual = x
                out = self.act(x)
                return out + residual
        """
    )
    (overwrite,) = flow.overwrites.found
    assert _code(overwrite.node) == "self.act(x)"
    assert overwrite.stale == {"x", "residual"}
    assert overwrite.alias == "residual"
    assert [_code(old) for old in overwrite.fix] == ["True"]


def test_a_name_rebound_before_its_read_is_not_stale() -> None:
    _, flow = _forward(
        """
        import torch
        class Block(torch.nn.Module):
            def forward(self, x):
                skip = x
                x.add_(1)
                skip = torch.zeros_like(x)
                return x + skip
        """
    )
    (overwrite,) = flow.overwrites.found
    assert overwrite.stale == set()  # ``x`` meant it (``add_``); ``skip`` rebound
    assert overwrite.alias is None


def test_augmented_assignment_of_a_tensor_is_in_place_and_keeps_its_aliases() -> None:
    _, flow = _forward(
        """
        from torch import nn
        class Block(nn.Module):
            def forward(self, x):
                h = x
                x += 1
                f = lambda: h
                return h
        """
    )
    (overwrite,) = flow.overwrites.found
    assert isinstance(overwrite.node, cst.AugAssign)
    assert overwrite.alias == "h"
    # The read is the ``return``, not the lambda's body (which runs later, if ever).
    assert flow.env["x"].tensor == flow.env["h"].tensor


def test_class_model_holds_table_indexes_and_links_computed_once() -> None:
    context = _context(
        """
        from torch import nn
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)
            def forward(self, x):
                return self.bn(self.conv(x))
        """
    )
    statement = context.module.body[1]
    assert isinstance(statement, cst.ClassDef)
    model = class_model(context, statement)
    assert model is context.get(file_model).classes[statement]
    assert model.table.kind("conv") == "torch.nn.Conv2d"
    assert len(model.indexes) == 1  # forward (``__init__`` is not indexed)
    (link,) = model.links()
    assert (link.producer_kind, link.consumer_kind) == (
        "torch.nn.Conv2d",
        "torch.nn.BatchNorm2d",
    )
    assert model.links() is model.links()


def test_provable_tensors_exclude_names_bound_by_unpacking_or_assigned_objects() -> (
    None
):
    model, _ = _forward(
        """
        import torch
        from torch import nn
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def forward(self, x):
                h = self.fc(x)
                a, b = x.chunk(2)
                tool = self.helper
                m = None
                m = torch.ones(2)
                return h
        """
    )
    tensors = model.tensors(model.methods["forward"])
    assert tensors is model.tensors(model.methods["forward"])
    assert {"x", "h", "m"} <= tensors.names
    assert not {"a", "b", "tool"} & tensors.names


def test_post_ln_norms_are_the_norms_whose_output_replaces_the_stream() -> None:
    from nnlint.analysis.residual_sums import post_ln_norms

    post, pre = (
        _context(source).get(file_model).by_name["Block"]
        for source in (
            """
            from torch import nn
            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.mlp = nn.Linear(d, d)
                    self.norm = nn.LayerNorm(d)
                def forward(self, x):
                    return self.norm(x + self.mlp(x))
            """,
            """
            from torch import nn
            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.mlp = nn.Linear(d, d)
                    self.norm = nn.LayerNorm(d)
                def forward(self, x):
                    return x + self.mlp(self.norm(x))
            """,
        )
    )
    assert [_code(call) for call in post_ln_norms(post)] == [
        "self.norm(x + self.mlp(x))"
    ]
    assert post_ln_norms(pre) == []


def test_residual_sums_ride_on_the_forward_pass_of_every_method() -> None:
    from nnlint.analysis.residual_sums import post_ln_norms

    model = (
        _context(
            """
        from torch import nn
        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.mlp = nn.Linear(d, d)
                self.norm = nn.LayerNorm(d)
            def forward(self, x): return self.norm(x + self.mlp(x))
            def stack(self, x):
                for _ in range(4):
                    x = x + self.mlp(x)
                return self.norm(x)
            def _impl(self, x):
                h = x + self.mlp(x)
                h = self.norm(h)
                return h
        """
        )
        .get(file_model)
        .by_name["Block"]
    )
    found = post_ln_norms(model)
    # The one-line body and the helper are post-LN; the loop's sum is a stack's.
    assert [_code(call) for call in found] == [
        "self.norm(x + self.mlp(x))",
        "self.norm(h)",
    ]
    assert model.flow(model.methods["_impl"]).post_ln == found[1:]
    plain = (
        _context(
            """
        from torch import nn
        class Mlp(nn.Module):
            def forward(self, x):
                return x + self.fc(x)
        """
        )
        .get(file_model)
        .by_name["Mlp"]
    )
    assert plain.norm_vocabulary is None
    assert plain.flow(plain.methods["forward"]).sums is None


def test_the_pass_records_data_reads_where_they_can_cut_a_gradient() -> None:
    _, flow = _forward(
        """
        import torch
        from torch import nn
        class Block(nn.Module):
            def forward(self, x, flag):
                with torch.no_grad():
                    a = x.data
                self.cache = x.data
                assert x.data is not None
                f = lambda: x.data
                if x.data.sum() > 0: b = x.data.shape
                return x.data * 2
        """
    )
    reads = [(_code(r.node), r.then, r.in_test) for r in flow.data_reads.found]
    assert sorted(reads, key=str) == sorted(
        [("x.data", "sum", True), ("x.data", "shape", False), ("x.data", None, False)],
        key=str,
    )


def test_one_line_blocks_and_match_cases_are_walked_like_any_block() -> None:
    _, flow = _forward(
        """
        from torch import nn
        class Block(nn.Module):
            def forward(self, x, kind):
                if kind: x = x + self.a(x)
                match kind:
                    case 1:
                        x = x + self.b(x)
                return x
        """
    )
    assert [_code(add.node) for add in flow.adds] == ["x + self.a(x)", "x + self.b(x)"]
    assert all(add.guarded for add in flow.adds)
