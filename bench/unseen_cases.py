"""The cases of ``bench/unseen_archs.py``: 50+ architectures that are not in the real
zoo (``bench/real_zoo_cases.py``), built from library configs with small sizes.

timm models run at 32 px unless their downsampling or attention windows need 64;
transformers models at 2 layers, hidden 64 (``bench/unseen_models.py``); torchvision
at 32 px except Inception v3 (its stem needs 75 px).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench import real_zoo_models as rm
from bench import unseen_models as um
from bench.real_zoo_cases import (
    BATCH,
    CE,
    Built,
    RealCase,
    causal_lm,
    classify_tokens,
    generator,
    images,
    logits_ce,
    seeded,
    tokens,
)


def image_case(
    make: Callable[[], nn.Module], size: int = 32, loss: Any = CE
) -> Callable[[int], Built]:
    return lambda seed: (seeded(seed, make), images(seed, size), loss, None)


def _timm(name: str, size: int = 32, **kwargs: Any) -> RealCase:
    return RealCase(
        name, "timm", image_case(lambda: rm.timm_model(name, **kwargs), size)
    )


def _tv(name: str, size: int = 32, **kwargs: Any) -> RealCase:
    return RealCase(
        name, "torchvision", image_case(lambda: rm.tv(name, **kwargs), size)
    )


def _hf_image(name: str, make: Callable[[], nn.Module]) -> RealCase:
    return RealCase(name, "transformers", image_case(make, 32, logits_ce))


def seq2seq(make: Callable[[], nn.Module]) -> Callable[[int], Built]:
    """Reverse the sequence: encoder ids in, shifted targets as decoder input."""

    def build(seed: int) -> Built:
        ids = tokens(seed)
        target = torch.flip(ids, dims=[1])
        start = torch.full_like(target[:, :1], 2)
        decoder_in = torch.cat([start, target[:, :-1]], dim=1)
        batch = ({"input_ids": ids, "decoder_input_ids": decoder_in}, target)
        return seeded(seed, make), batch, logits_ce, None

    return build


def audio(make: Callable[[], nn.Module], shape: tuple[int, ...], key: str) -> Any:
    """A random waveform / spectrogram batch with one class label per sample."""

    def build(seed: int) -> Built:
        gen = generator(seed, 5)
        x = torch.randn(BATCH, *shape, generator=gen)
        target = torch.randint(0, rm.CLASSES, (BATCH,), generator=gen)
        return seeded(seed, make), ({key: x}, target), logits_ce, None

    return build


def _convmixer() -> nn.Module:
    """ConvMixer (patchify, then depthwise + pointwise conv blocks) at width 64."""
    from timm.models.convmixer import ConvMixer

    return ConvMixer(64, 4, kernel_size=5, patch_size=4, num_classes=rm.CLASSES)


TIMM = [
    _timm("resnet10t"),
    _timm("res2net50_26w_4s", layers=[1, 1, 1, 1]),
    _timm("densenet121"),
    _timm("dla46_c"),
    _timm("dpn48b", size=64),
    _timm("rexnet_100"),
    _timm("ghostnet_050"),
    _timm("ghostnetv2_100", size=64),
    _timm("mobilevit_xxs", size=64),
    _timm("levit_128s", size=64, img_size=64),
    _timm("pit_ti_224", size=64, img_size=64),
    _timm("tnt_s_patch16_224", img_size=32, patch_size=8, depth=2, embed_dim=96),
    _timm("twins_pcpvt_small", size=64, depths=(1, 1, 1, 1)),
    _timm("twins_svt_small", size=64, depths=(1, 1, 1, 1)),
    _timm("xcit_nano_12_p16_224", img_size=32, patch_size=8, depth=2),
    _timm("coat_lite_tiny", img_size=32),
    RealCase("convmixer_small_config", "timm", image_case(_convmixer)),
    _timm("visformer_tiny", size=64, img_size=64),
    _timm("maxvit_rmlp_pico_rw_256", size=64, img_size=64),
    _timm("coatnet_pico_rw_224", size=64, img_size=64),
    _timm("fastvit_t8"),
    _timm("efficientformerv2_s0", size=64, img_size=64),
    _timm("cspresnet50"),
    _timm("hrnet_w18_small"),
    _timm("nf_regnet_b0"),
    _timm("nf_resnet26"),
    _timm("ese_vovnet19b_slim_dw"),
    _timm("selecsls42b"),
    _timm("cs3darknet_focus_s"),
    _timm("gcvit_xxtiny", size=64, img_size=64),
    _timm("efficientvit_b0"),
    _timm("tiny_vit_5m_224", size=64),
    _timm("davit_tiny", depths=(1, 1, 1, 1)),
    _timm("convit_tiny", img_size=32, patch_size=8, depth=2),
    _timm("starnet_s1"),
    _timm("repvit_m0_9"),
    _timm("hgnetv2_b0"),
    _timm("inception_next_tiny", depths=(1, 1, 1, 1)),
    _timm("mambaout_femto"),
    _timm("botnet26t_256", size=64, img_size=64),
    _timm("repghostnet_050"),
    _timm("fasternet_t0"),
]

TRANSFORMERS = [
    RealCase(
        "roberta",
        "transformers",
        classify_tokens(lambda: um.classifier("Roberta", pad_token_id=0)),
    ),
    RealCase(
        "albert",
        "transformers",
        classify_tokens(lambda: um.classifier("Albert", embedding_size=32)),
    ),
    RealCase(
        "electra",
        "transformers",
        classify_tokens(lambda: um.classifier("Electra", embedding_size=32)),
    ),
    RealCase("xlnet", "transformers", classify_tokens(um.hf_xlnet)),
    RealCase("bart", "transformers", seq2seq(lambda: um.hf_seq2seq("Bart"))),
    RealCase("mbart", "transformers", seq2seq(lambda: um.hf_seq2seq("MBart"))),
    RealCase("switch_transformers", "transformers", seq2seq(um.hf_switch)),
    RealCase("gpt_neo", "transformers", causal_lm(um.hf_gpt_neo)),
    RealCase("gptj", "transformers", causal_lm(um.hf_gptj)),
    RealCase("opt", "transformers", causal_lm(um.hf_opt)),
    RealCase("bloom", "transformers", causal_lm(um.hf_bloom)),
    RealCase(
        "falcon",
        "transformers",
        causal_lm(lambda: um.decoder("Falcon", num_kv_heads=2)),
    ),
    RealCase("qwen2", "transformers", causal_lm(lambda: um.decoder("Qwen2"))),
    RealCase(
        "qwen3", "transformers", causal_lm(lambda: um.decoder("Qwen3", head_dim=16))
    ),
    RealCase("phi", "transformers", causal_lm(lambda: um.decoder("Phi"))),
    RealCase("mistral", "transformers", causal_lm(lambda: um.decoder("Mistral"))),
    RealCase(
        "gemma", "transformers", causal_lm(lambda: um.decoder("Gemma", head_dim=16))
    ),
    RealCase(
        "gemma2", "transformers", causal_lm(lambda: um.decoder("Gemma2", head_dim=16))
    ),
    RealCase(
        "qwen2_moe",
        "transformers",
        causal_lm(
            lambda: um.decoder(
                "Qwen2Moe",
                num_experts=4,
                num_experts_per_tok=2,
                moe_intermediate_size=64,
                shared_expert_intermediate_size=64,
            )
        ),
    ),
    _hf_image("vit", lambda: um.hf_vision("ViT")),
    _hf_image("deit", lambda: um.hf_vision("DeiT")),
    _hf_image("beit", lambda: um.hf_vision("Beit")),
    _hf_image("swin", um.hf_swin),
    RealCase(
        "whisper_encoder",
        "transformers",
        audio(um.hf_whisper_encoder, (16, 32), "input_features"),
    ),
    RealCase(
        "wav2vec2", "transformers", audio(um.hf_wav2vec2, (1600,), "input_values")
    ),
]

TORCHVISION = [
    _tv("googlenet", aux_logits=False, init_weights=True),
    _tv("inception_v3", size=75, aux_logits=False, init_weights=True),
    _tv("squeezenet1_1"),
    _tv("densenet121"),
    _tv("vgg11_bn"),
    _tv("resnext50_32x4d"),
    _tv("mobilenet_v3_large"),
    _tv("regnet_x_400mf"),
]

CASES: list[RealCase] = TIMM + TRANSFORMERS + TORCHVISION
