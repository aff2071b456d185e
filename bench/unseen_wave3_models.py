"""Builders and config pieces of the third unseen wave (``bench/unseen_wave3.py``) too
long for a line there: transformers configs whose keys differ from the tiny decoder's
(state-space, recurrent, multi-head-latent attention), models whose classification
class takes a nested config (CLIP, SigLIP), and the batches of the cases whose input is
not tokens or images (characters, spectrograms, multichannel series). Never weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench import unseen_models as um
from bench.real_zoo_cases import (
    BATCH,
    Built,
    classify_tokens,
    generator,
    logits_ce,
    seeded,
)
from bench.real_zoo_models import CLASSES, VOCAB

MAMBA2: dict[str, Any] = {
    "num_heads": 8,
    "head_dim": 16,  # num_heads x head_dim = expand x hidden
    "expand": 2,
    "n_groups": 1,
    "state_size": 16,
    "chunk_size": 16,
}
RECURRENT_GEMMA: dict[str, Any] = {
    "lru_width": 64,
    "attention_window_size": 8,
    "block_types": ["recurrent", "attention"],
    "head_dim": 16,
    "num_key_value_heads": 1,
}
DEEPSEEK: dict[str, Any] = {
    "q_lora_rank": 32,
    "kv_lora_rank": 16,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 16,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
    "moe_intermediate_size": 32,
    "first_k_dense_replace": 1,  # layer 0 dense, layer 1 mixture of experts
    "n_group": 1,
    "topk_group": 1,
}
LFM2: dict[str, Any] = {
    "layer_types": ["conv", "full_attention"],
    "conv_L_cache": 3,
    "block_ff_dim": 128,
}
CLIP_VISION: dict[str, Any] = {"vision_config": um.VISION, "text_config": {}}
EFFICIENTNET: dict[str, Any] = {
    "image_size": 32,
    "width_coefficient": 0.25,
    "depth_coefficient": 0.25,
    "hidden_dim": 320,  # round_filters(1280) at width 0.25
}
SWIN: dict[str, Any] = {
    "image_size": 32,
    "patch_size": 2,
    "embed_dim": 32,
    "depths": [1, 1],
    "num_heads": [2, 4],
    "window_size": 4,
}
HIERA: dict[str, Any] = {
    "image_size": [64, 64],
    "embed_dim": 32,
    "depths": [1, 1, 1, 1],
    "num_heads": [1, 2, 4, 8],
    "query_stride": [2, 2],
    "masked_unit_size": [8, 8],  # divisible by query_stride ** (stages - 1)
}


def canine(seed: int) -> Built:
    """CANINE reads characters (code points) and downsamples them 4x for its deep
    stack; the tiny text batch's ids 1-95 are code points of printable ASCII."""
    config = {
        **um.TEXT,
        "num_labels": CLASSES,
        "downsampling_rate": 4,
        "num_hash_buckets": 64,
    }
    config.pop("vocab_size")
    return classify_tokens(
        lambda: um.hf("CanineForSequenceClassification", "CanineConfig", **config)
    )(seed)


def xlm_like(family: str) -> Callable[[int], Built]:
    """XLM and FlauBERT (a French XLM): ``emb_dim``, ``n_layers``, ``n_heads``."""
    config = {
        "vocab_size": VOCAB,
        "emb_dim": 64,
        "n_layers": 2,
        "n_heads": 4,
        "max_position_embeddings": 64,
        "num_labels": CLASSES,
    }
    make = lambda: um.hf(  # noqa: E731 - a one-line factory
        f"{family}ForSequenceClassification", f"{family}Config", **config
    )
    return classify_tokens(make)


def gemma3_text() -> nn.Module:
    """Gemma 3's text decoder: local (sliding) and global layers, QK-norm."""
    config = {**um.DECODER, "head_dim": 16, "sliding_window": 8}
    return um.hf("Gemma3ForCausalLM", "Gemma3TextConfig", **config)


def ctrl() -> nn.Module:
    return um.hf(
        "CTRLLMHeadModel",
        "CTRLConfig",
        vocab_size=VOCAB,
        n_embd=64,
        n_layer=2,
        n_head=4,
        dff=128,
        n_positions=64,
    )


def fsmt() -> nn.Module:
    """FSMT (fairseq's WMT19 transformer): separate source and target vocabularies."""
    return um.hf(
        "FSMTForConditionalGeneration",
        "FSMTConfig",
        langs=["en", "de"],
        src_vocab_size=VOCAB,
        tgt_vocab_size=VOCAB,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=64,
        pad_token_id=1,
        decoder_start_token_id=2,
    )


def _labelled(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator(seed, 5)
    x = torch.randn(BATCH, *shape, generator=gen)
    return x, torch.randint(0, CLASSES, (BATCH,), generator=gen)


def ast(seed: int) -> Built:
    """Audio Spectrogram Transformer: 32 frames x 16 mel bins cut into 8x8 patches."""
    make = lambda: um.hf(  # noqa: E731
        "ASTForAudioClassification",
        "ASTConfig",
        **{**um.VISION, "patch_size": 8},
        num_mel_bins=16,
        max_length=32,
        frequency_stride=8,
        time_stride=8,
    )
    x, target = _labelled(seed, (32, 16))
    return seeded(seed, make), ({"input_values": x}, target), logits_ce, None


def _series_ce(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on a time-series classifier's logits (named per model)."""
    logits = getattr(output, "prediction_logits", None)
    if logits is None:
        logits = output.prediction_outputs
    return nn.functional.cross_entropy(logits, target)


TS: dict[str, Any] = {
    "num_input_channels": 3,
    "context_length": 32,
    "patch_length": 8,
    "patch_stride": 8,
    "d_model": 64,
    "num_targets": CLASSES,
}


def _series(model_class: str, config_class: str, **config: Any) -> Any:
    """3 channels x 32 steps in patches of 8, one class per series."""

    def build(seed: int) -> Built:
        make = lambda: um.hf(model_class, config_class, **TS, **config)  # noqa: E731
        x, target = _labelled(seed, (32, 3))
        return seeded(seed, make), ({"past_values": x}, target), _series_ce, None

    return build


# PatchTST: a transformer over each channel's patches; PatchTSMixer: MLP-Mixer over
# patches and channels.
patchtst = _series(
    "PatchTSTForClassification",
    "PatchTSTConfig",
    num_hidden_layers=2,
    num_attention_heads=4,
    ffn_dim=128,
)
patchtsmixer = _series(
    "PatchTSMixerForTimeSeriesClassification", "PatchTSMixerConfig", num_layers=2
)
