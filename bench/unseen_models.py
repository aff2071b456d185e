"""Config-built transformers models for ``bench/unseen_archs.py``: architectures the
real zoo does not have, each at 2 layers, hidden 64, 4 heads, vocabulary 96, so a
default ``check()`` runs on a CPU in seconds. Never weights."""

from __future__ import annotations

from typing import Any

from torch import nn

from bench.real_zoo_models import CLASSES, VOCAB

TEXT = {
    "vocab_size": VOCAB,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 64,
}
DECODER = {**TEXT, "num_key_value_heads": 2, "pad_token_id": 0}
SEQ2SEQ = {
    "vocab_size": VOCAB,
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
    "max_position_embeddings": 64,
    "pad_token_id": 1,
    "decoder_start_token_id": 2,
}
VISION = {
    "image_size": 32,
    "patch_size": 8,
    "num_channels": 3,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "num_labels": CLASSES,
}


def hf(model_class: str, config_class: str, **config: Any) -> nn.Module:
    """``transformers.<model_class>(transformers.<config_class>(**config))``."""
    import transformers

    made = getattr(transformers, config_class)(**config)
    model: nn.Module = getattr(transformers, model_class)(made)
    return model


def classifier(family: str, **config: Any) -> nn.Module:
    """``<family>ForSequenceClassification`` on the tiny text config; a key given as
    None is left out (a config that refuses it, e.g. Funnel's layer count)."""
    merged = {**TEXT, "num_labels": CLASSES, **config}
    merged = {key: value for key, value in merged.items() if value is not None}
    return hf(f"{family}ForSequenceClassification", f"{family}Config", **merged)


def decoder(family: str, **config: Any) -> nn.Module:
    """``<family>ForCausalLM`` on the tiny decoder config."""
    return hf(f"{family}ForCausalLM", f"{family}Config", **{**DECODER, **config})


def hf_gpt_neo() -> nn.Module:
    return hf(
        "GPTNeoForCausalLM",
        "GPTNeoConfig",
        vocab_size=VOCAB,
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        attention_types=[[["global", "local"], 1]],
        window_size=8,
        max_position_embeddings=64,
        bos_token_id=0,
        eos_token_id=0,
    )


def hf_gptj() -> nn.Module:
    return hf(
        "GPTJForCausalLM",
        "GPTJConfig",
        vocab_size=VOCAB,
        n_embd=64,
        n_layer=2,
        n_head=4,
        rotary_dim=8,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )


def hf_opt() -> nn.Module:
    return hf(
        "OPTForCausalLM",
        "OPTConfig",
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=128,
        word_embed_proj_dim=64,
        max_position_embeddings=64,
    )


def hf_bloom() -> nn.Module:
    return hf(
        "BloomForCausalLM", "BloomConfig", vocab_size=VOCAB, hidden_size=64, n_layer=2
    )


def hf_xlnet() -> nn.Module:
    return hf(
        "XLNetForSequenceClassification",
        "XLNetConfig",
        vocab_size=VOCAB,
        d_model=64,
        n_layer=2,
        n_head=4,
        d_inner=128,
        num_labels=CLASSES,
    )


def hf_seq2seq(family: str, **config: Any) -> nn.Module:
    cls = f"{family}ForConditionalGeneration"
    return hf(cls, f"{family}Config", **{**SEQ2SEQ, **config})


def hf_switch() -> nn.Module:
    """Switch Transformers: top-1 routing over 4 experts in every other layer."""
    return hf(
        "SwitchTransformersForConditionalGeneration",
        "SwitchTransformersConfig",
        vocab_size=VOCAB,
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        num_experts=4,
        encoder_sparse_step=1,
        decoder_sparse_step=1,
        decoder_start_token_id=0,
    )


def hf_vision(family: str, **config: Any) -> nn.Module:
    merged = {**VISION, **config}
    return hf(f"{family}ForImageClassification", f"{family}Config", **merged)


def hf_swin() -> nn.Module:
    return hf(
        "SwinForImageClassification",
        "SwinConfig",
        image_size=32,
        patch_size=2,
        embed_dim=32,
        depths=[2, 2],
        num_heads=[2, 4],
        window_size=4,
        num_labels=CLASSES,
    )


def hf_whisper_encoder() -> nn.Module:
    """Whisper's encoder with a classification head over 16 mel bins x 32 frames."""
    return hf(
        "WhisperForAudioClassification",
        "WhisperConfig",
        vocab_size=VOCAB,
        num_mel_bins=16,
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=128,
        max_source_positions=16,
        num_labels=CLASSES,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
        decoder_start_token_id=1,
    )


def hf_wav2vec2(family: str = "Wav2Vec2", **config: Any) -> nn.Module:
    """wav2vec 2.0 (conv feature encoder + transformer) at 2 layers, hidden 64; its
    descendants (HuBERT, SEW, UniSpeech, WavLM, ...) share the config's keys."""
    return hf(
        f"{family}ForSequenceClassification",
        f"{family}Config",
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        conv_dim=(32, 32, 32),
        conv_stride=(5, 2, 2),
        conv_kernel=(10, 3, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        classifier_proj_size=32,
        num_labels=CLASSES,
        mask_time_prob=0.0,
        **config,
    )


def hf_speech2text() -> nn.Module:
    """Speech2Text: conv subsampling of 16 filterbank features, then 2 + 2 layers."""
    return hf(
        "Speech2TextForConditionalGeneration",
        "Speech2TextConfig",
        **{**SEQ2SEQ, "max_source_positions": 64, "max_target_positions": 64},
        input_feat_per_channel=16,
        num_conv_layers=2,
        conv_channels=32,
    )


def hf_prophetnet() -> nn.Module:
    return hf(
        "ProphetNetForConditionalGeneration",
        "ProphetNetConfig",
        vocab_size=VOCAB,
        hidden_size=64,
        num_encoder_layers=2,
        num_decoder_layers=2,
        num_encoder_attention_heads=4,
        num_decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=64,
        ngram=2,
        pad_token_id=1,
        decoder_start_token_id=2,
    )


def hf_t5_family(family: str) -> nn.Module:
    """T5 descendants (mT5, LongT5) at d_model 64, 2 + 2 layers."""
    return hf(
        f"{family}ForConditionalGeneration",
        f"{family}Config",
        vocab_size=VOCAB,
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        decoder_start_token_id=0,
    )
