"""nnlint cold/warm wall time vs TorchFix, or cold CPU time vs ruff, side by side.

    .venv/bin/python bench/lint_speed.py [TREE ...] [--torchfix PATH]
        [--torchfix-timeout S] [--repeat N] [--skip-torchfix]
    .venv/bin/python bench/lint_speed.py --ruff [TREE ...] [--repeat N] [--base DIR]

``--ruff``: nnlint cold (fresh cache) and ``ruff check --select ALL --no-cache
--exit-zero TREE`` run alternately, ``--repeat`` rounds, on the same tree; prints the
median CPU seconds (user + sys of the tool and its workers) and wall seconds of each,
the ratio of the medians and the load average, which matters on a shared machine
(CPU time grows under load too, though less than wall time). A tree given as
``DIR/*`` (a quoted glob) is linted as all of DIR's subdirectories in one command
(the wider corpus of ``bench/corpus.py``). ``--base DIR`` also runs, in the same
rounds (base, this code, ruff), the nnlint package found under ``DIR`` (on
``PYTHONPATH``; ``git archive <commit> linter | tar -x -C DIR`` makes ``DIR/linter``),
so a change is measured against its base under the same load.

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
import glob
import os
import resource
import shutil
import statistics
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


RUFF = [
    str(Path(sys.executable).with_name("ruff")),
    "check", "--select", "ALL", "--no-cache", "--exit-zero", "--quiet",
]  # fmt: skip


def _paths(tree: str) -> list[str]:
    if "*" not in tree:
        return [tree]
    return sorted(path for path in glob.glob(tree) if Path(path).is_dir())


def _cold(paths: list[str], python_path: str | None) -> tuple[float, float]:
    """(wall, CPU) of one cold nnlint run, from ``python_path`` when given."""
    with tempfile.TemporaryDirectory(prefix="nnlint-bench-") as cache:
        env = {**os.environ, "NNLINT_CACHE_DIR": cache}
        env.pop("PYTHONPATH", None)
        if python_path is not None:
            env["PYTHONPATH"] = python_path
        return _timed([*NNLINT, *paths], env, None) or (0.0, 0.0)


def against_ruff(trees: list[str], repeat: int, base: str | None = None) -> None:
    """Median cold CPU (wall) of nnlint (and its base) and ruff, alternating runs."""
    versions = {"nnlint": None} if base is None else {"base": base, "nnlint": None}
    print(
        "tree | files | lines | version | cold CPU s (wall) | ruff CPU s (wall) | ratio"
    )
    print("---|---|---|---|---|---|---")
    for tree in trees:
        paths = _paths(tree)
        sizes = [_tree_size(Path(path)) for path in paths]
        ours: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
        theirs: list[tuple[float, float]] = []
        loads = [os.getloadavg()[0]]
        for _ in range(repeat):
            for name, python_path in versions.items():
                ours[name].append(_cold(paths, python_path))
            theirs.append(_timed([*RUFF, *paths], dict(os.environ), None) or (0, 0))
            loads.append(os.getloadavg()[0])
        other = statistics.median(c for _, c in theirs)
        other_wall = statistics.median(w for w, _ in theirs)
        for name, runs in ours.items():
            cpu = statistics.median(c for _, c in runs)
            wall = statistics.median(w for w, _ in runs)
            print(
                f"{tree} | {sum(f for f, _ in sizes)} | {sum(n for _, n in sizes)} "
                f"| {name} | {cpu:.2f} ({wall:.1f}) | {other:.2f} ({other_wall:.1f}) "
                f"| {cpu / other:.1f}x",
                flush=True,
            )
    print(f"median of {repeat} alternating runs; load average {_span(loads)}")


def _span(loads: list[float]) -> str:
    return f"{min(loads):.1f}-{max(loads):.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="nnlint vs TorchFix / ruff time")
    parser.add_argument("trees", nargs="*", default=list(DEFAULT_TREES))
    parser.add_argument("--ruff", action="store_true", help="cold CPU vs ruff")
    parser.add_argument("--torchfix", default=shutil.which("torchfix") or "torchfix")
    parser.add_argument("--torchfix-timeout", type=float, default=600.0)
    parser.add_argument("--skip-torchfix", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--base", help="directory holding a base version's linter/")
    options = parser.parse_args(argv)
    if options.ruff:
        base = None if options.base is None else str(Path(options.base) / "linter")
        against_ruff(options.trees, options.repeat, base)
        return 0
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
