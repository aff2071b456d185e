"""Default ``check()`` on models built from their authors' repositories: the code people
copy from, not released packages. A trust test on material nobody calibrated against.

The repositories are not part of this project: fetch their sources into ROOT first
(one directory each, named as below), and install what their imports need::

    ROOT/nanoGPT  ROOT/minGPT  ROOT/whisper  ROOT/CLIP  ROOT/dinov2
    ROOT/segment-anything  ROOT/x-transformers  ROOT/detr
    .venv/bin/pip install tiktoken numba ftfy regex einops einx scipy loguru \\
        torch-einops-utils "torch==2.13.0"
    .venv/bin/python bench/author_repos.py --root ROOT [--only NAME ...] [--seeds 0 1 2]

Each model at a tiny config, no weights (DETR's backbone is built without its
pretrained download), trained on the task it was made for; one row per (model, seed):
error and warning findings, the graph step's status, the first and last loss.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

Built = tuple[nn.Module, Any, Any]  # model, batch, loss_fn
ROOT = Path(".")


def _source(repo: str) -> Path:
    path = ROOT / repo
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _tokens() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 100, (8, 16))
    return ids, ids.roll(-1, 1)


def nanogpt() -> Built:
    model = _module(_source("nanoGPT") / "model.py", "nanogpt_model")
    config = model.GPTConfig(
        block_size=32, vocab_size=100, n_layer=2, n_head=4, n_embd=64, dropout=0.0
    )
    return model.GPT(config), (_tokens(), None), lambda out, _: out[1]


def mingpt() -> Built:
    _source("minGPT")
    from mingpt.model import GPT

    config = GPT.get_default_config()
    config.model_type, config.vocab_size, config.block_size = None, 100, 32
    config.n_layer, config.n_head, config.n_embd = 2, 4, 64
    return GPT(config), (_tokens(), None), lambda out, _: out[1]


def whisper() -> Built:
    _source("whisper")
    import whisper.model as wm

    dims = wm.ModelDimensions(
        n_mels=16, n_audio_ctx=16, n_audio_state=64, n_audio_head=4, n_audio_layer=2,
        n_vocab=100, n_text_ctx=16, n_text_state=64, n_text_head=4, n_text_layer=2,
    )  # fmt: skip
    tokens = torch.randint(0, 100, (4, 8))
    batch = ((torch.randn(4, 16, 32), tokens), tokens)
    return (
        wm.Whisper(dims),
        batch,
        lambda logits, t: F.cross_entropy(logits.reshape(-1, 100), t.reshape(-1)),
    )


def _contrastive(out: Any, _: Any) -> torch.Tensor:
    per_image, per_text = out
    labels = torch.arange(per_image.shape[0])
    return (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels)) / 2


def _clip(vision_layers: Any, patch: int | None, size: int) -> Callable[[], Built]:
    def build() -> Built:
        clip = _module(_source("CLIP") / "clip" / "model.py", "clip_model")
        model = clip.CLIP(
            embed_dim=32, image_resolution=size, vision_layers=vision_layers,
            vision_width=64 if patch else 16, vision_patch_size=patch,
            context_length=16, vocab_size=100, transformer_width=64,
            transformer_heads=4, transformer_layers=2,
        )  # fmt: skip
        images = torch.randn(8, 3, size, size)
        return model, ((images, torch.randint(1, 100, (8, 16))), None), _contrastive

    return build


def dinov2() -> Built:
    _source("dinov2")
    from dinov2.models.vision_transformer import DinoVisionTransformer

    backbone = DinoVisionTransformer(
        img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4,
        init_values=1e-5, num_register_tokens=2,
    )  # fmt: skip
    backbone.init_weights()
    batch = (torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))
    return nn.Sequential(backbone, nn.Linear(64, 10)), batch, F.cross_entropy


def sam_encoder() -> Built:
    _source("segment-anything")
    from segment_anything.modeling.image_encoder import ImageEncoderViT

    encoder = ImageEncoderViT(
        img_size=64, patch_size=8, embed_dim=64, depth=2, num_heads=4, out_chans=32,
        use_rel_pos=True, window_size=4, global_attn_indexes=(1,),
    )  # fmt: skip
    batch = (torch.randn(4, 3, 64, 64), torch.randint(0, 3, (4, 8, 8)))
    return nn.Sequential(encoder, nn.Conv2d(32, 3, 1)), batch, F.cross_entropy


X_TRANSFORMERS: dict[str, dict[str, Any]] = {
    "plain": {},
    "rotary_glu": {"rotary_pos_emb": True, "ff_glu": True},
    "sandwich": {"sandwich_norm": True},
    "alibi": {"alibi_pos_bias": True, "alibi_num_heads": 2},
    "qk_norm": {"attn_qk_norm": True},
    "macaron": {"macaron": True},
}


def _x_transformer(options: dict[str, Any]) -> Callable[[], Built]:
    def build() -> Built:
        _source("x-transformers")
        from x_transformers import Decoder, TransformerWrapper

        layers = Decoder(dim=64, depth=2, heads=4, **options)
        model = TransformerWrapper(num_tokens=100, max_seq_len=32, attn_layers=layers)
        return (
            model,
            _tokens(),
            lambda out, t: F.cross_entropy(out.reshape(-1, 100), t.reshape(-1)),
        )

    return build


def detr() -> Built:
    _source("detr")
    import models.backbone as backbones
    from models.detr import DETR, SetCriterion
    from models.matcher import HungarianMatcher
    from models.position_encoding import PositionEmbeddingSine
    from models.transformer import Transformer

    backbones.is_main_process = lambda: False  # no pretrained download
    body = backbones.Backbone("resnet18", True, False, False)
    joined = backbones.Joiner(body, PositionEmbeddingSine(32, normalize=True))
    joined.num_channels = body.num_channels
    transformer = Transformer(
        d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
        dim_feedforward=128, dropout=0.0, return_intermediate_dec=True,
    )  # fmt: skip
    model = DETR(joined, transformer, num_classes=3, num_queries=10, aux_loss=True)
    weights = {"loss_ce": 1, "loss_bbox": 5, "loss_giou": 2}
    weights.update({f"{k}_0": v for k, v in list(weights.items())})
    criterion = SetCriterion(
        3, matcher=HungarianMatcher(cost_class=1, cost_bbox=5, cost_giou=2),
        weight_dict=weights, eos_coef=0.1, losses=["labels", "boxes", "cardinality"],
    )  # fmt: skip
    targets = [
        {"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.3, 0.4]])},
        {
            "labels": torch.tensor([2, 1]),
            "boxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.5]]),
        },
    ]

    def loss(out: Any, target: Any) -> torch.Tensor:
        terms = criterion(out, target)
        return sum(terms[k] * weights[k] for k in terms if k in weights)

    return model, (torch.rand(2, 3, 64, 64), targets), loss


CASES: dict[str, Callable[[], Built]] = {
    "nanoGPT": nanogpt,
    "minGPT": mingpt,
    "whisper": whisper,
    "clip_vit": _clip(2, 8, 32),
    "clip_resnet": _clip((1, 1, 1, 1), None, 64),
    "dinov2": dinov2,
    "sam_encoder": sam_encoder,
    **{f"x_transformers_{k}": _x_transformer(v) for k, v in X_TRANSFORMERS.items()},
    "detr": detr,
}


def run(name: str, seed: int) -> dict[str, Any]:
    from pytest_nnhealth import check

    torch.manual_seed(seed)
    model, batch, loss_fn = CASES[name]()
    try:
        report = check(model, batch, loss_fn=loss_fn, seed=seed)
    except Exception as error:  # noqa: BLE001 - a bench row
        return {"name": name, "seed": seed, "crash": str(error).splitlines()[0][:300]}
    found = {
        severity: [
            (f.check, f.module) for f in report.findings if f.severity == severity
        ]
        for severity in ("error", "warning")
    }
    return {
        "name": name, "seed": seed, "errors": found["error"],
        "warnings": found["warning"], "graph": report.meta.get("graph"),
        "losses": [round(report.losses[0], 3), round(report.losses[-1], 3)],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=list(CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    ROOT = args.root
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the repositories' own deprecation warnings
    from bench import speed_models

    speed_models.define_torchvision_ops()  # DETR's backbone imports torchvision
    for name in args.only:
        for seed in args.seeds:
            print(json.dumps(run(name, seed)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
