"""Config-built attention architectures at their published widths, for
``bench/default_optimizer.py``.

Widths, heads and MLP ratios are those of the named configs; only the depth is cut
(``DEPTH`` blocks; every block of a config has the same shape, and the attention
logit is a per-block quantity), images are 32 px with patch 8 (16 tokens) and token
models see 16 tokens of a 96-word vocabulary, so one check stays within tens of CPU
seconds. No weights are downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from bench import real_zoo_models as rm
from bench.real_zoo_cases import Built, causal_lm, classify_tokens, image_case

DEPTH = 4


def _vit(name: str, **kwargs: Any) -> Callable[[int], Built]:
    return image_case(
        lambda: rm.timm_model(name, img_size=32, patch_size=8, depth=DEPTH, **kwargs)
    )


def _swin(name: str) -> Callable[[int], Built]:
    # Patch 2 on 32 px: 16 x 16 tokens, windows of 4 x 4; two stages keep the
    # config's first two widths (tiny/small 96 -> 192, base 128 -> 256).
    return image_case(
        lambda: rm.timm_model(
            name, img_size=32, patch_size=2, window_size=4, depths=(2, 2)
        )
    )


def _cait(width: int, heads: int) -> Callable[[int], Built]:
    def make() -> nn.Module:
        from timm.models.cait import Cait

        return Cait(
            img_size=32,
            patch_size=8,
            num_classes=rm.CLASSES,
            embed_dim=width,
            depth=DEPTH,
            num_heads=heads,
            init_values=1e-5,
            depth_token_only=2,
        )

    return image_case(make)


def _bert(width: int, heads: int) -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=rm.VOCAB,
        hidden_size=width,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        num_hidden_layers=DEPTH,
        max_position_embeddings=64,
        num_labels=rm.CLASSES,
    )
    return BertForSequenceClassification(config)


def _gpt2(width: int, heads: int) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=rm.VOCAB,
        n_positions=64,
        n_embd=width,
        n_layer=DEPTH,
        n_head=heads,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


def _llama(width: int, heads: int, ffn: int) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=rm.VOCAB,
        hidden_size=width,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        intermediate_size=ffn,
        num_hidden_layers=DEPTH,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config)


def _t5(width: int, heads: int) -> Callable[[int], Built]:
    from bench.real_zoo_cases import seq2seq

    def make() -> nn.Module:
        from transformers import T5Config, T5ForConditionalGeneration

        config = T5Config(
            vocab_size=rm.VOCAB,
            d_model=width,
            d_kv=width // heads,
            d_ff=4 * width,
            num_layers=DEPTH,
            num_heads=heads,
            decoder_start_token_id=0,
        )
        return T5ForConditionalGeneration(config)

    return lambda seed: seq2seq(seed, make)  # the real zoo's T5 batch


# name -> (hidden width, build)
MODELS: dict[str, tuple[int, Callable[[int], Built]]] = {
    "vit_tiny": (192, _vit("vit_tiny_patch16_224")),
    "vit_small": (384, _vit("vit_small_patch16_224")),
    "vit_base": (768, _vit("vit_base_patch16_224")),
    "deit_small": (384, _vit("deit_small_patch16_224")),
    "deit_base": (768, _vit("deit_base_patch16_224")),
    "deit3_small": (384, _vit("deit3_small_patch16_224")),
    "deit3_base": (768, _vit("deit3_base_patch16_224")),
    "beit_base": (768, _vit("beit_base_patch16_224")),
    "beitv2_base": (768, _vit("beitv2_base_patch16_224")),
    "vit_srelpos_small": (384, _vit("vit_srelpos_small_patch16_224")),
    "vit_rope_small": (384, _vit("vit_small_patch16_rope_224")),
    "vit_betwixt_reg": (640, _vit("vit_betwixt_patch16_reg1_gap_256")),
    "swin_tiny": (192, _swin("swin_tiny_patch4_window7_224")),
    "swin_base": (256, _swin("swin_base_patch4_window7_224")),
    "cait_s": (384, _cait(384, 8)),
    "bert_base": (768, classify_tokens(lambda: _bert(768, 12))),
    "gpt2_base": (768, causal_lm(lambda: _gpt2(768, 12))),
    "t5_base": (768, _t5(768, 12)),
    "llama_1024": (1024, causal_lm(lambda: _llama(1024, 16, 2816))),
}
