"""The second wave of ``bench/unseen_archs.py`` (``--wave 2``): timm and transformers
architectures in neither the real zoo nor the first wave, at their smallest variant
and the smallest input that builds. timm at 32 px unless the stem, windows or patch
grid need more; transformers at 2 layers, hidden 64 (``bench/unseen_models.py``)."""

from __future__ import annotations

from typing import Any

from bench import real_zoo_models as rm
from bench import unseen_models as um
from bench import unseen_wave2_models as wm
from bench.real_zoo_cases import (
    RealCase,
    causal_lm,
    classify_tokens,
    logits_ce,
)
from bench.unseen_cases import audio, image_case, seq2seq

VIT = {"img_size": 32, "patch_size": 8, "depth": 2}
FOUR = (1, 1, 1, 1)


def _timm(name: str, size: int = 32, **kwargs: Any) -> RealCase:
    return RealCase(
        name, "timm", image_case(lambda: rm.timm_model(name, **kwargs), size)
    )


def _small(name: str, make: Any, size: int = 32) -> RealCase:
    """A timm variant built from its class at a smaller depth (unseen_wave2_models)."""
    return RealCase(name, "timm", image_case(make, size))


def _byoa(name: str, attn_key: str, **window: Any) -> RealCase:
    """A HaloNet / BAT variant at 64 px with attention windows that tile a 2x2 stage."""
    return _small(name, lambda: wm.byoanet(name, attn_key, **window), 64)


TIMM = [
    _timm("eca_nfnet_l0"),
    _timm("nf_ecaresnet26"),
    _timm("resnest14d"),
    _timm("skresnet18"),
    _timm("gernet_s"),
    _timm("tresnet_m", size=64),
    _timm("regnetz_b16"),
    _timm("efficientnetv2_rw_t"),
    _timm("tf_efficientnetv2_b0"),
    _timm("mobilenetv4_conv_small"),
    _timm("mobileone_s0"),
    _timm("fbnetc_100"),
    _timm("fbnetv3_b"),
    _timm("hardcorenas_a"),
    _timm("mixnet_s"),
    _timm("tf_mixnet_s"),
    _timm("tinynet_e"),
    _timm("lcnet_075"),
    _timm("efficientnet_lite0"),
    _timm("efficientnet_es"),
    _timm("semnasnet_050"),
    _timm("spnasnet_100"),
    _timm("mnasnet_small"),
    _timm(
        "ghostnetv3_050", size=64
    ),  # at 32 px its last stage is 1x1, a 2x2 pool fails
    _timm("vovnet39a"),
    _timm("dla34"),
    _timm("dla46x_c"),
    _timm("cspdarknet53"),
    _timm("darknet17"),
    _timm("ecaresnet26t"),
    _timm("seresnext26d_32x4d"),
    _timm("resnet18d"),
    _timm("resnetaa34d"),
    _timm("resnetblur18"),
    _timm("legacy_seresnet18"),
    _timm("resnetv2_18"),
    _timm("res2next50"),
    _timm("resnext26ts"),
    _timm("gcresnet33ts"),
    _byoa("bat_resnext26ts", "attn_kwargs", block_size=2),
    _byoa("halonet26t", "self_attn_kwargs", block_size=2, halo_size=1),
    _timm("lambda_resnet26t", size=64),
    _byoa("eca_halonext26ts", "self_attn_kwargs", block_size=2, halo_size=1),
    _byoa("haloregnetz_b", "self_attn_kwargs", block_size=2, halo_size=1),
    _timm("regnetx_002"),
    _timm("vgg11"),
    _timm("hgnet_tiny"),
    _timm("inception_v4", size=75),
    _timm("inception_resnet_v2", size=75),
    _timm("xception41"),
    _timm("legacy_xception"),
    _timm("rdnet_tiny"),
    _timm("convnextv2_atto"),
    _timm("poolformerv2_s12"),
    _timm("convformer_s18"),
    _timm("caformer_s18"),
    _small("focalnet_tiny_srf", wm.focalnet_tiny_srf),
    _timm("pvt_v2_b0", size=64),
    _small("efficientformer_l1", wm.efficientformer_l1, size=224),
    _timm("shvit_s1", size=64),
    _timm("swiftformer_xs", size=64),
    _timm("fastvit_mci0", size=64),
    _timm("efficientvit_m0", size=64, img_size=64),
    _timm("nextvit_small", size=64),
    _timm("beit_base_patch16_224", **VIT),
    _timm("beitv2_base_patch16_224", **VIT),
    _timm("eva02_tiny_patch14_224", **VIT),
    _timm("deit3_small_patch16_224", **VIT),
    _timm("flexivit_small", **VIT),
    _timm("vit_relpos_small_patch16_224", **VIT),
    _timm("vit_srelpos_small_patch16_224", **VIT),
    _timm("vit_small_patch16_rope_224", **VIT),
    _timm("vit_betwixt_patch16_reg1_gap_256", **VIT),
    _timm("samvit_base_patch16", **VIT, global_attn_indexes=(1,), window_size=2),
    _timm("swinv2_cr_tiny_ns_224", size=64, img_size=64, window_size=4, depths=FOUR),
    _timm("swinv2_tiny_window8_256", size=64, img_size=64, window_size=4),
    # two branches: 120 px in patches of 12, and 112 px (x 224/240) in patches of 16
    _timm("crossvit_tiny_240", size=120, img_size=120),
    _timm("sequencer2d_s", size=56, layers=FOUR),
    _small("gmlp_ti16_224", wm.gmlp_ti16),
    _small("gmixer_12_224", wm.gmixer_12),
    _small("volo_d1_224", wm.volo_d1, size=64),
    _timm("nest_tiny_jx", size=64, img_size=64),
    _timm("hiera_tiny_224", size=64, img_size=64),
    _timm("mvitv2_tiny", size=64, img_size=64),
    _timm("vitamin_small_224", size=64, img_size=64),
]


def _text(name: str, **config: Any) -> RealCase:
    family = config.pop("family", name)
    return RealCase(
        name.lower(),
        "transformers",
        classify_tokens(lambda: um.classifier(family, **config)),
    )


def _lm(name: str, family: str, **config: Any) -> RealCase:
    return RealCase(
        name, "transformers", causal_lm(lambda: um.decoder(family, **config))
    )


def _s2s(name: str, family: str, **config: Any) -> RealCase:
    return RealCase(
        name, "transformers", seq2seq(lambda: um.hf_seq2seq(family, **config))
    )


def _vision(name: str, family: str, size: int = 32, **config: Any) -> RealCase:
    make = lambda: um.hf(  # noqa: E731 - a one-line factory
        f"{family}ForImageClassification",
        f"{family}Config",
        **{"num_labels": rm.CLASSES, **config},
    )
    return RealCase(name, "transformers", image_case(make, size, logits_ce))


def _speech(name: str, family: str, **config: Any) -> RealCase:
    make = lambda: um.hf_wav2vec2(family, **config)  # noqa: E731
    return RealCase(name, "transformers", audio(make, (1600,), "input_values"))


MARIAN = {**um.SEQ2SEQ, "decoder_start_token_id": 1}
CONV_STAGES: dict[str, Any] = {"hidden_sizes": [16, 32], "depths": [1, 1]}
TRANSFORMERS = [
    _text("DebertaV2"),
    _text("Deberta"),
    _text(
        "Funnel",
        num_hidden_layers=None,  # Funnel counts layers in block_sizes only
        block_sizes=[1, 1],
        d_model=64,
        n_head=4,
        d_head=16,
        d_inner=128,
    ),
    _text("MPNet"),
    _text("Longformer", attention_window=8, pad_token_id=0),
    _text("BigBird", attention_type="original_full"),
    _text("ConvBert"),
    _text("RoFormer"),
    _text("Nystromformer", num_landmarks=4, segment_means_seq_len=16),
    _text(
        "MobileBert", embedding_size=32, intra_bottleneck_size=32, true_hidden_size=32
    ),
    _text("SqueezeBert", embedding_size=64),  # must equal the hidden size
    _text("ModernBert", pad_token_id=0),
    _text("MegatronBert"),
    _lm("gpt_neox", "GPTNeoX"),
    _lm("codegen", "CodeGen", rotary_dim=8, n_ctx=64),
    _lm("stablelm", "StableLm"),
    _lm("cohere", "Cohere"),
    _lm("starcoder2", "Starcoder2"),
    _lm("olmo", "Olmo"),
    _lm("olmo2", "Olmo2"),
    _lm("phi3", "Phi3"),
    _lm("granite", "Granite"),
    _lm("gpt_bigcode", "GPTBigCode"),
    _lm("persimmon", "Persimmon"),
    _lm("xglm", "XGLM", d_model=64, ffn_dim=128, num_layers=2),
    _lm("biogpt", "BioGpt"),
    _lm("mamba", "Mamba", state_size=8, use_mambapy=False),
    _lm("rwkv", "Rwkv", context_length=64, attention_hidden_size=64),
    _lm(
        "jamba",
        "Jamba",
        num_experts=4,
        attn_layer_period=2,
        attn_layer_offset=1,
        expert_layer_period=2,
        expert_layer_offset=1,
        use_mamba_kernels=False,
    ),
    _lm("olmoe", "Olmoe", num_experts=4, num_experts_per_tok=2),
    _lm(
        "dbrx",
        "Dbrx",
        d_model=64,
        n_heads=4,
        n_layers=2,
        max_seq_len=64,
        # the attention reads rope_theta and clamps by clip_qkv without a default
        # for either (DBRX's released config clips at 8)
        attn_config={"kv_n_heads": 2, "rope_theta": 10000.0, "clip_qkv": 8.0},
        ffn_config={"moe_num_experts": 4, "moe_top_k": 2, "ffn_hidden_size": 64},
    ),
    _s2s(
        "led",
        "LED",
        attention_window=8,
        max_encoder_position_embeddings=64,
        max_decoder_position_embeddings=64,
    ),
    _s2s("pegasus", "Pegasus"),
    RealCase(
        "marian",
        "transformers",
        seq2seq(lambda: um.hf("MarianMTModel", "MarianConfig", **MARIAN)),
    ),
    _s2s("blenderbot", "Blenderbot"),
    _s2s("plbart", "PLBart"),
    _s2s("m2m_100", "M2M100"),
    RealCase("prophetnet", "transformers", seq2seq(lambda: um.hf_prophetnet())),
    RealCase("mt5", "transformers", seq2seq(lambda: um.hf_t5_family("MT5"))),
    RealCase("longt5", "transformers", seq2seq(lambda: um.hf_t5_family("LongT5"))),
    _vision("convnextv2", "ConvNextV2", num_stages=2, **CONV_STAGES),
    _vision("resnet_hf", "ResNet", embedding_size=16, **CONV_STAGES),
    _vision(
        "regnet_hf",
        "RegNet",
        embedding_size=16,
        hidden_sizes=[16, 32],
        depths=[1, 1],
        groups_width=8,
    ),
    _vision("mobilevit_hf", "MobileViT", size=64, image_size=64),
    _vision(
        "segformer",
        "Segformer",
        depths=[1, 1, 1, 1],
        hidden_sizes=[16, 32, 32, 64],
        num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=32,
    ),
    _vision("dinov2", "Dinov2", **um.VISION),
    _vision("data2vec_vision", "Data2VecVision", **um.VISION),
    _vision("poolformer_hf", "PoolFormer", depths=[1, 1, 1, 1]),
    _vision("levit_hf", "Levit", size=64, image_size=64),
    # stage i indexes its drop-path list at i, so stage i needs i + 1 blocks
    _vision("cvt", "Cvt", depth=[1, 2, 3]),
    _speech("hubert", "Hubert"),
    _speech("sew", "SEW", squeeze_factor=2),
    _speech("unispeech", "UniSpeech"),
    _speech("unispeech_sat", "UniSpeechSat"),
    _speech("wavlm", "WavLM"),
    _speech("data2vec_audio", "Data2VecAudio"),
    RealCase("speech2text", "transformers", wm.speech2text),
]

CASES: list[RealCase] = TIMM + TRANSFORMERS
