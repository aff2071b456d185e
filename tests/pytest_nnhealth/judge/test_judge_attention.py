"""Attention and output-logit symptoms on synthetic measurements (no torch)."""

from __future__ import annotations

from pytest_nnhealth.judge.core import judge
from pytest_nnhealth.judge.records import LayerStats, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

SAMPLED = [0, 1, 2, 5, 7, 8, 9]


def sampled(values: list[float]) -> list[float | None]:
    row: list[float | None] = [None] * 10
    for step, value in zip(SAMPLED, values, strict=True):
        row[step] = value
    return row


def result(layers: dict[str, tuple[str, dict]]) -> RunResult:
    stats = {
        name: LayerStats(name, kind, rows) for name, (kind, rows) in layers.items()
    }
    losses = [2.0 - 0.1 * step for step in range(10)]
    order = [name for name in layers if name]
    return RunResult(stats, losses, (2.0, 1.0), order, order, [])


def attention(entropy: dict[int, list[float]], logits: dict[int, list[float]]):
    rows: dict = {}
    for head, values in entropy.items():
        rows[f"attn_entropy_h{head}"] = sampled(values)
        rows[f"attn_one_key_fraction_h{head}"] = sampled([0.9] * 7)
    for head, values in logits.items():
        rows[f"attn_logit_max_h{head}"] = sampled(values)
    return rows


def test_collapse_names_the_worst_head_and_where_its_run_began():
    rows = attention(
        {0: [0.9] * 7, 1: [0.9, 0.8, 0.2, 0.1, 0.1, 0.05, 0.04]}, {0: [2.0] * 7}
    )
    [found] = judge(result({"blocks.0.attn": ("SelfAttention", rows)}), Thresholds())
    assert (found.check, found.module, found.value, found.step) == (
        "attention_entropy_collapse",
        "blocks.0.attn",
        0.04,
        2,
    )
    assert found.message.startswith(
        "attention_entropy_collapse in `blocks.0.attn` (SelfAttention): head 1: "
        "normalised attention entropy 0.04 (0.90 of queries on one key) from step 2, "
        "healthy > 0.25; "
    )
    assert "QK-norm" in found.hint


def test_heads_over_few_keys_are_not_judged_for_collapse():
    # A cross-attention over a 2 x 2 feature map learning to look at one position.
    focusing = [0.99, 0.98, 0.9, 0.5, 0.2, 0.19, 0.18]
    rows = attention({0: focusing, 1: focusing}, {0: [2.0] * 7})
    rows["attn_keys_h0"] = sampled([4.0] * 7)
    rows["attn_keys_h1"] = sampled([16.0] * 7)
    [found] = judge(result({"cross": ("MultiheadAttention", rows)}), Thresholds())
    assert found.message.startswith(
        "attention_entropy_collapse in `cross` (MultiheadAttention): head 1: "
    )
    rows["attn_keys_h1"] = sampled([7.0] * 7)
    assert judge(result({"cross": ("MultiheadAttention", rows)}), Thresholds()) == []


def test_recovered_or_healthy_heads_are_not_collapsed():
    rows = attention({0: [0.1, 0.1, 0.1, 0.1, 0.3, 0.5, 0.6]}, {0: [1.0] * 7})
    assert judge(result({"attn": ("MultiheadAttention", rows)}), Thresholds()) == []


def test_logit_growth_needs_both_the_absolute_bound_and_growth():
    growing = attention({0: [0.9] * 7}, {0: [1.0, 2.0, 5.0, 12.0, 22.0, 25.0, 30.0]})
    large_from_start = attention({0: [0.9] * 7}, {0: [60.0] * 7})
    small_but_50x = attention({0: [0.9] * 7}, {0: [0.06, 0.1, 1.0, 2.0, 3.0, 3, 3]})
    [found] = judge(result({"a": ("Attention", growing)}), Thresholds())
    assert (found.check, found.value, found.step) == ("attention_logit_growth", 30.0, 7)
    assert "head 0: largest attention logit 1.00 -> 30.00 (30.00x)" in found.message
    for rows in (large_from_start, small_but_50x):
        assert judge(result({"a": ("Attention", rows)}), Thresholds()) == []


def test_logit_growth_of_one_token_is_not_the_heads_growth():
    # BatchNorm'd q and k (LeViT): one outlier token's self-logit grows 6 -> 50
    # while the typical query's spread stays put; the head has not grown.
    largest = [6.0, 10.0, 19.0, 31.0, 42.0, 44.0, 50.0]
    one_token = attention({0: [0.88] * 7}, {0: largest})
    one_token["attn_logit_spread_h0"] = sampled(
        [1.0, 1.0, 1.02, 1.05, 1.04, 1.06, 1.05]
    )
    assert judge(result({"a": ("LevitAttention", one_token)}), Thresholds()) == []
    # The same largest logits with every query's spread grown 18x: reported, and
    # only from the first step where both grew.
    whole = attention({0: [0.88] * 7}, {0: largest})
    whole["attn_logit_spread_h0"] = sampled([1.0, 2.0, 3.0, 3.5, 4.5, 9.0, 18.0])
    [found] = judge(result({"a": ("LevitAttention", whole)}), Thresholds())
    assert (found.check, found.value, found.step) == ("attention_logit_growth", 50.0, 7)
    assert "6.00 -> 50.00 (8.33x), typical logit spread 18.00x" in found.message


def output(means: list[float], shift_grad: float) -> dict:
    return {
        "logit_mean": means,
        "logit_lse": [2.3 + abs(m) for m in means],
        "logit_shift_grad": [shift_grad] * len(means),
    }


def test_logit_drift_fires_for_softmax_outputs_only():
    means = [0.0, -1.0, -3.0, -5.0, -7.0, -9.0, -10.0, -11.0, -12.0, -12.5]
    [found] = judge(result({"": ("LM", output(means, 3e-8))}), Thresholds())
    assert (found.check, found.module, found.value, found.step) == (
        "logit_drift",
        "",
        -12.5,
        4,
    )
    assert found.message.startswith(
        "logit_drift in the model: mean output logit drifted -12.50 nats from step 0 "
        "(log Z 2.30 -> 14.80) from step 4, healthy |drift| < 6 nats; "
    )
    assert "z-loss" in found.hint
    # A regression output may move by any constant: not judged.
    assert judge(result({"": ("Regressor", output(means, 0.9))}), Thresholds()) == []


def test_logit_drift_after_the_loss_saturated_is_not_judged():
    # A memorised batch (loss exactly 0.0 in float32): the loss's gradient turns into
    # rounding noise along the all-ones direction, Adam still takes lr-sized steps,
    # and the mean logit wanders with nothing steering it (timm NF-ResNet-26).
    means = [0.0, -0.1, -0.3, -1.5, -4.2, -6.8, -8.9, -9.6, -9.9, -10.2]
    rows = output(means, 0.0)
    rows["logit_shift_grad"] = [0.0, 0.0, 0.0, 0.0, 0.3, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert judge(result({"": ("ResNet", rows)}), Thresholds()) == []
    # The same drift while the loss still reads the logits is reported.
    rows["logit_shift_grad"] = [0.0] * 10
    [found] = judge(result({"": ("ResNet", rows)}), Thresholds())
    assert (found.check, found.step) == ("logit_drift", 5)


def test_thresholds_and_ignore_apply():
    means = [0.0] * 5 + [-7.0] * 5
    drifting = result({"": ("LM", output(means, 0.0))})
    assert judge(drifting, Thresholds(logit_shift_max=8.0)) == []
    assert judge(drifting, Thresholds(ignore=("logit_drift",))) == []
    assert [f.check for f in judge(drifting, Thresholds())] == ["logit_drift"]


def test_growth_explains_drift_and_collapse_follows_logit_growth():
    from pytest_nnhealth.judge.order import order_by_cause
    from pytest_nnhealth.judge.records import HealthFinding

    def made(check: str, module: str, step: int) -> HealthFinding:
        return HealthFinding(check, module, 1.0, "", step, check, "")

    ordered = order_by_cause(
        [
            made("logit_drift", "", 3),
            made("attention_entropy_collapse", "a", 7),
            made("attention_logit_growth", "a", 5),
            made("exploding_activations", "b", 0),
        ],
        ["a", "b"],
        10,
    )
    causes = {f.check: f.consequence_of for f in ordered}
    assert causes == {
        "exploding_activations": None,
        "logit_drift": "exploding_activations in `b`",
        "attention_logit_growth": "exploding_activations in `b`",
        "attention_entropy_collapse": "exploding_activations in `b`",
    }
    alone = order_by_cause(
        [
            made("attention_entropy_collapse", "a", 7),
            made("attention_logit_growth", "a", 5),
        ],
        ["a"],
        10,
    )
    assert [(f.check, f.consequence_of) for f in alone] == [
        ("attention_logit_growth", None),
        ("attention_entropy_collapse", "attention_logit_growth in `a`"),
    ]
