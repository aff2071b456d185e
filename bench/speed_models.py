"""Architectures for ``bench/check_speed.py``: small hand-made CPU models, and
config-built real architectures (no weights) when timm / torchvision / transformers are
importable.

Every builder returns ``(model, batch, loss_fn)`` with a batch of 8 (images 3x64x64,
token sequences of 32). Hugging Face models are wrapped to return their logits, so the
plain ``loss_fn`` path is what is timed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from bench import zoo_models as zm

Workload = tuple[nn.Module, tuple[Any, torch.Tensor], Callable[..., torch.Tensor]]
BATCH, IMAGE, TOKENS, VOCAB, CLASSES = 8, 64, 32, 1000, 10


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def images() -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen()
    x = torch.randn(BATCH, 3, IMAGE, IMAGE, generator=gen)
    return x, torch.randint(0, CLASSES, (BATCH,), generator=gen)


def tokens() -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen()
    ids = torch.randint(1, VOCAB, (BATCH, TOKENS), generator=gen)
    return ids, torch.randint(0, VOCAB, (BATCH, TOKENS), generator=gen)


def token_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, -2), target.flatten())


def mlp() -> Workload:
    gen = _gen()
    x = torch.randn(128, 256, generator=gen)
    model = zm.MLP([256, 512, 512, 512, 10])
    y = torch.randint(0, 10, (128,), generator=gen)
    return model, (x, y), nn.CrossEntropyLoss()


def small_cnn() -> Workload:
    gen = _gen()
    x = torch.randn(32, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (32,), generator=gen)
    return zm.SmallCNN(channels=32, classes=10, batchnorm=True), (x, y), F.cross_entropy


def tiny_lm() -> Workload:
    model = zm.TinyLM(vocab=VOCAB, dim=128, heads=4, layers=4, length=TOKENS)
    ids, target = tokens()
    return model, (ids, target.flatten()), F.cross_entropy


class LSTMTagger(nn.Module):
    """Embedding -> 2-layer LSTM -> per-token classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 128)
        self.lstm = nn.LSTM(128, 256, num_layers=2, batch_first=True)
        self.head = nn.Linear(256, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(self.emb(ids))[0])


def lstm() -> Workload:
    return LSTMTagger(), tokens(), token_loss


class Logits(nn.Module):
    """A Hugging Face model returning its ``.logits`` (the plain loss_fn path)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.inner(input_ids=ids).logits


def timm_model(name: str, **kwargs: Any) -> Callable[[], Workload]:
    def build() -> Workload:
        import timm

        model = timm.create_model(name, pretrained=False, num_classes=CLASSES, **kwargs)
        return model, images(), F.cross_entropy

    return build


def torchvision_resnet18() -> Workload:
    import torchvision

    return torchvision.models.resnet18(num_classes=CLASSES), images(), F.cross_entropy


def bert_tiny() -> Workload:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=VOCAB, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=512, max_position_embeddings=64,
    )  # fmt: skip
    return Logits(BertForMaskedLM(config)), tokens(), token_loss


def gpt2_tiny() -> Workload:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=VOCAB, n_embd=128, n_layer=2, n_head=2, n_positions=64
    )
    return Logits(GPT2LMHeadModel(config)), tokens(), token_loss


SMALL: dict[str, Callable[[], Workload]] = {
    "MLP 256-512-512-512-10 (batch 128)": mlp,
    "CNN 2 conv+BN 32 ch (32x32, batch 32)": small_cnn,
    "TinyLM 4 pre-LN blocks d=128": tiny_lm,
    "LSTM 2x256 tagger": lstm,
}


def real() -> dict[str, Callable[[], Workload]]:
    """Real architectures whose library is importable (torchvision through the bench's
    op-schema shim, which must have run before timm is imported)."""
    found: dict[str, Callable[[], Workload]] = {}
    if _importable("torchvision"):
        found["torchvision resnet18"] = torchvision_resnet18
    if _importable("timm"):
        found.update(
            {
                "timm resnet18": timm_model("resnet18"),
                "timm convnext_atto": timm_model("convnext_atto"),
                "timm vit_tiny (64px, patch 8)": timm_model(
                    "vit_tiny_patch16_224", img_size=IMAGE, patch_size=8
                ),
                "timm efficientnet_b0": timm_model("efficientnet_b0"),
                "timm mobilenetv3_small_100": timm_model("mobilenetv3_small_100"),
            }
        )
    if _importable("transformers"):
        found["BERT-tiny (2x128)"] = bert_tiny
        found["GPT-2-tiny (2x128)"] = gpt2_tiny
    return found


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def define_torchvision_ops() -> None:
    """torchvision 0.28's wheel here lacks its compiled ops; declare the two op schemas
    its import registers fake kernels for (bench only, never in the package)."""
    try:
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)
    except RuntimeError:
        pass  # already defined in this process (another shim ran first)


_KEEP: list[Any] = []
