"""MoE routing: which routers are located, what the probe counts, how it is judged."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pytest_nnhealth.judge.measured import RouterInfo  # noqa: E402
from pytest_nnhealth.judge.moe import judge_routing, top_share  # noqa: E402
from pytest_nnhealth.judge.records import (  # noqa: E402
    HealthReport,
    LayerStats,
    RunResult,  # noqa: E402
)
from pytest_nnhealth.judge.thresholds import Thresholds  # noqa: E402
from pytest_nnhealth.probes.routers import Router, locate_routers  # noqa: E402
from pytest_nnhealth.probes.routing import (  # noqa: E402
    expert_tokens,
    load_statistics,
)
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


def test_load_statistics() -> None:
    stats = load_statistics([6.0, 2.0, 0.0, 0.0])
    assert stats["expert_load_max_over_mean"] == 3.0
    assert stats["dead_experts"] == 2.0
    assert stats["expert_load_cv"] == pytest.approx(math.sqrt(6.0) / 2.0)
    assert load_statistics([0.0, 0.0])["expert_load_max_over_mean"] is None
    assert load_statistics([6.0, 2.0, 0.0, 0.0], top_k=2)["router_top_share"] == 1.0
    assert load_statistics([3.0, 1.0, 0.0, 0.0])["router_top_share"] == 0.75


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


def routed(loads: list[list[float]], top_k: int = 2, **series: list) -> RunResult:
    steps = len(loads)
    rows: dict[str, list] = {
        f"expert_tokens.{e}": [float(step[e]) for step in loads]
        for e in range(len(loads[0]))
    }
    for step_loads in loads:
        for key, value in load_statistics(step_loads, top_k).items():
            rows.setdefault(key, []).append(value)
    rows.update(series)
    router = RouterInfo("moe.gate", len(loads[0]), top_k, False, "moe.experts")
    layer = LayerStats("moe.gate", "Linear", rows)
    return RunResult(
        {"moe.gate": layer}, [1.0] * steps, (1.0, 0.5), ["moe.gate"], ["moe.gate"],
        ["moe.gate"], routers=[router],
    )  # fmt: skip


def test_collapse_is_reported_once_with_its_experts() -> None:
    loads = [[16.0] * 8] * 2 + [[0, 0, 60, 0, 0, 64, 4, 0]] * 3
    [found] = judge_routing(routed(loads), Thresholds())
    assert (found.check, found.module, found.step) == ("router_collapse", "moe.gate", 2)
    assert found.value == pytest.approx(124 / 128)
    assert "expert(s) 2, 5 of 8" in found.message
    assert top_share([[1.0, 2.0], [1.0, 0.0], [2.0, 0.0]], 1) == [0.5, 1.0]


def test_dead_expert_names_the_expert() -> None:
    loads = [[20, 20, 20, 0, 20, 20, 20, 20]] * 4
    [found] = judge_routing(routed(loads), Thresholds())
    assert (found.check, found.value, found.step) == ("dead_experts", 1.0, 0)
    assert "(expert(s) 3)" in found.message


def test_imbalance_with_a_rising_bias_blames_the_sign() -> None:
    loads = [[50, 10, 10, 10, 10, 10, 10, 10]] * 4
    bias = {"expert_bias.0": [0.0, 0.02, 0.04, 0.06]}
    [found] = judge_routing(routed(loads, **bias), Thresholds())
    assert found.check == "expert_load_imbalance"
    assert found.value == pytest.approx(50 / 15)
    assert (
        "expert 0's balancing bias rose by 0.06 while overloaded: the bias update "
        "has the wrong sign" in found.message
    )
    assert "expert 0 gets 3.33x" in found.message


def test_too_few_tokens_per_expert_is_not_judged() -> None:
    loads = [[6, 0, 0, 0, 2, 0, 0, 0]] * 4  # 1 expected token per expert: chance
    assert judge_routing(routed(loads), Thresholds()) == []


def routed_report(loads: list[list[float]], entropy: list[float]) -> HealthReport:
    result = routed(loads, router_entropy=entropy)
    return HealthReport("M", layers=result.layers, steps=len(loads))


def test_assert_expert_load_names_router_expert_and_step() -> None:
    report = routed_report([[10, 10, 10, 10], [25, 5, 5, 5]], [0.9, 0.8])
    report.assert_expert_load(max_over_mean=2.6)
    with pytest.raises(AssertionError, match=r"`moe.gate` step 1: expert 0 gets 2.5x"):
        report.assert_expert_load(max_over_mean=2.0)
    dead = routed_report([[20, 20, 0, 0]], [0.5])
    with pytest.raises(AssertionError, match=r"expert\(s\) \[2, 3\] got no token"):
        dead.assert_expert_load(max_over_mean=3.0)
    dead.assert_expert_load(max_over_mean=3.0, dead_max=2)
    with pytest.raises(AssertionError, match="located routers: none"):
        HealthReport("M").assert_expert_load()


def test_assert_router_checks_entropy_range() -> None:
    report = routed_report([[10, 10, 10, 10]] * 3, [0.9, 0.5, 0.1])
    report.assert_router(min_entropy=0.05)
    with pytest.raises(AssertionError, match=r"step 2: router entropy 0.1, expected"):
        report.assert_router(min_entropy=0.2)
    report.assert_router(min_entropy=0.2, from_step=3)


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


def test_unrouted_experts_gradient_findings_follow_their_router() -> None:
    from pytest_nnhealth.judge.moe import unrouted_after_cause
    from pytest_nnhealth.judge.records import HealthFinding

    def item(check: str, module: str, step: int) -> HealthFinding:
        return HealthFinding(check, module, 1.0, "", step, check, "")

    loads = [[20, 20, 20, 0, 20, 20, 20, 20]] * 4
    findings = [
        item("params_without_grad", "moe.experts.3.up", 0),
        item("params_without_grad", "head", 0),  # not an expert: independent
        item("dead_experts", "moe.gate", 2),
    ]
    out = unrouted_after_cause(findings, routed(loads))
    assert [(f.module, f.consequence_of) for f in out] == [
        ("head", None),
        ("moe.gate", None),
        ("moe.experts.3.up", "dead_experts in `moe.gate`"),
    ]


def test_expert_load_rows_are_shares_per_router_and_expert() -> None:
    from pytest_nnhealth.reporting.expert_load import expert_load_rows

    report = routed_report([[30, 10, 0, 0], [10, 10, 10, 10]], [0.9, 0.8])
    labels, steps, values = expert_load_rows(report)
    assert labels == [f"moe.gate / expert {e}" for e in range(4)]
    assert steps == [0, 1]
    assert values == [[0.75, 0.25], [0.25, 0.25], [0.0, 0.25], [0.0, 0.25]]
    assert expert_load_rows(HealthReport("M")) == ([], [], [])
