"""``check()`` against 25 bare steps as the same architecture grows: is the excess a
per-module cost (falling relative to bare as the work per module grows) or a
per-element one (a constant ratio)?

The real zoo's configurations (``bench/real_zoo_cases.py``) are the smallest that
build: hidden width 64, 16 tokens or 32 px, batch 8, so a bare step takes 2-5 ms of CPU.
Here the architectures above 1.5x on the zoo are built at scale 1 (the zoo's size),
2 and 4: width, tokens and image side all multiplied by the scale, depth and batch
kept. Each row is measured the way ``bench.real_zoo_speed`` measures (its ``bare``
and ``checked``, interleaved, median of ``--repeats``, CPU seconds).

    .venv/bin/python -m bench.speed_by_size [--scales 1 2 4] [--repeats 3]
        [--arch llama bert ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench import real_zoo_cases as cases  # noqa: E402
from bench import real_zoo_models as rm  # noqa: E402
from bench import speed_models  # noqa: E402
from bench.real_zoo_speed import bare, checked, clocks  # noqa: E402

Built = cases.Built


def _llama(scale: int) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    width = 64 * scale
    config = LlamaConfig(
        vocab_size=rm.VOCAB, hidden_size=width, intermediate_size=2 * width,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=rm.SEQ * scale,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _bert(scale: int) -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    width = 64 * scale
    config = BertConfig(
        vocab_size=rm.VOCAB, hidden_size=width, intermediate_size=2 * width,
        num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=rm.SEQ * scale, num_labels=rm.CLASSES,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def _mixer(scale: int, resmlp: bool = False) -> nn.Module:
    from timm.models import mlp_mixer

    extra: dict[str, Any] = {}
    if resmlp:
        extra = {
            "block_layer": mlp_mixer.ResBlock,
            "norm_layer": mlp_mixer.Affine,
            "mlp_ratio": 4,
        }
    return mlp_mixer.MlpMixer(
        num_classes=rm.CLASSES, img_size=32 * scale, patch_size=8, num_blocks=2,
        embed_dim=64 * scale, **extra,
    )  # fmt: skip


class _Tagger(nn.Module):
    """The zoo's recurrent tagger (embedding, 2-layer LSTM, per-token head), wider."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(rm.VOCAB, width)
        self.rnn = nn.LSTM(width, width, num_layers=2, batch_first=True)
        self.head = nn.Linear(width, rm.CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embed(tokens))
        return self.head(hidden)


def _tokens(scale: int, seed: int) -> torch.Tensor:
    shape = (cases.BATCH, rm.SEQ * scale)
    return torch.randint(1, rm.VOCAB, shape, generator=cases.generator(seed, 2))


def _causal(make: Callable[[int], nn.Module]) -> Callable[[int, int], Built]:
    def build(scale: int, seed: int) -> Built:
        ids = _tokens(scale, seed)
        model = cases.seeded(seed, lambda: make(scale))
        return model, ({"input_ids": ids}, ids), cases.next_token_ce, None

    return build


def _classify(scale: int, seed: int) -> Built:
    ids = _tokens(scale, seed)
    target = torch.randint(0, rm.CLASSES, (cases.BATCH,))
    batch = ({"input_ids": ids, "attention_mask": torch.ones_like(ids)}, target)
    return cases.seeded(seed, lambda: _bert(scale)), batch, cases.logits_ce, None


def _image(make: Callable[[int], nn.Module]) -> Callable[[int, int], Built]:
    def build(scale: int, seed: int) -> Built:
        model = cases.seeded(seed, lambda: make(scale))
        return model, cases.images(seed, 32 * scale), cases.CE, None

    return build


def _tagger(scale: int, seed: int) -> Built:
    ids = _tokens(scale, seed)
    model = cases.seeded(seed, lambda: _Tagger(64 * scale))
    return model, (ids, (ids * 7) % rm.CLASSES), cases.logits_ce, None


ARCHITECTURES: dict[str, Callable[[int, int], Built]] = {
    "llama": _causal(_llama),
    "bert": _classify,
    "mixer": _image(_mixer),
    "resmlp": _image(lambda scale: _mixer(scale, resmlp=True)),
    "lstm_tagger": _tagger,
}


def measure(built: Built, repeats: int) -> tuple[float, float]:
    """(bare CPU s, check CPU s), medians of interleaved runs after one warm-up each."""
    bare(built, {})
    checked(built, {})
    bares, checks = [], []
    for _ in range(repeats):
        started = clocks()
        bare(built, {})
        bares.append(clocks()[1] - started[1])
        totals, _ = checked(built, {})
        checks.append(totals["total_cpu"])
    return median(bares), median(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arch", nargs="*", default=list(ARCHITECTURES))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    speed_models.define_torchvision_ops()
    print(f"threads 1, median of {args.repeats}; load {os.getloadavg()[0]:.1f}\n")
    print("| architecture | scale | bare CPU s | check CPU s | ratio | excess CPU s |")
    print("|---|---|---|---|---|---|")
    for name in args.arch:
        for scale in args.scales:
            bare_s, check_s = measure(ARCHITECTURES[name](scale, 0), args.repeats)
            print(
                f"| {name} | {scale} | {bare_s:.3f} | {check_s:.3f} | "
                f"{check_s / bare_s:.2f}x | {check_s - bare_s:.3f} |",
                flush=True,
            )
    print(f"\nload {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
