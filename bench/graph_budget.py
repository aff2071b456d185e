"""Time and resident-memory growth of check()'s graph analysis on base-size models.

The evidence behind ``GraphLimits``' defaults (20 s, 2048 MB): config-built BERT-base
and GPT-2 (no weights downloaded) analysed the way ``check()`` does it (hookless copy,
budget watchdog, nnlint policy), one process per model so memory is not shared. The
peak growth includes the model's copy, which is made before the budget starts. Both
routes (``recorded``: one real forward of the batch, ``check()``'s default; ``traced``:
symbolic tracing, then ``torch.export``; ``recorded-whole``: the recorded route on the
whole batch instead of its first samples) run under a 120 s budget here, so that the
figures are what each costs, not where the 20 s default cuts it. ``graph_memory_mb`` is
what ``check()`` reports in ``report.meta``.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.graph_budget
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("bert-base", "gpt2", "bert-base-hooked")
ROUTES = ("recorded", "recorded-whole", "traced")


def build(name: str) -> tuple[Any, Any]:
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    ids = torch.randint(0, 30000, (8, 128))
    if name.startswith("bert-base"):
        model = transformers.BertForSequenceClassification(transformers.BertConfig())
        batch = {"input_ids": ids, "labels": torch.zeros(8, dtype=torch.long)}
        if name.endswith("hooked"):  # Grad-CAM style: keep every layer output
            kept: list[Any] = []
            for layer in model.bert.encoder.layer:
                layer.register_forward_hook(lambda m, a, out: kept.append(out))
        return model, batch
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(use_cache=False))
    return model, {"input_ids": ids, "labels": ids}


def measure(name: str, route: str) -> str:
    import resource
    from unittest import mock

    from nnlint.fx import analysis
    from pytest_nnhealth.training.graph import graph_step
    from pytest_nnhealth.training.graph_bounds import GraphLimits, resident_mb

    model, batch = build(name)
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    before = resident_mb()
    started, cpu = time.perf_counter(), time.process_time()
    limits = GraphLimits(time_s=120.0, route=route.removesuffix("-whole"))
    # "-whole": the recorded route on the whole batch, as before nnlint.fx.slicing.
    slicer = (lambda inputs: None) if route.endswith("-whole") else analysis.batch_slice
    with mock.patch.object(analysis, "batch_slice", slicer):
        step = graph_step(model, batch, None, None, limits)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    return (
        f"| {name} | {route} | {elapsed:.1f} | {cpu:.1f} | {weights:.0f} | {peak:.0f} "
        f"| {step.memory_mb:.0f} | {step.status} |"
    )


def main() -> int:
    if len(sys.argv) > 2:
        print(measure(sys.argv[1], sys.argv[2]))
        return 0
    print(
        "| model | route | wall s | CPU s | weights MB (copied first) "
        "| peak RSS growth MB | graph_memory_mb | status |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        for route in ROUTES:
            done = subprocess.run(
                [sys.executable, "-m", "bench.graph_budget", name, route],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            failed = f"| {name} | {route} | error: {done.stderr[-200:]} |"
            print(done.stdout.strip() or failed, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
