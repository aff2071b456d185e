"""check()'s graph step (the nnlint graph analysis) in CPU milliseconds, two source
trees side by side: each round runs one child process per tree (the order alternates
between rounds), every child times ``--repeats`` warm checks per architecture with
``bench.real_zoo_speed``'s part timers, and the table gives per-tree medians over all
rounds. ``bench.real_zoo_speed`` prints the same part to 0.01 s, too coarse for a
step of 0.01-0.02 s.

    .venv/bin/python bench/graph_step_ab.py --trees /tmp/main-tree . \
        [--arch transformers:llama ...] [--rounds 4] [--repeats 5]

Each tree is imported from its own directory (``PYTHONPATH=tree:tree/linter``), so
one virtual environment serves both; a tree needs ``bench/real_zoo_speed.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median


def child(arches: list[str], repeats: int) -> None:
    """In the tree under test: graph-step CPU seconds per check, per architecture."""
    import torch

    import nnlint
    from bench import speed_models
    from bench.real_zoo_cases import HEALTHY
    from bench.real_zoo_speed import checked

    if not Path(nnlint.__file__).resolve().is_relative_to(Path.cwd().resolve()):
        raise SystemExit(f"nnlint imported from {nnlint.__file__}, not this tree")
    torch.set_num_threads(1)
    speed_models.define_torchvision_ops()
    cases = {f"{c.library}:{c.name}": c for c in HEALTHY}
    times: dict[str, list[float]] = {}
    for arch in arches:
        built = cases[arch].build(0)
        checked(built, {})  # warm-up: first-call costs are not per-check costs
        times[arch] = [checked(built, {})[0]["graph_cpu"] for _ in range(repeats)]
    print(json.dumps(times))


def run_tree(tree: Path, arches: list[str], repeats: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'linter'}")
    command = [sys.executable, __file__, "--child", "--repeats", str(repeats)]
    done = subprocess.run(
        [*command, "--arch", *arches],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, type=Path, default=None)
    parser.add_argument("--arch", nargs="+", default=["transformers:llama"])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.arch, args.repeats)
        return 0
    trees = [t.resolve() for t in args.trees or [Path("."), Path(".")]]
    times: dict[tuple[int, str], list[float]] = {}
    loads = [os.getloadavg()[0]]
    for round_ in range(args.rounds):
        order = range(2) if round_ % 2 == 0 else range(1, -1, -1)
        for index in order:
            for arch, values in run_tree(trees[index], args.arch, args.repeats).items():
                times.setdefault((index, arch), []).extend(values)
        loads.append(os.getloadavg()[0])
    print(f"trees: A {trees[0]}, B {trees[1]}; {args.rounds} rounds x {args.repeats}")
    print(f"warm checks each; load average {min(loads):.1f}-{max(loads):.1f}\n")
    print("| architecture | A graph CPU ms | B graph CPU ms | B / A |")
    print("|---|---|---|---|")
    for arch in args.arch:
        a, b = (1000 * median(times[(i, arch)]) for i in range(2))
        print(f"| {arch} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.path.pop(0)  # this script's folder: the tree under test is on PYTHONPATH
    raise SystemExit(main())
