"""For each symptom: what it measures (in words), its likely cause and the usual fix.

Kept apart from the judge so reports, docs and messages use the same sentences.
"""

from __future__ import annotations

# symptom -> (what the value is, likely cause, usual fix)
HINTS: dict[str, tuple[str, str, str]] = {
    "nonfinite": (
        "first NaN/Inf",
        "an overflow, log/sqrt/division of zero or a negative, or a too-high "
        "learning rate",
        "clamp or add eps before log/sqrt/division, lower the lr, or use gradient "
        "clipping",
    ),
    "dead_units": (
        "of units dead",
        "learning rate too high or negative bias init",
        "lower lr, use LeakyReLU/GELU, or add normalisation",
    ),
    "saturation": (
        "of inputs saturated",
        "pre-activations too large (init scale or missing normalisation)",
        "use Xavier/Glorot init, normalise the inputs, or add LayerNorm/BatchNorm",
    ),
    "vanishing_activations": (
        "depth ratio (std of last hidden output / first)",
        "weights initialised too small for the depth",
        "use Kaiming/Xavier init for the activation, or add normalisation/residuals",
    ),
    "exploding_activations": (
        "depth ratio (std of last hidden output / first)",
        "weights initialised too large for the depth",
        "use Kaiming/Xavier init for the activation, or add normalisation",
    ),
    "vanishing_gradients": (
        "gradient norm ratio (first layer / last layer)",
        "saturating activations or too-small init in a deep stack",
        "use ReLU-family activations, residual connections, normalisation or better "
        "init",
    ),
    "exploding_gradients": (
        "gradient norm ratio or relative gradient ||g||/||w||",
        "init too large, missing normalisation, or an unstable loss",
        "use gradient clipping, normalisation, or a smaller init",
    ),
    "update_ratio_high": (
        "update ratio ||dw||/||w||",
        "learning rate too high for this layer",
        "lower the learning rate or add warm-up",
    ),
    "update_ratio_low": (
        "update ratio ||dw||/||w||",
        "learning rate too low, or the layer receives almost no gradient",
        "raise the learning rate, or check that the layer is wired into the loss",
    ),
    "zero_gradients": (
        "parameters with exactly-zero gradient on every step",
        "the loss does not depend on them (dead path, multiplied by zero, "
        "detached use), or ignores their outputs on this batch (a detection level "
        "with no matched anchor)",
        "check the forward path through this module and its initialisation, and "
        "that the batch exercises it",
    ),
    "params_without_grad": (
        "trainable parameters whose .grad stayed None",
        "the module is unused in forward, or its output is detached (.detach(), .data, "
        "torch.no_grad, .item())",
        "remove the detach/no_grad, or freeze the parameters (requires_grad=False)",
    ),
    "unregistered_params": (
        "module run in forward but not registered",
        "a submodule kept in a plain list/dict/tuple: its parameters are invisible to "
        ".parameters(), the optimizer, .to() and state_dict()",
        "use nn.ModuleList / nn.ModuleDict",
    ),
    "no_learning": (
        "relative loss drop on the held batch",
        "learning rate too low, wrong loss wiring, or gradients not reaching the "
        "weights",
        "check the loss inputs (logits vs probabilities), the optimizer's "
        "parameters and lr",
    ),
    "loss_divergence": (
        "loss growth over step 0",
        "learning rate too high or a numerically unstable loss",
        "lower the lr, add warm-up or gradient clipping, use fused losses "
        "(log-softmax)",
    ),
    "rank_collapse": (
        "sigma_1 / sum(sigma) of the output",
        "all samples map to (almost) the same representation",
        "check normalisation, residual paths and init (a bias or input mean that "
        "dwarfs the signal); lower the lr",
    ),
    "attention_entropy_collapse": (
        "normalised attention entropy (1 = uniform, 0 = one key)",
        "attention logits so large that the softmax picks one key: Q/K weights "
        "initialised too large or grown by a too-high learning rate (also "
        "relative to a small W_q that carries the 1/sqrt(head_dim), as in T5)",
        "lower the lr or the Q/K init scale, add QK-norm (LayerNorm on q and k), "
        "and check the 1/sqrt(head_dim) scaling; with it folded into W_q's init, "
        "take steps relative to each weight's RMS (Adafactor)",
    ),
    "attention_logit_growth": (
        "largest pre-softmax attention logit",
        "Q/K projections growing under a too-high learning rate, with nothing "
        "bounding q and k",
        "add QK-norm, lower the lr or add warm-up, or apply weight decay to the Q/K "
        "projections",
    ),
    "logit_drift": (
        "drift of the mean output logit (the shift the softmax cannot see)",
        "cross-entropy has no gradient along a common shift of all logits, so log Z "
        "drifts freely (fast Adam steps on the output layer random-walk it)",
        "add z-loss (1e-4 * logsumexp(logits) ** 2), lower the output layer's lr, "
        "or normalise the final hidden state",
    ),
    "expert_load_imbalance": (
        "busiest expert's load over the mean load",
        "the load balancing is too weak or absent (auxiliary-loss coefficient, bias "
        "update speed), or the router learns faster than the balancing corrects",
        "raise the balancing coefficient or bias update speed, lower the router lr, "
        "or set a capacity factor so overflow tokens are dropped or rerouted",
    ),
    "dead_experts": (
        "experts that received no token",
        "the router never scores these experts in the top-k (a router init or bias "
        "that excludes them) and nothing pulls load back to them",
        "re-initialise the router (small std, zero bias), add a load-balancing loss "
        "or a bias update, or use a capacity factor",
    ),
    "router_collapse": (
        "share of all choices going to the top-k busiest experts",
        "every token is routed to the same experts: no balancing, a balancing bias "
        "updated with the wrong sign, or router inputs dominated by a shared "
        "component",
        "add an auxiliary balancing loss or a bias update that lowers busy experts' "
        "bias, normalise the router input, lower the router lr or init scale",
    ),
}


# no_learning when the held batch's loss ended *above* its start. Steps on one batch
# that are small for the loss's curvature lower that batch's loss (a gradient step
# below 2/L descends on an L-smooth loss); a rise after training on that very batch
# says the steps were too large, the opposite of the generic "lr too low".
NO_LEARNING_ROSE = (
    "the loss rose on the batch it trained on: steps too large for the model, not "
    "too small (a too-high learning rate, no warm-up)",
    "lower the lr or add warm-up; see loss_divergence for a larger rise",
)


def hint(check: str) -> str:
    _, cause, fix = HINTS[check]
    return f"{cause}; {fix}"
