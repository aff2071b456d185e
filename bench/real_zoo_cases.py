"""The real-architecture zoo: config-built torchvision/timm/transformers models (and a
few written here), healthy and deliberately broken, with their batches and losses.

Each ``RealCase`` builds, from a seed, ``(model, batch, loss_fn, optimizer)`` for
``check()``; ``None`` optimizer = ``check()``'s default, as a new user would run it.
Batches are small (8 samples, 32 px images, 16 tokens). A broken case names the
symptom that is its root cause (``cause``) and the module prefix it must be found in:
the finding listed first must be that one, every other finding either the same cause
elsewhere or marked as its consequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench import real_zoo_models as rm

BATCH = 8
CE = nn.CrossEntropyLoss()
Built = tuple[nn.Module, Any, Callable[..., torch.Tensor], Any]


@dataclass(frozen=True)
class RealCase:
    name: str
    library: str
    build: Callable[[int], Built]
    healthy: bool = True
    cause: str = ""  # the root-cause symptom a broken case must report first
    cause_module: str = ""  # ... on this module or inside it ("" = the whole model)
    notes: str = ""


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 * salt + seed)


def images(seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator(seed, 1)
    x = torch.randn(BATCH, 3, size, size, generator=gen)
    return x, torch.randint(0, rm.CLASSES, (BATCH,), generator=gen)


def tokens(seed: int) -> torch.Tensor:
    return torch.randint(1, rm.VOCAB, (BATCH, rm.SEQ), generator=generator(seed, 2))


def logits_ce(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on ``output.logits`` (transformers) or the output tensor, with
    one class dimension last (tokens) or second (images)."""
    logits = getattr(output, "logits", output)
    if logits.dim() == 4:
        return CE(logits, target)
    return CE(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def next_token_ce(output: Any, ids: torch.Tensor) -> torch.Tensor:
    logits = output.logits[:, :-1]
    return CE(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def image_case(make: Callable[[], nn.Module], size: int = 32) -> Callable[[int], Built]:
    return lambda seed: (seeded(seed, make), images(seed, size), CE, None)


def classify_tokens(make: Callable[[], nn.Module]) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        ids = tokens(seed)
        mask = torch.ones_like(ids)
        target = torch.randint(0, rm.CLASSES, (BATCH,), generator=generator(seed, 3))
        batch = ({"input_ids": ids, "attention_mask": mask}, target)
        return seeded(seed, make), batch, logits_ce, None

    return build


def causal_lm(make: Callable[[], nn.Module]) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        ids = tokens(seed)
        return seeded(seed, make), ({"input_ids": ids}, ids), next_token_ce, None

    return build


def seq2seq(seed: int, make: Callable[[], nn.Module] | None = None) -> Built:
    ids = tokens(seed)
    target = torch.flip(ids, dims=[1])
    decoder_in = torch.cat([torch.zeros_like(target[:, :1]), target[:, :-1]], dim=1)
    batch = ({"input_ids": ids, "decoder_input_ids": decoder_in}, target)
    return seeded(seed, make or rm.hf_t5), batch, logits_ce, None


def tagger(cell: type[nn.LSTM] | type[nn.GRU]) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        ids = tokens(seed)
        target = (ids * 7) % rm.CLASSES  # a learnable per-token mapping
        model = seeded(seed, lambda: rm.RecurrentTagger(cell))
        return model, (ids, target), logits_ce, None

    return build


def segmentation(seed: int) -> Built:
    x, _ = images(seed)
    target = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()  # per-pixel, learnable
    return seeded(seed, rm.UNet), (x, target), CE, None


def diffusion(seed: int) -> Built:
    x, labels = images(seed, 16)
    noise = torch.randn(x.shape, generator=generator(seed, 4))
    batch = ((x + noise, labels), noise)
    return seeded(seed, rm.TinyDiT), batch, nn.MSELoss(), None


def _tv(name: str, **kwargs: Any) -> Callable[[int], Built]:
    return image_case(lambda: rm.tv(name, **kwargs))


def _timm(name: str, **kwargs: Any) -> Callable[[int], Built]:
    return image_case(lambda: rm.timm_model(name, **kwargs))


def _timm_vit(name: str, **kwargs: Any) -> Callable[[int], Built]:
    return image_case(lambda: rm.timm_vit(name, **kwargs))


def _unseen(key: str) -> Callable[[int], Built]:
    """A case first met in ``bench/unseen_archs.py`` (built there; imported late, as
    that module builds on this one)."""

    def build(seed: int) -> Built:
        from bench.unseen_cases import CASES as UNSEEN

        [case] = [c for c in UNSEEN if f"{c.library}:{c.name}" == key]
        return case.build(seed)

    return build


HEALTHY = [
    RealCase("resnet18", "torchvision", _tv("resnet18")),
    RealCase("mobilenet_v3_small", "torchvision", _tv("mobilenet_v3_small")),
    RealCase("shufflenet_v2_x0_5", "torchvision", _tv("shufflenet_v2_x0_5")),
    RealCase("regnet_y_400mf", "torchvision", _tv("regnet_y_400mf")),
    RealCase("efficientnet_b0", "torchvision", _tv("efficientnet_b0")),
    RealCase("mnasnet0_5", "torchvision", _tv("mnasnet0_5")),
    RealCase("mobilenet_v2", "torchvision", _tv("mobilenet_v2")),
    RealCase("convnext_2stage", "torchvision", image_case(rm.tv_convnext_small_config)),
    RealCase("vit_2layer", "torchvision", image_case(rm.tv_vit_small_config)),
    RealCase("swin_2stage", "torchvision", image_case(rm.tv_swin_small_config)),
    RealCase("convnext_atto", "timm", _timm("convnext_atto")),
    RealCase("vit_tiny", "timm", _timm_vit("vit_tiny_patch16_224")),
    RealCase("deit_tiny", "timm", _timm_vit("deit_tiny_patch16_224")),
    RealCase(
        "swin_tiny_config",
        "timm",
        _timm(
            "swin_tiny_patch4_window7_224",
            img_size=32,
            patch_size=2,
            window_size=4,
            embed_dim=32,
            depths=(2, 2),
            num_heads=(2, 4),
        ),
    ),
    RealCase("mixer", "timm", image_case(rm.timm_mixer)),
    RealCase("efficientnet_b0", "timm", _timm("efficientnet_b0")),
    RealCase("mobilenetv3_small", "timm", _timm("mobilenetv3_small_050")),
    RealCase("cait_tiny_config", "timm", image_case(rm.timm_cait)),
    RealCase("edgenext", "timm", _timm("edgenext_xx_small")),
    RealCase(
        "poolformer_small_config", "timm", image_case(rm.timm_poolformer, size=64)
    ),
    RealCase("regnety_002", "timm", _timm("regnety_002")),
    RealCase("resmlp", "timm", image_case(lambda: rm.timm_mixer(resmlp=True))),
    RealCase("lcnet", "timm", _timm("lcnet_050")),
    RealCase("bert", "transformers", classify_tokens(rm.hf_bert)),
    RealCase("distilbert", "transformers", classify_tokens(rm.hf_distilbert)),
    RealCase("gpt2", "transformers", causal_lm(rm.hf_gpt2)),
    RealCase("llama", "transformers", causal_lm(rm.hf_llama)),
    RealCase("mixtral", "transformers", causal_lm(rm.hf_mixtral)),
    RealCase("t5", "transformers", seq2seq),
    RealCase("lstm_tagger", "torch.nn", tagger(nn.LSTM)),
    RealCase("gru_tagger", "torch.nn", tagger(nn.GRU)),
    # Once false alarms outside this zoo (docs/unseen-architectures.md):
    # parameters read by a method, never called (relative-position tables); a router
    # that moves its classifier with .to() inside forward (graph mode's fake tensors).
    RealCase("coatnet_pico", "timm", _unseen("timm:coatnet_pico_rw_224")),
    RealCase(
        "switch_transformers",
        "transformers",
        _unseen("transformers:switch_transformers"),
    ),
    RealCase("unet", "written here", segmentation),
    RealCase("dit_adaln_zero", "written here", diffusion),
]
