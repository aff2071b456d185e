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
SERIES: tuple[str, ...] = (
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

# -- Histograms: keys of ``LayerStats.histograms``. --------------------------------
ACT_HIST = "act_hist"
GRAD_HIST = "grad_hist"
HISTOGRAMS: tuple[str, ...] = (ACT_HIST, GRAD_HIST)
