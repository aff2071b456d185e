"""nnlint cold/warm wall time vs TorchFix on real trees, side by side.

    .venv/bin/python bench/lint_speed.py [TREE ...] [--torchfix PATH]
        [--torchfix-timeout S] [--repeat N] [--skip-torchfix]

Defaults: /work/corpus/timm and /work/corpus/torchvision. Each tool runs as a
subprocess on the same tree, as a user would run it:

* nnlint cold: a fresh, empty cache directory (``NNLINT_CACHE_DIR``), default rules;
* nnlint warm: the same command again (every file is a cache hit);
* TorchFix: ``torchfix TREE`` (all cores), killed after ``--torchfix-timeout``
  seconds, in which case the ratio is a lower bound (printed with ``>``).

TorchFix pins an older libcst, so install it in its own environment
(``python -m venv /tmp/torchfix-venv && /tmp/torchfix-venv/bin/pip install torchfix``)
and pass ``--torchfix /tmp/torchfix-venv/bin/torchfix``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TREES = ("/work/corpus/timm", "/work/corpus/torchvision")
NNLINT = [
    sys.executable,
    "-m",
    "nnlint",
    "check",
    "--exit-zero",
    "--output-format",
    "json",
]


def _timed(
    command: list[str], env: dict[str, str], timeout: float | None
) -> tuple[float, float] | None:
    """(wall s, CPU s of the process tree), or None when killed at ``timeout``.

    CPU time is reported too because this machine is shared: wall time under load
    overstates what the tool costs.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, env=env, timeout=timeout, check=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"{' '.join(command)} failed ({done.returncode}): {done.stderr}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _tree_size(tree: Path) -> tuple[int, int]:
    files = [p for p in tree.rglob("*.py") if ".git" not in p.parts]
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    return len(files), lines


def nnlint_times(
    tree: Path, repeat: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Best cold and best warm (wall, CPU) over ``repeat`` runs."""
    colds, warms = [], []
    for _ in range(repeat):
        cache = tempfile.mkdtemp(prefix="nnlint-bench-")
        env = {**os.environ, "NNLINT_CACHE_DIR": cache}
        try:
            colds.append(_timed([*NNLINT, str(tree)], env, None) or (0.0, 0.0))
            warms.append(_timed([*NNLINT, str(tree)], env, None) or (0.0, 0.0))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return min(colds), min(warms)


def torchfix_time(
    executable: str, tree: Path, timeout: float
) -> tuple[float, float] | None:
    return _timed([executable, str(tree)], dict(os.environ), timeout)


def _ratio(other: tuple[float, float] | None, ours: float, timeout: float) -> str:
    if other is None:
        return f">{timeout / ours:.0f}x"
    return f"{other[0] / ours:.0f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="nnlint vs TorchFix wall time")
    parser.add_argument("trees", nargs="*", default=list(DEFAULT_TREES))
    parser.add_argument("--torchfix", default=shutil.which("torchfix") or "torchfix")
    parser.add_argument("--torchfix-timeout", type=float, default=600.0)
    parser.add_argument("--skip-torchfix", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args(argv)
    header = (
        "tree | files | lines | nnlint cold s (cpu) | nnlint warm s (cpu) "
        "| TorchFix s (cpu) | cold ratio | load"
    )
    print(header)
    print("|".join("---" for _ in header.split("|")))
    for name in options.trees:
        tree = Path(name)
        files, lines = _tree_size(tree)
        cold, warm = nnlint_times(tree, options.repeat)
        if options.skip_torchfix:
            shown, ratio = "skipped", "-"
        else:
            other = torchfix_time(options.torchfix, tree, options.torchfix_timeout)
            limit = options.torchfix_timeout
            shown = f"{other[0]:.1f} ({other[1]:.1f})" if other else f">{limit:.0f}"
            ratio = _ratio(other, cold[0], limit)
        load = os.getloadavg()[0]
        print(
            f"{tree.name} | {files} | {lines} | {cold[0]:.2f} ({cold[1]:.2f}) "
            f"| {warm[0]:.2f} ({warm[1]:.2f}) | {shown} | {ratio} | {load:.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
