"""The speech encoders' ``vanishing_gradients`` read to its cause: a default check of
each wav2vec2-family case as built (every Linear at the library's fixed std 0.02) and
the same model with only the two head Linears (``projector``, ``classifier``) drawn at
std 1/sqrt(fan_in), side by side per seed. docs/unseen-architectures.md has the reading.

    .venv/bin/python bench/unseen_speech_init.py --seeds 0 1
    .venv/bin/python bench/unseen_speech_init.py --only wav2vec2 hubert --frozen
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.unseen_archs import BY_KEY  # noqa: E402
from pytest_nnhealth import check  # noqa: E402
from pytest_nnhealth.judge import quantities as Q  # noqa: E402

SPEECH = ["wav2vec2", "hubert", "sew", "unispeech", "unispeech_sat", "wavlm"]
SPEECH += ["data2vec_audio"]


def head_at_fan_in(model: nn.Module, seed: int) -> None:
    """Redraw the head's Linears at std 1/sqrt(fan_in): unit forward and backward
    gain, where the library's std 0.02 gives 0.02 * sqrt(fan_in) (0.11-0.16 here)."""
    # its own generator: the draw must not depend on what ran before in this process
    gen = torch.Generator().manual_seed(seed)
    for head in (model.projector, model.classifier):
        assert isinstance(head, nn.Linear)
        std = 1 / math.sqrt(head.in_features)
        nn.init.normal_(head.weight, std=std, generator=gen)


def base_widths(seed: int) -> nn.Module:
    """wav2vec 2.0 at wav2vec2-base's widths (hidden 768, conv 512, projection 256),
    still 2 layers and 3 convs: the head's gain 0.02 * sqrt(fan_in) is 0.32 and 0.55."""
    from bench.real_zoo_cases import seeded
    from bench.unseen_models import CLASSES, hf

    config = {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072}
    config |= {
        "conv_dim": (512,) * 3,
        "conv_stride": (5, 2, 2),
        "conv_kernel": (10, 3, 3),
    }
    config |= {
        "classifier_proj_size": 256,
        "num_labels": CLASSES,
        "mask_time_prob": 0.0,
    }
    return seeded(
        seed,
        lambda: hf(
            "Wav2Vec2ForSequenceClassification",
            "Wav2Vec2Config",
            num_hidden_layers=2,
            **config,
        ),
    )


def one_run(name: str, seed: int, variant: str) -> str:
    model, batch, loss_fn, optimizer = BY_KEY[f"transformers:{name}"].build(seed)
    if variant.startswith("base widths"):
        model = base_widths(seed)
    if variant == "base widths, lr 1e-4":
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    if variant == "head 1/sqrt(fan_in)":
        head_at_fan_in(model, seed)
    if variant == "conv encoder frozen":
        model.freeze_feature_encoder()
    report = check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=seed)
    owners = [n for n, s in report.layers.items() if Q.GRAD_NORM in s.series]
    first = report.layers[owners[0]].series[Q.GRAD_NORM]  # the first that trains
    last = report.layers["classifier"].series[Q.GRAD_NORM]
    pairs = zip(first, last, strict=True)
    ratio = [a / b if a is not None and b else math.nan for a, b in pairs]
    found = [f.check for f in report.findings if f.severity == "error"]
    return (
        f"{name:15s} {seed:4d}  {variant:20s} {ratio[0]:9.1e} {min(ratio):9.1e} "
        f"{ratio[-1]:9.1e} {report.losses[0]:6.2f} {report.losses[-1]:6.2f}  "
        f"{', '.join(found) or 'ok'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--only", nargs="+", default=SPEECH, choices=SPEECH)
    parser.add_argument(
        "--frozen", action="store_true", help="also run with the conv stack frozen"
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="also wav2vec 2.0 at base widths, lr 1e-3 and 1e-4 (~60 s)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"{'case':15s} {'seed':>4s}  {'variant':20s} {'ratio@0':>9s} {'min':>9s} "
        f"{'last':>9s} {'loss0':>6s} {'lossN':>6s}  findings (first/last: gradient"
        " norm of the first trained owner / the classifier's)"
    )
    for seed in args.seeds:
        for name in args.only:
            variants = ["library std 0.02", "head 1/sqrt(fan_in)"]
            for variant in variants + ["conv encoder frozen"] * args.frozen:
                print(one_run(name, seed, variant), flush=True)
        for variant in ("base widths", "base widths, lr 1e-4")[: 2 * args.wide]:
            print(one_run("wav2vec2", seed, variant), flush=True)


if __name__ == "__main__":
    main()
