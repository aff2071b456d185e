"""MoE routing: which routers are located, what the probe counts, end to end (the
judge's side, torch-free, is in judge/test_judge_moe.py)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pytest_nnhealth.judge.measured import RouterInfo  # noqa: E402
from pytest_nnhealth.probes.routers import Router, locate_routers  # noqa: E402
from pytest_nnhealth.probes.routing import expert_tokens  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402


class ListMoE(nn.Module):
    """Switch/Mixtral-style block: a Linear gate next to a ModuleList of experts."""

    def __init__(self, dim: int = 8, experts: int = 4, top_k: int = 2) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(nn.Linear(dim, dim) for _ in range(experts))
        self.top_k = top_k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights, chosen = self.gate(x).softmax(-1).topk(self.top_k, dim=-1)
        out = torch.zeros_like(x)
        for index, expert in enumerate(self.experts):
            mask = (chosen == index).float().mul(weights).sum(-1, keepdim=True)
            out = out + mask * expert(x)
        return out


class BiasRouter(nn.Module):
    """DeepSeek-V3-style: own (experts, d) weight, a score-correction bias buffer,
    returns only the logits."""

    def __init__(self, dim: int, experts: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(experts, dim) * 0.1)
        self.register_buffer("correction", torch.zeros(experts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T


class GroupedExperts(nn.Module):
    def __init__(self, dim: int, experts: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(experts, dim, dim) * 0.1)


class BiasMoE(nn.Module):
    def __init__(self, dim: int = 8, experts: int = 4) -> None:
        super().__init__()
        self.router = BiasRouter(dim, experts)
        self.experts = GroupedExperts(dim, experts)
        self.top_k = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.router(x).sigmoid() + self.router.correction
        chosen = scores.topk(1, dim=-1).indices[..., 0]
        return torch.einsum("nd,nde->ne", x, self.experts.w[chosen])


class Blocks(nn.Module):
    """Not a MoE: two blocks and a 2-class head. Must not be taken for a router."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(2))
        self.head = nn.Linear(8, 2)


def test_locates_linear_gate_next_to_module_list() -> None:
    [found] = locate_routers(nn.Sequential(ListMoE()))
    assert (found.name, found.num_experts, found.top_k, found.bias) == (
        "0.gate",
        4,
        2,
        None,
    )


def test_locates_bias_router_next_to_grouped_experts() -> None:
    model = BiasMoE()
    [found] = locate_routers(model)
    assert (found.name, found.num_experts, found.top_k) == ("router", 4, 1)
    assert found.bias is model.router.correction
    assert found.sigmoid


def test_classifier_head_next_to_blocks_is_not_a_router() -> None:
    assert locate_routers(Blocks()) == []


def test_locates_transformers_mixtral_routers() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.MixtralConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, num_local_experts=4,
        num_experts_per_tok=2,
    )  # fmt: skip
    found = locate_routers(transformers.MixtralForCausalLM(config))
    assert [(r.name, r.num_experts, r.top_k) for r in found] == [
        (f"model.layers.{i}.mlp.gate", 4, 2) for i in range(2)
    ]


def test_locates_transformers_deepseek_v3_bias_router_and_qwen2_moe() -> None:
    transformers = pytest.importorskip("transformers")
    deepseek = transformers.DeepseekV3Config(
        vocab_size=32, hidden_size=16, intermediate_size=32, moe_intermediate_size=8,
        num_hidden_layers=2, first_k_dense_replace=1, n_routed_experts=4,
        num_experts_per_tok=2, n_group=1, topk_group=1, num_attention_heads=2,
        num_key_value_heads=2, q_lora_rank=None, kv_lora_rank=8, qk_rope_head_dim=4,
        qk_nope_head_dim=4, v_head_dim=4,
    )  # fmt: skip
    model = transformers.DeepseekV3ForCausalLM(deepseek)
    [found] = locate_routers(model)  # layer 0 is dense (first_k_dense_replace=1)
    gate = model.model.layers[1].mlp.gate
    assert (found.name, found.num_experts, found.top_k) == (
        "model.layers.1.mlp.gate",
        4,
        2,
    )
    assert found.bias is gate.e_score_correction_bias
    assert found.sigmoid
    assert found.container == "model.layers.1.mlp.experts"
    qwen = transformers.Qwen2MoeConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, moe_intermediate_size=8,
        shared_expert_intermediate_size=8, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, num_experts=4, num_experts_per_tok=2,
    )  # fmt: skip
    found_qwen = locate_routers(transformers.Qwen2MoeForCausalLM(qwen))
    # The shared expert's 1-wide sigmoid gate is not a router.
    assert [(r.name, r.num_experts, r.bias) for r in found_qwen] == [
        ("model.layers.0.mlp.gate", 4, None)
    ]


def test_expert_tokens_counts_every_choice_and_drops_padding() -> None:
    chosen = torch.tensor([[0, 1], [0, 3], [-1, 4]])  # -1 and 4 (= experts): dropped
    assert expert_tokens(chosen, 4).tolist() == [2.0, 1.0, 0.0, 1.0]


def test_router_adapter_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="top_k"):
        Router("gate", num_experts=4, top_k=5, logits=lambda out: out)
    with pytest.raises(ValueError, match="logits=..., experts=..."):
        Router("gate", num_experts=4)
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="no module named 'nope'"):
        check(
            model,
            (torch.randn(4, 4), torch.randn(4, 4)),
            loss_fn=nn.MSELoss(),
            routers=[Router("nope", 4, logits=lambda out: out)],
            steps=2,
        )


class Passthrough(nn.Module):
    def forward(self, decision: dict) -> dict:
        return decision


class DictRouted(nn.Module):
    """Experts in a ModuleDict and a router returning a dict: not located
    automatically, read through the Router adapter."""

    def __init__(self, collapse: bool) -> None:
        super().__init__()
        self.switch = nn.Linear(8, 4)
        with torch.no_grad():  # four symmetric directions: balanced on Gaussian x
            self.switch.weight.copy_(torch.eye(8)[[0, 0, 1, 1]] * 3)
            self.switch.weight[1::2] *= -1
            self.switch.bias.copy_(torch.tensor([20.0 * collapse, 0.0, 0.0, 0.0]))
        self.experts = nn.ModuleDict({str(e): nn.Linear(8, 8) for e in range(4)})
        self.route = Passthrough()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.switch(x)
        routed = self.route({"scores": logits, "choice": logits.argmax(-1)})
        choice, weight = routed["choice"], routed["scores"].softmax(-1)
        out = torch.stack([self.experts[str(e)](x) for e in range(4)], dim=1)
        picked = out[torch.arange(len(x)), choice] * weight.gather(1, choice[:, None])
        return self.head(picked)


def test_router_adapter_reads_a_custom_router_end_to_end() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    adapter = Router(
        "route", num_experts=4, logits=lambda out: out["scores"],
        experts=lambda out: out["choice"],
    )  # fmt: skip
    for collapse in (False, True):
        model = DictRouted(collapse)
        plain = check(model, (x, y), loss_fn=nn.CrossEntropyLoss(), steps=6)
        assert "routers" not in plain.meta
        assert plain.routers == []
        report = check(
            model, (x, y), loss_fn=nn.CrossEntropyLoss(), steps=6, routers=[adapter]
        )
        assert report.routers == [RouterInfo("route", 4, 1, False, None)]
        assert report.meta["routers"] == {
            "route": {
                "experts": 4,
                "top_k": 1,
                "bias_balanced": False,
                "experts_module": None,
            }
        }
        found = [f.check for f in report.findings if f.module == "route"]
        assert found == (["router_collapse"] if collapse else [])
        if collapse:
            assert report.layers["route"].series["expert_tokens.0"][-1] == 64.0
