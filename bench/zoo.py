"""The calibration zoo: small healthy and broken models with known symptoms.

``CASES`` is the list ``bench/calibrate.py`` runs over many seeds and
``tests/pytest_nnhealth/test_zoo.py`` runs with seed 0. ``expected`` holds the symptoms
``check()`` must report for a broken case (it may report more: a too-high learning rate
also diverges); ``expected_module`` the module it must name, when the symptom has one.
"""

from __future__ import annotations

from torch import nn

from bench import zoo_attention as za
from bench import zoo_models as zm
from bench import zoo_variants as zv
from bench.zoo_build import (
    CE,
    D_IN,
    ZooCase,
    adam,
    custom_case,
    image_batch,
    kaiming,
    mlp_case,
    normal,
    sgd,
    slow_divergence,
    token_batch,
)
from bench.zoo_moe import MOE_BROKEN, MOE_HEALTHY

MLP3 = [D_IN, 32, 32, 4]
DEEP = [D_IN, *[32] * 8, 4]


HEALTHY = [
    ZooCase("mlp_relu_sgd", mlp_case(MLP3, sgd(0.05), init=kaiming()), True),
    ZooCase("mlp_relu_adam", mlp_case(MLP3, adam(1e-3)), True),
    ZooCase("mlp_gelu_adamw", mlp_case(MLP3, adam(1e-3, 0.01), nn.GELU), True),
    ZooCase(
        "mlp_tanh_xavier_sgd", mlp_case(MLP3, sgd(0.05), nn.Tanh, normal(1.0)), True
    ),
    ZooCase("mlp_sigmoid_adam", mlp_case(MLP3, adam(3e-3), nn.Sigmoid), True),
    ZooCase(
        "mlp_zero_init_output",
        mlp_case(MLP3, sgd(0.05), init=kaiming(), edit=zv.zero_output),
        True,
        notes="zero-initialised output layer: hidden grads are exactly 0 at step 0",
    ),
    ZooCase(
        "mlp_default_optimizer",
        mlp_case(MLP3, None),
        True,
        notes="check()'s default optimizer",
    ),
    ZooCase(
        "residual_mlp_deep",
        custom_case(lambda: zm.ResidualMLP(D_IN, 32, 4, depth=8), adam(1e-3)),
        True,
        notes="8 pre-LN residual blocks (33 Linear/ReLU/LayerNorm modules): the deep "
        "net that trains",
    ),
    ZooCase(
        "cnn_bn_sgd",
        custom_case(lambda: zm.SmallCNN(16, 4, True), sgd(0.05), image_batch),
        True,
    ),
    ZooCase(
        "cnn_bn_adam",
        custom_case(lambda: zm.SmallCNN(16, 4, True), adam(1e-3), image_batch),
        True,
    ),
    ZooCase(
        "cnn_plain_adam",
        custom_case(zv.plain_cnn, adam(1e-3), image_batch),
        True,
        notes="Kaiming-initialised convs, no BatchNorm. With PyTorch's default conv "
        "init instead, the second ReLU loses up to 69% of its channels within 25 Adam "
        "steps on some seeds (a real dying-ReLU problem, which check() reports)",
    ),
    ZooCase(
        "transformer_preln_adamw",
        custom_case(zv.lm, adam(1e-3, 0.01), token_batch),
        True,
        notes="GPT-2-style init: residual branch outputs ~0.002 std at init",
    ),
    ZooCase(
        "frozen_embedding",
        custom_case(
            lambda: zm.FrozenEmbeddingClassifier(16, 32, 32, 4),
            adam(1e-3),
            zv.tagged_tokens,
        ),
        True,
        notes="requires_grad=False embedding: no grad by design, not a plumbing bug",
    ),
]

BROKEN = [
    ZooCase(
        "dead_relu_negative_bias",
        mlp_case(MLP3, adam(1e-3), init=kaiming(bias=-4.0)),
        False,
        frozenset({"dead_units"}),
        "net.1",
        "bias -4 on every Linear: pre-activations below zero for ~all inputs",
    ),
    ZooCase(
        "dead_relu_high_lr",
        mlp_case(MLP3, sgd(2.0), init=kaiming()),
        False,
        frozenset({"dead_units"}),
        None,
        "SGD lr 2.0 with momentum 0.9 knocks most ReLUs negative in the first steps",
    ),
    ZooCase(
        "vanishing_init_tanh",
        mlp_case(DEEP, sgd(0.05), nn.Tanh, normal(0.3)),
        False,
        frozenset({"vanishing_activations"}),
        None,
        "8 tanh layers at 0.3/sqrt(fan_in): signal shrinks ~0.3x per layer (SGD cannot "
        "repair it: the gradients vanish too)",
    ),
    ZooCase(
        "exploding_init_relu",
        mlp_case([D_IN, *[32] * 10, 4], adam(1e-3), init=kaiming(gain=3.0)),
        False,
        frozenset({"exploding_activations", "exploding_gradients"}),
        None,
        "10 ReLU layers at 3x Kaiming: the signal grows ~3x per layer forwards, and "
        "the gradient ~3x per layer backwards",
    ),
    ZooCase(
        "deep_plain_default_init",
        mlp_case([D_IN, *[32] * 20, 4], adam(1e-3)),
        False,
        frozenset({"vanishing_gradients", "rank_collapse"}),
        None,
        "20 plain ReLU layers with PyTorch's default init (weight var 1/(3 fan_in)): "
        "the input's share of the signal shrinks ~6x in variance per layer until the "
        "biases dominate, so every sample maps to the same output; compare "
        "residual_mlp_deep",
    ),
    ZooCase(
        "deep_sigmoid",
        mlp_case([D_IN, *[32] * 10, 4], sgd(0.1), nn.Sigmoid),
        False,
        frozenset({"vanishing_gradients"}),
        None,
        "10 sigmoid layers: each backward pass multiplies by <= 0.25",
    ),
    ZooCase(
        "tanh_saturation",
        mlp_case(MLP3, adam(1e-3), nn.Tanh, normal(5.0)),
        False,
        frozenset({"saturation"}),
        "net.1",
        "weights 5/sqrt(fan_in): pre-activations ~N(0, 25) saturate tanh",
    ),
    ZooCase(
        "sigmoid_saturation",
        mlp_case(MLP3, adam(1e-3), nn.Sigmoid, normal(10.0)),
        False,
        frozenset({"saturation"}),
        "net.1",
        "weights 10/sqrt(fan_in): pre-activations ~N(0, 100) saturate sigmoid",
    ),
    ZooCase(
        "zero_init_stacked",
        mlp_case(
            [D_IN, 32, 32, 32, 4], sgd(0.05), init=kaiming(), edit=zv.zero_stacked
        ),
        False,
        frozenset({"zero_gradients"}),
        "net.2",
        "net.2 and net.4 zero-initialised: each blocks the other's gradient forever",
    ),
    ZooCase(
        "nan_log_features",
        custom_case(zv.log_mlp, adam(1e-3)),
        False,
        frozenset({"nonfinite"}),
        "net.2",
        "log of ReLU output without epsilon: -inf born in forward at net.2",
    ),
    ZooCase(
        "nan_backward_distance",
        custom_case(zv.distance_mlp, adam(1e-3)),
        False,
        frozenset({"nonfinite"}),
        "net.2",
        "sqrt(sum(diff**2)) distances: forward finite, NaN born in backward at net.2",
    ),
    ZooCase(
        "detached_branch",
        custom_case(lambda: zm.DetachedBranch(D_IN, 32, 4), adam(1e-3)),
        False,
        frozenset({"params_without_grad"}),
        "branch",
        "branch output .detach()ed: its parameters never get a gradient",
    ),
    ZooCase(
        "plain_list_submodules",
        custom_case(lambda: zm.PlainListMLP(D_IN, 32, 4), adam(1e-3)),
        False,
        frozenset({"unregistered_params"}),
        None,
        "hidden layers in a Python list: run in forward, invisible to the optimizer",
    ),
    ZooCase(
        "sgd_lr_too_high",
        mlp_case(MLP3, sgd(3.0), nn.GELU, init=kaiming()),
        False,
        frozenset({"update_ratio_high"}),
        None,
        "SGD lr 3.0 with momentum 0.9 on a GELU MLP",
    ),
    ZooCase(
        "adam_lr_too_high",
        mlp_case(MLP3, adam(0.3)),
        False,
        frozenset({"update_ratio_high"}),
        None,
        "Adam lr 0.3",
    ),
    ZooCase(
        "adam_lr_too_low",
        mlp_case(MLP3, adam(1e-6)),
        False,
        frozenset({"no_learning"}),
        None,
        "Adam lr 1e-6: weights move ~7e-6 of their norm per step. update_ratio_low is "
        "not expected: LayerNorm gains under standard fine-tuning (Adam lr 1e-5) move "
        "~5e-6 per step, so a default that flagged this would flag them",
    ),
    ZooCase(
        "sgd_lr_too_low",
        mlp_case(MLP3, sgd(1e-5, 0.0), init=kaiming()),
        False,
        frozenset({"update_ratio_low"}),
        None,
        "SGD lr 1e-5 without momentum",
    ),
    ZooCase(
        "cnn_dead_relu",
        custom_case(zv.dead_cnn, adam(1e-3), image_batch),
        False,
        frozenset({"dead_units"}),
        "features.1",
        "conv bias -3 without BatchNorm: the first ReLU's channels are dead",
    ),
    ZooCase(
        "cnn_bn_lr_too_high",
        custom_case(lambda: zm.SmallCNN(16, 4, True), sgd(5.0), image_batch),
        False,
        frozenset({"update_ratio_high"}),
        None,
        "SGD lr 5.0 on a BatchNorm CNN",
    ),
    ZooCase(
        "transformer_masked_nan",
        custom_case(zv.lm, adam(1e-3, 0.01), zv.padded_tokens, CE),
        False,
        frozenset({"nonfinite"}),
        "blocks.0.attn",
        "an all-padding sequence masks every key: softmax over all -inf is NaN",
    ),
    ZooCase(
        "transformer_lr_too_high",
        custom_case(zv.lm, adam(0.1), token_batch),
        False,
        frozenset({"update_ratio_high"}),
        None,
        "Adam lr 0.1 on a transformer",
    ),
]

BROKEN += [
    ZooCase(
        "slow_divergence",
        slow_divergence,
        False,
        frozenset({"loss_divergence"}),
        None,
        "SGD lr 1.15x the stability limit 2/lambda_max; the unstable direction starts "
        "1e-3 from its optimum, so the loss falls for ~12 steps, then diverges",
    ),
    ZooCase(
        "uncentered_inputs",
        mlp_case(MLP3, adam(1e-3), init=kaiming(), shift=50.0),
        False,
        frozenset({"rank_collapse"}),
        "net.0",
        "raw features with a mean of 50 (no input normalisation): every row of the "
        "first layer's output points the same way",
    ),
]

HEALTHY += za.HEALTHY + MOE_HEALTHY
BROKEN += za.BROKEN + MOE_BROKEN

CASES: list[ZooCase] = HEALTHY + BROKEN
