"""Broken variants of real architectures, each with the root cause ``check()`` must
report first (see ``bench/real_zoo_cases.py``)."""

from __future__ import annotations

import torch
from torch import nn

from bench import real_zoo_models as rm
from bench.real_zoo_cases import (
    CE,
    Built,
    RealCase,
    classify_tokens,
    generator,
    images,
    seeded,
)


def adam(lr: float):  # noqa: ANN201 - a factory params -> optimizer
    return lambda params: torch.optim.Adam(params, lr=lr)


def layer_scale_one_huge_lr(seed: int) -> Built:
    """ConvNeXt with its layer scale initialised at 1.0 (instead of 1e-6) trained with
    Adam at lr 1.0: every update is as large as the weights."""
    model = seeded(seed, lambda: rm.timm_model("convnext_atto", ls_init_value=1.0))
    return model, images(seed), CE, adam(1.0)


def se_gate_saturated(seed: int) -> Built:
    """EfficientNet-B0 whose squeeze-excitation gates start saturated: the expand
    convolution's bias at +12 puts every sigmoid input far right of its active range,
    so the gates pass no gradient."""

    def make() -> nn.Module:
        model = rm.tv("efficientnet_b0")
        with torch.no_grad():
            for module in model.modules():
                if type(module).__name__ == "SqueezeExcitation":
                    module.fc2.bias.fill_(12.0)
        return model

    return seeded(seed, make), images(seed), CE, None


def post_ln_deep_bert(seed: int) -> Built:
    """BERT is post-LN (LayerNorm after each residual sum); 12 layers with Adam at lr
    1e-2 (instead of ~1e-4 with warm-up) diverge."""
    model, batch, loss, _ = classify_tokens(lambda: rm.hf_bert(post_ln_depth=12))(seed)
    return model, batch, loss, adam(1e-2)


def zero_last_two_projections(seed: int) -> Built:
    """MobileNetV3's classifier (Linear -> Hardswish -> Dropout -> Linear) with both
    projections zero-initialised: hardswish(0) = 0, so neither weight ever receives a
    gradient (the symmetry is never broken)."""

    def make() -> nn.Module:
        model = rm.tv("mobilenet_v3_small")
        with torch.no_grad():
            for index in (0, 3):
                model.classifier[index].weight.zero_()
                model.classifier[index].bias.zero_()
        return model

    return seeded(seed, make), images(seed), CE, None


def plain_mlp(depth: int, gain: float, bias: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = 64
    for index in range(depth):
        linear = nn.Linear(3 * 16 * 16 if index == 0 else width, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        with torch.no_grad():
            linear.weight.mul_(gain)
        nn.init.constant_(linear.bias, bias)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers, nn.Linear(width, rm.CLASSES))


def deep_gain3(seed: int) -> Built:
    """A 48-layer plain ReLU MLP with Kaiming init times 3: each layer multiplies the
    signal by ~3 until it overflows to Inf; the growth starts at the first layers."""
    return seeded(seed, lambda: plain_mlp(48, 3.0)), images(seed, 16), CE, None


def deep_relu_collapse(seed: int) -> Built:
    """A 32-layer plain ReLU MLP (no normalisation, no skips), Kaiming init with a
    small positive bias: with depth every input maps to almost the same direction
    (the representations collapse to rank ~1)."""
    model = seeded(seed, lambda: plain_mlp(32, 1.0, bias=0.1))
    x, _ = images(seed, 16)
    target = torch.randint(0, rm.CLASSES, (x.shape[0],), generator=generator(seed, 5))
    return model, (x, target), CE, None


BROKEN = [
    RealCase(
        "convnext_atto_layer_scale_1_lr_1",
        "timm",
        layer_scale_one_huge_lr,
        healthy=False,
        cause="update_ratio_high",
    ),
    RealCase(
        "efficientnet_b0_se_saturated",
        "torchvision",
        se_gate_saturated,
        healthy=False,
        cause="saturation",
        cause_module="features",
    ),
    RealCase(
        "bert_post_ln_12_lr_1e-2",
        "transformers",
        post_ln_deep_bert,
        healthy=False,
        cause="loss_divergence",
    ),
    RealCase(
        "mobilenet_v3_zero_last_two",
        "torchvision",
        zero_last_two_projections,
        healthy=False,
        cause="zero_gradients",
        cause_module="classifier.0",
    ),
    RealCase(
        "deep_mlp_gain3",
        "written here",
        deep_gain3,
        healthy=False,
        cause="exploding_activations",
        cause_module="",
    ),
    RealCase(
        "deep_relu_collapse",
        "written here",
        deep_relu_collapse,
        healthy=False,
        cause="rank_collapse",
    ),
]
