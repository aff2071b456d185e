"""Every name the health check measures or reports, declared once (no torch).

Probes write series under these keys, the judge reads them, thresholds validate
symptom names against the vocabulary, renderers order and label by them, and a docs
test checks docs/health/ against them. Names are plain strings: they are JSON keys.
"""

from __future__ import annotations

# -- Symptom vocabulary (DESIGN.md): the ``check`` field of every finding. ----------
# In this order on purpose: the summary lists the most fundamental problems first.
CORE_SYMPTOMS: tuple[str, ...] = (
    "nonfinite",
    "dead_units",
    "saturation",
    "vanishing_activations",
    "exploding_activations",
    "vanishing_gradients",
    "exploding_gradients",
    "update_ratio_high",
    "update_ratio_low",
    "zero_gradients",
    "params_without_grad",
    "unregistered_params",
    "no_learning",
    "loss_divergence",
    "rank_collapse",
)
# Transformers (attention heads, output logits) and mixtures of experts (routing).
ATTENTION_SYMPTOMS: tuple[str, ...] = (
    "attention_entropy_collapse",
    "attention_logit_growth",
    "logit_drift",
)
MOE_SYMPTOMS: tuple[str, ...] = (
    "expert_load_imbalance",
    "dead_experts",
    "router_collapse",
)
SYMPTOMS: tuple[str, ...] = CORE_SYMPTOMS + ATTENTION_SYMPTOMS + MOE_SYMPTOMS
# Graph-mode findings are "nnlint:<CODE>".
GRAPH_PREFIX = "nnlint:"


def is_known_symptom(check: str) -> bool:
    return check in SYMPTOMS or check.startswith(GRAPH_PREFIX)


# -- Measured quantities: keys of ``LayerStats.series`` (one value per step). -------
ACT_MEAN = "act_mean"  # mean of a module's output
ACT_STD = "act_std"  # std of a module's output over all its values
ACT_BATCH_STD = "act_batch_std"  # std across samples (depth ratio)
GRAD_NORM = "grad_norm"  # ||g|| of a module's own parameters
GRAD_RELATIVE = "grad_relative"  # ||g|| / ||w||
UPDATE_RATIO = "update_ratio"  # ||dw|| / max(||w||, floor * sqrt(n))
DEAD_FRACTION = "dead_fraction"  # units <= 0 for > 95% of the batch
ALWAYS_ON_FRACTION = "always_on_fraction"  # units > 0 for every sample
SATURATION_FRACTION = "saturation_fraction"  # inputs where the derivative is < 10%
TOP_SV_FRACTION = "top_sv_fraction"  # sigma_1 / sum(sigma) of the output
RANK = "rank"  # effective rank exp(entropy(sigma / sum(sigma))) of the output
INPUT_TOP_SV_FRACTION = "input_top_sv_fraction"  # the same of the module's input
CORE_SERIES: tuple[str, ...] = (
    ACT_MEAN,
    ACT_STD,
    ACT_BATCH_STD,
    GRAD_NORM,
    GRAD_RELATIVE,
    UPDATE_RATIO,
    DEAD_FRACTION,
    ALWAYS_ON_FRACTION,
    SATURATION_FRACTION,
    TOP_SV_FRACTION,
    RANK,
    INPUT_TOP_SV_FRACTION,
)
# Attention modules, per head as "<quantity>_h<head>" and the worst head as
# "<quantity>" (sampled steps).
ATTN_ENTROPY = "attn_entropy"  # entropy of the attention weights / log(keys)
ATTN_ONE_KEY_FRACTION = "attn_one_key_fraction"  # queries attending to ~one key
ATTN_LOGIT_MAX = "attn_logit_max"  # largest pre-softmax attention logit
# Median over queries of the standard deviation of a query's logits over its keys:
# the head's typical logit scale, blind to a shift per query as the softmax is.
ATTN_LOGIT_SPREAD = "attn_logit_spread"
ATTN_KEYS = "attn_keys"  # the most keys a query of the head may attend to
PER_HEAD: tuple[str, ...] = (
    ATTN_ENTROPY,
    ATTN_ONE_KEY_FRACTION,
    ATTN_LOGIT_MAX,
    ATTN_LOGIT_SPREAD,
    ATTN_KEYS,
)
# The model's output logits, on the model's own row (module name "").
LOGIT_MAX = "logit_max"  # largest |logit|
LOGIT_LSE = "logit_lse"  # log-partition, logsumexp over the class axis
LOGIT_MEAN = "logit_mean"  # mean logit
LOGIT_SHIFT_GRAD = "logit_shift_grad"  # gradient along the all-ones logit direction
LOGIT_SERIES: tuple[str, ...] = (LOGIT_MAX, LOGIT_LSE, LOGIT_MEAN, LOGIT_SHIFT_GRAD)
# Mixture-of-experts routers, on the router module's row; per expert as
# "<quantity>.<expert>" (docs/health/moe.md).
EXPERT_TOKENS = "expert_tokens"  # choices routed to the expert this step
EXPERT_BIAS = "expert_bias"  # a bias-balanced router's bias after the step
PER_EXPERT: tuple[str, ...] = (EXPERT_TOKENS, EXPERT_BIAS)
EXPERT_LOAD_MAX_OVER_MEAN = "expert_load_max_over_mean"  # busiest / mean tokens
EXPERT_LOAD_CV = "expert_load_cv"  # std / mean of the tokens per expert
DEAD_EXPERTS = "dead_experts"  # experts without a token this step
ROUTER_TOP_SHARE = "router_top_share"  # share of choices of the top-k busiest
ROUTER_ENTROPY = "router_entropy"  # softmax entropy over experts / log(experts)
ROUTER_SERIES: tuple[str, ...] = (
    EXPERT_LOAD_MAX_OVER_MEAN,
    EXPERT_LOAD_CV,
    DEAD_EXPERTS,
    ROUTER_TOP_SHARE,
    ROUTER_ENTROPY,
)
SERIES: tuple[str, ...] = CORE_SERIES + PER_HEAD + LOGIT_SERIES + ROUTER_SERIES


def head_key(quantity: str, head: int) -> str:
    """The series key of one attention head: ``attn_entropy_h3``."""
    return f"{quantity}_h{head}"


def expert_key(quantity: str, expert: int) -> str:
    """The series key of one expert: ``expert_tokens.3``."""
    return f"{quantity}.{expert}"


def is_declared_series(key: str) -> bool:
    """A key declared here, or one head's / one expert's key of a per-head /
    per-expert quantity."""
    base, _, head = key.rpartition("_h")
    stem, _, expert = key.rpartition(".")
    return (
        key in SERIES
        or (base in PER_HEAD and head.isdigit())
        or (stem in PER_EXPERT and expert.isdigit())
    )


# -- Histograms: keys of ``LayerStats.histograms``. --------------------------------
ACT_HIST = "act_hist"
GRAD_HIST = "grad_hist"
HISTOGRAMS: tuple[str, ...] = (ACT_HIST, GRAD_HIST)
