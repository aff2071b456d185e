"""The third wave of ``bench/unseen_archs.py`` (``--wave 3``): timm and transformers
architectures in none of the real zoo, the first or the second wave, at their smallest
variant and the smallest input that builds: timm at 32 px unless a stride-32 stage or
an attention window needs 64, ViTs at depth 2 in patches of 8; transformers at 2
layers, hidden 64 (``bench/unseen_models.py``). Builders too long for a line here are
in ``bench/unseen_wave3_models.py``."""

from __future__ import annotations

from typing import Any

from bench import unseen_models as um
from bench import unseen_wave3_models as w3
from bench.real_zoo_cases import RealCase, causal_lm
from bench.unseen_cases import seq2seq
from bench.unseen_wave2 import VIT, _lm, _s2s, _speech, _text, _timm, _vision

TIMM = [
    _timm("cpubone_nano"),
    _timm("csatv2", size=64),  # at 32 px a 2x2 kernel meets a 1x1 map
    _timm("cspnext_tiny"),
    _timm("efficientvim_m1", size=64),
    _timm("sam2_hiera_tiny", size=64),
    _timm("iformer_t", size=64),
    _timm("lcnetv2_small"),
    _timm("lowformer_b0", size=64),
    _timm("mobilenetv5_base"),
    _timm("mobilevitv2_050", size=64),
    _timm("efficientnet_cc_b0_4e"),
    _timm("repvgg_a0"),
    _timm("resnet51q"),
    _timm("resnetv2_50x1_bit"),
    _timm("regnetz_c16_evos"),
    _timm("convnext_zepto_rms"),
    _timm("coat_tiny", img_size=32),
    _timm("maxxvit_rmlp_nano_rw_256", size=64, img_size=64),
    _timm("swin_s3_tiny_224", size=64, img_size=64),
    _timm("sebotnet33ts_256", size=64, img_size=64),
    _timm("naflexvit_base_patch16_gap", **VIT),
    _timm("vit_tiny_r_s16_p8_224", img_size=32, depth=2),
    _timm("vit_small_r26_s32_224", size=64, img_size=64, depth=2),
    _timm("qwen3_vit_88m", **VIT),
    _timm("gemma4_vit_167m", **VIT),
    _timm("deepseek_vit_412m", **VIT),
    _timm("vit_small_patch16_18x2_224", **VIT),
    _timm("vit_base_patch16_siglip_224", **VIT),
    _timm("vit_base_patch16_clip_quickgelu_224", **VIT),
    _timm("vit_pwee_patch16_reg1_gap_256", **VIT),
    _timm("vit_relpos_medium_patch16_rpn_224", **VIT),
]

MOE: dict[str, Any] = {"num_experts": 4, "num_experts_per_tok": 2}
ENCODERS = [
    _text("Yoso"),
    _text("Luke", entity_vocab_size=16, entity_emb_size=32),
    _text("RemBert", input_embedding_size=32, output_embedding_size=32),
    _text("Mra", block_per_row=2),
    _text("FNet"),
    _text("Esm", pad_token_id=0),
    RealCase("canine", "transformers", w3.canine),
    RealCase("xlm", "transformers", w3.xlm_like("XLM")),
]

DECODERS = [
    _lm("mpt", "Mpt", d_model=64, n_heads=4, n_layers=2, max_seq_len=64),
    _lm("mamba2", "Mamba2", **w3.MAMBA2),
    _lm("falcon_mamba", "FalconMamba", state_size=8, use_mambapy=False),
    _lm("recurrent_gemma", "RecurrentGemma", **w3.RECURRENT_GEMMA),
    _lm("deepseek_v2", "DeepseekV2", **w3.DEEPSEEK),
    _lm("deepseek_v3", "DeepseekV3", **w3.DEEPSEEK),
    _lm("granitemoe", "GraniteMoe", num_local_experts=4, num_experts_per_tok=2),
    _lm("phimoe", "Phimoe", num_local_experts=4, num_experts_per_tok=2),
    _lm("nemotron", "Nemotron", head_dim=16),
    RealCase("gemma3_text", "transformers", causal_lm(w3.gemma3_text)),
    _lm("cohere2", "Cohere2", sliding_window=8),
    _lm("qwen3_moe", "Qwen3Moe", head_dim=16, moe_intermediate_size=64, **MOE),
    _lm("lfm2", "Lfm2", **w3.LFM2),
    _lm("gpt_oss", "GptOss", head_dim=16, num_local_experts=4, sliding_window=8),
    RealCase("ctrl", "transformers", causal_lm(w3.ctrl)),
]

SEQ2SEQ = [
    _s2s("bigbird_pegasus", "BigBirdPegasus", attention_type="original_full"),
    _s2s("nllb_moe", "NllbMoe", num_experts=4, expert_capacity=16),
    RealCase("umt5", "transformers", seq2seq(lambda: um.hf_t5_family("UMT5"))),
    RealCase("fsmt", "transformers", seq2seq(w3.fsmt)),
]

CONV_STAGES: dict[str, Any] = {"hidden_sizes": [16, 32], "depths": [1, 1]}
VISION = [
    _vision("clip_vision", "CLIP", **w3.CLIP_VISION),
    _vision("dinov2_registers", "Dinov2WithRegisters", **um.VISION),
    _vision(
        "bit_hf",
        "Bit",
        embedding_size=16,
        **CONV_STAGES,
        layer_type="bottleneck",
        num_groups=8,
    ),
    _vision("efficientnet_hf", "EfficientNet", **w3.EFFICIENTNET),
    _vision("mobilenet_v2_hf", "MobileNetV2", image_size=32, depth_multiplier=0.35),
    _vision(
        "mobilevitv2_hf", "MobileViTV2", size=64, image_size=64, width_multiplier=0.5
    ),
    _vision("swinv2_hf", "Swinv2", **w3.SWIN),
    _vision("hiera_hf", "Hiera", size=64, **w3.HIERA),
]

SIGNALS = [
    RealCase("ast", "transformers", w3.ast),
    _speech("wav2vec2_conformer", "Wav2Vec2Conformer"),
    _speech("sew_d", "SEWD", squeeze_factor=2),
    RealCase("patchtst", "transformers", w3.patchtst),
    RealCase("patchtsmixer", "transformers", w3.patchtsmixer),
]

TRANSFORMERS = ENCODERS + DECODERS + SEQ2SEQ + VISION + SIGNALS
CASES: list[RealCase] = TIMM + TRANSFORMERS
