"""Probe overhead: bare training steps vs the health check's instrumented steps.

For an MLP, a small CNN and a small transformer, one process times, side by side:

* **bare**: deep copy, build the optimizer, ``steps`` plain training steps, one held
  forward (the same setup the runner does, without a single hook);
* **instrumented**: ``pytest_nnhealth.training.runner.run`` on a deep copy: the default
  probe set attached exactly as ``check()`` attaches it, the same steps, the held
  forward and the conversion of every statistic to floats (what ``check()`` does before
  judging);
* **check()**: the whole public call with the default configuration (judge, replay
  locator when needed, and the graph rules), for reference.

Repeats are interleaved (bare, instrumented, check, bare, ...) and medians reported.
Peak extra memory is the growth of the process's peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs``) during a run, for 10 and for 100 steps: it must not grow with
the number of steps. A "keep every activation" variant (hooks that store each output, as
the classic notebooks do) shows what growth looks like with the same measurement.

    .venv/bin/python -m bench.probe_overhead [--repeats 7] [--threads 1]
        [--memory-repeats 1] [--write]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):  # `python bench/probe_overhead.py` as well as `-m`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench import zoo_models as zm  # noqa: E402
from pytest_nnhealth.training import batches as batch_forms  # noqa: E402
from pytest_nnhealth.training.optimizers import build_optimizer  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec, run, seed_everything, work_copy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")
Workload = tuple[nn.Module, tuple[Any, torch.Tensor], Callable[..., torch.Tensor]]


def mlp() -> Workload:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 256, generator=gen)
    model = zm.MLP([256, 512, 512, 512, 10])
    return (
        model,
        (x, torch.randint(0, 10, (128,), generator=gen)),
        nn.CrossEntropyLoss(),
    )


def cnn() -> Workload:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, 32, 32, generator=gen)
    model = zm.SmallCNN(channels=32, classes=10, batchnorm=True)
    return model, (x, torch.randint(0, 10, (32,), generator=gen)), nn.CrossEntropyLoss()


def transformer() -> Workload:
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 256, (16, 64), generator=gen)
    model = zm.TinyLM(vocab=256, dim=128, heads=4, layers=4, length=64)
    target = torch.randint(0, 256, (16 * 64,), generator=gen)
    return model, (tokens, target), nn.CrossEntropyLoss()


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "MLP (4 Linear, 256-512-512-512-10, batch 128)": mlp,
    "CNN (2 conv+BN, 32 ch, 32x32, batch 32)": cnn,
    "transformer (4 pre-LN blocks, d=128, T=64, batch 16)": transformer,
}


def spec_for(batch: Any, loss_fn: Any, steps: int) -> RunSpec:
    return RunSpec([batch] * steps, loss_fn, None, None, steps, 0, CPU)


def _train(work: nn.Module, memo: dict[int, Any], spec: RunSpec) -> None:
    work.train()
    optimizer, _ = build_optimizer(spec.optimizer, work, memo)
    seed_everything(spec.seed, CPU)
    for step in range(spec.steps):
        optimizer.zero_grad(set_to_none=True)
        loss = batch_forms.compute_loss(work, spec.batches[step], spec.loss_fn, None)
        loss.backward()
        optimizer.step()
    with torch.no_grad():  # the runner's held-batch forward
        batch_forms.compute_loss(work, spec.batches[0], spec.loss_fn, None)


def bare(model: nn.Module, spec: RunSpec) -> None:
    """What the runner does, minus the probes: copy, optimizer, steps, held forward."""
    work, memo = work_copy(model, CPU)
    _train(work, memo, spec)


def instrumented(model: nn.Module, spec: RunSpec) -> None:
    """The runner with its default probes, as ``check()`` calls it."""
    work, memo = work_copy(model, CPU)
    run(work, memo, spec)


def full_check(model: nn.Module, spec: RunSpec) -> None:
    from pytest_nnhealth.training.health_check import check

    check(model, spec.batches[0], loss_fn=spec.loss_fn, steps=spec.steps)


def keep_everything(model: nn.Module, spec: RunSpec) -> None:
    """The classic notebook instrument: keep every module output of every step."""
    kept: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            kept.append(output.detach().clone())

    work, memo = work_copy(model, CPU)
    handles = [module.register_forward_hook(keep) for module in work.modules()]
    try:
        _train(work, memo, spec)
    finally:
        for handle in handles:
            handle.remove()


MODES: dict[str, Callable[[nn.Module, RunSpec], None]] = {
    "bare": bare,
    "instrumented": instrumented,
    "check()": full_check,
}


def time_modes(model: nn.Module, spec: RunSpec, repeats: int) -> dict[str, float]:
    """Median seconds per training step of each mode, repeats interleaved."""
    times: dict[str, list[float]] = {name: [] for name in MODES}
    for fn in MODES.values():  # warm-up: first-call costs are not per-step costs
        fn(model, spec)
    for _ in range(repeats):
        for name, fn in MODES.items():
            started = time.perf_counter()
            fn(model, spec)
            times[name].append((time.perf_counter() - started) / spec.steps)
    return {name: median(values) for name, values in times.items()}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def _release_free_memory() -> None:
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap back to the OS
    except (OSError, AttributeError):
        pass


def steady_allocator() -> None:
    """Make RSS track live memory: serve every allocation >= 64 KiB by its own mmap
    (returned to the OS on free) instead of glibc's adaptive threshold, which otherwise
    moves after the first large frees and makes peaks depend on allocation history."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def peak_growth_mb(
    fn: Callable[[nn.Module, RunSpec], None],
    model: nn.Module,
    spec: RunSpec,
    repeats: int = 3,
) -> float:
    """Median growth of peak RSS over the RSS before the call, in MB (after one
    unmeasured call, so first-use costs are not counted)."""
    fn(model, spec)
    growth = []
    for _ in range(repeats):
        _release_free_memory()
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to current RSS
        before = _status_kb("VmRSS")
        fn(model, spec)
        growth.append((_status_kb("VmHWM") - before) / 1024)
    return median(growth)


def measure(
    name: str, make: Callable[[], Workload], repeats: int, memory_repeats: int
) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, batch, loss_fn = make()
    from pytest_nnhealth.training.health_check import DEFAULT_STEPS

    times = time_modes(model, spec_for(batch, loss_fn, DEFAULT_STEPS), repeats)
    row: dict[str, Any] = {"workload": name, "times": times}
    for steps in (10, 100):
        spec = spec_for(batch, loss_fn, steps)
        n = memory_repeats
        base = peak_growth_mb(bare, model, spec, n)
        row[f"extra_{steps}"] = peak_growth_mb(instrumented, model, spec, n) - base
        row[f"keep_{steps}"] = peak_growth_mb(keep_everything, model, spec, n) - base
    return row


def render(rows: list[dict[str, Any]], header: str) -> str:
    lines = [
        header,
        "",
        "| workload | bare ms/step | instrumented ms/step | ratio | check() ms/step "
        "(ratio) | extra peak MB, 10 / 100 steps | keep-every-output MB, 10 / 100 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        t = row["times"]
        lines.append(
            f"| {row['workload']} | {1e3 * t['bare']:.2f} | "
            f"{1e3 * t['instrumented']:.2f} | {t['instrumented'] / t['bare']:.2f}x | "
            f"{1e3 * t['check()']:.2f} ({t['check()'] / t['bare']:.2f}x) | "
            f"{row['extra_10']:.1f} / {row['extra_100']:.1f} | "
            f"{row['keep_10']:.0f} / {row['keep_100']:.0f} |"
        )
    return "\n".join(lines)


SECTION = "## Health-check overhead"


def write_section(path: Path, body: str) -> None:
    """Replace (or append) this benchmark's section; other sections stay untouched."""
    text = path.read_text() if path.exists() else "# Performance\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + body.strip() + "\n"
    else:
        end = text.find("\n## ", start + len(SECTION))
        tail = text[end:] if end != -1 else "\n"
        text = text[:start] + body.strip() + "\n" + tail
    path.write_text(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--memory-repeats", type=int, default=1, help="median of N peak measurements"
    )
    parser.add_argument(
        "--write", action="store_true", help="update docs/performance.md"
    )
    args = parser.parse_args(argv)
    if min(args.repeats, args.threads, args.memory_repeats) < 1:
        parser.error("--repeats, --threads and --memory-repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    steady_allocator()
    rows = [
        measure(name, make, args.repeats, args.memory_repeats)
        for name, make in WORKLOADS.items()
    ]
    table = render(rows, "")
    print(table.strip())
    from bench.overhead_text import verdicts

    print("\n".join(verdicts(rows)))
    if args.write:
        from bench.overhead_text import section

        write_section(ROOT / "docs" / "performance.md", section(table, rows, args))
        print("updated docs/performance.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
