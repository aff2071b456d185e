"""Builders of the second unseen wave (``bench/unseen_wave2.py``) too long for a
line there. timm models that ``timm.create_model`` cannot shrink:
their registered builders fix the depth (passing ``depths=`` again is a duplicate
keyword) or their attention geometry assumes a 224-256 px input. Each is built from
the same model class with the variant's own widths and block types, fewer blocks,
and attention windows that fit a 32-64 px input. Never weights."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from bench import unseen_models as um
from bench.real_zoo_cases import BATCH, Built, generator, logits_ce, seeded, tokens
from bench.real_zoo_models import CLASSES


def focalnet_tiny_srf() -> nn.Module:
    """FocalNet-T (SRF): embed 96, 2 focal levels; one block per stage."""
    from timm.models.focalnet import FocalNet

    return FocalNet(depths=(1, 1, 1, 1), embed_dim=96, num_classes=CLASSES)


def _mixer(embed_dim: int, **blocks: Any) -> nn.Module:
    """A timm MLP-Mixer-family net at 32 px in patches of 8 (16 tokens), 2 blocks."""
    from timm.models.mlp_mixer import MlpMixer

    return MlpMixer(
        CLASSES, img_size=32, patch_size=8, num_blocks=2, embed_dim=embed_dim, **blocks
    )


def gmlp_ti16() -> nn.Module:
    """gMLP-Ti: spatial gating units, embed 128, mlp ratio 6."""
    from timm.models import mlp_mixer as mm

    gating = {"block_layer": mm.SpatialGatingBlock, "mlp_layer": mm.GatedMlp}
    return _mixer(128, mlp_ratio=6, **gating)


def gmixer_12() -> nn.Module:
    """Glu-Mixer: MLP-Mixer with SwiGLU MLPs, embed 384."""
    from timm.models import mlp_mixer as mm

    return _mixer(384, mlp_ratio=(1.0, 4.0), mlp_layer=mm.GluMlp, act_layer=nn.SiLU)


def volo_d1(img_size: int = 64) -> nn.Module:
    """VOLO-D1 (outlooker stage, then class attention); one block per stage."""
    from timm.models.volo import VOLO

    return VOLO(
        layers=(1, 1, 1, 1),
        embed_dims=(192, 384, 384, 384),
        num_heads=(6, 12, 12, 12),
        img_size=img_size,
        num_classes=CLASSES,
    )


def efficientformer_l1() -> nn.Module:
    """EfficientFormer-L1 (pool mixers, one attention block at the end); one block per
    stage. Its attention biases are a fixed 7x7 table, so it needs 224 px."""
    from timm.models.efficientformer import EfficientFormer

    return EfficientFormer(
        depths=(1, 1, 1, 1),
        embed_dims=(48, 96, 224, 448),
        num_vit=1,
        num_classes=CLASSES,
    )


def byoanet(name: str, attn_key: str, **window: Any) -> nn.Module:
    """A timm bring-your-own-attention net (HaloNet, BAT) with its blocks and widths,
    and the attention blocks' window (``block_size`` ...) replaced by ``window``: the
    variants tile a 256 px input's 8x8 last stage with 8x8 blocks, a 64 px input
    leaves a 2x2 last stage."""
    from timm.models import byoanet as ba
    from timm.models import byobnet as bb

    cfg = {**ba.model_cfgs, **bb.model_cfgs}[name]
    kwargs = {**getattr(cfg, attn_key), **window}
    small = dataclasses.replace(cfg, **{attn_key: kwargs})
    return bb.ByobNet(small, num_classes=CLASSES)


def speech2text(seed: int) -> Built:
    """Speech2Text: 16 frames of 16 filterbank features in, 8 tokens out."""
    gen = generator(seed, 5)
    features = torch.randn(BATCH, 16, 16, generator=gen)
    target = tokens(seed)[:, :8]
    start = torch.full_like(target[:, :1], 2)
    batch = (
        {
            "input_features": features,
            "decoder_input_ids": torch.cat([start, target[:, :-1]], 1),
        },
        target,
    )
    return seeded(seed, um.hf_speech2text), batch, logits_ce, None
