"""Overhead of the attention and output-logit probes against bare training steps.

For transformers of each attention path (hand-written softmax,
``nn.MultiheadAttention``, ``nn.MultiheadAttention``,
``F.scaled_dot_product_attention``; and transformers' GPT-2 and Llama in ``eager`` and
``sdpa`` attention when transformers is installed), one process times, interleaved:

* **bare**: copy, optimizer, 25 plain steps, held forward (``bench/probe_overhead.py``);
* **attention+logits**: the runner with only ``AttentionProbe`` and ``LogitProbe``;
* **default probes**: the runner with every default probe (these two included).

Medians over ``--repeats`` runs, seconds per step, and the ratio to bare.

    .venv/bin/python -m bench.attention_overhead [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench import zoo_attention as za  # noqa: E402
from bench import zoo_models as zm  # noqa: E402
from bench.probe_overhead import CPU, Workload, bare  # noqa: E402
from pytest_nnhealth.probes.attention import AttentionProbe  # noqa: E402
from pytest_nnhealth.probes.logits import LogitProbe  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec, run, work_copy  # noqa: E402

STEPS = 25


def tokens(vocab: int, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (batch, length), generator=gen)
    return ids, torch.randint(0, vocab, (batch * length,), generator=gen)


def hand_written() -> Workload:
    model = zm.TinyLM(vocab=256, dim=128, heads=4, layers=4, length=64)
    return model, tokens(256, 16, 64), nn.CrossEntropyLoss()


def small(make: Callable[[], nn.Module]) -> Callable[[], Workload]:
    def build() -> Workload:
        return make(), tokens(za.VOCAB, 16, za.LENGTH), nn.CrossEntropyLoss()

    return build


def hf(name: str, implementation: str) -> Callable[[], Workload]:
    def build() -> Workload:
        from bench import real_zoo_models as rm

        model = getattr(rm, name)()
        model.config._attn_implementation = implementation
        ids = torch.randint(1, rm.VOCAB, (8, rm.SEQ), generator=torch.Generator())
        return model, ({"input_ids": ids}, ids), next_token

    return build


def next_token(output: Any, ids: torch.Tensor) -> torch.Tensor:
    logits = output.logits[:, :-1]
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)
    )


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "TinyLM hand-written softmax (4 blocks, d=128, T=64, batch 16)": hand_written,
    "zoo MHALM (nn.TransformerEncoder, 2 layers, d=32)": small(za.MHALM),
    "zoo SdpaLM (F.scaled_dot_product_attention, 2 layers, d=32)": small(za.SdpaLM),
}
for _name, _impl in [
    (n, i) for n in ("hf_gpt2", "hf_llama") for i in ("eager", "sdpa")
]:
    WORKLOADS[f"transformers {_name[3:]} ({_impl}, 2 layers, d=64)"] = hf(_name, _impl)


def probed(
    probes: Callable[[], list[Any]] | None,
) -> Callable[[nn.Module, RunSpec], None]:
    def mode(model: nn.Module, spec: RunSpec) -> None:
        work, memo = work_copy(model, CPU)
        run(work, memo, spec, None if probes is None else probes())

    return mode


MODES = {
    "bare": bare,
    "attention+logits": probed(lambda: [AttentionProbe(), LogitProbe()]),
    "default probes": probed(None),
}


def time_modes(workload: Workload, repeats: int) -> dict[str, float]:
    model, batch, loss_fn = workload
    spec = RunSpec([batch] * STEPS, loss_fn, None, None, STEPS, 0, CPU)
    times: dict[str, list[float]] = {name: [] for name in MODES}
    for mode in MODES.values():
        mode(model, spec)  # warm-up
    for _ in range(repeats):
        for name, mode in MODES.items():
            started = time.perf_counter()
            mode(model, spec)
            times[name].append((time.perf_counter() - started) / STEPS)
    return {name: median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=None, help="substring of a workload name")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| workload | bare ms/step | attention+logits | default probes |")
    print("|---|---|---|---|")
    for name, build in WORKLOADS.items():
        if args.only and args.only not in name:
            continue
        try:
            workload = build()
        except ImportError as error:
            print(f"| {name} | skipped: {error} | | |")
            continue
        times = time_modes(workload, args.repeats)
        base = times["bare"]
        cells = [f"{times[m] * 1e3:.1f} ms ({times[m] / base:.2f}x)" for m in MODES]
        print(f"| {name} | {cells[0].split(' (')[0]} | {cells[1]} | {cells[2]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
