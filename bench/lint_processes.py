"""Where a cold nnlint run spends CPU outside the per-file stages: parent vs workers.

    .venv/bin/python bench/lint_processes.py [TREE ...] [--repeat N]

Each configuration runs ``nnlint check --exit-zero --output-format json TREE`` in a
fresh interpreter, as a user would, and reports the CPU seconds (user + sys) of the
parent process and of its pool workers (``RUSAGE_CHILDREN`` of the parent), medians
over ``--repeat`` rounds with the configurations interleaved in each round (the
machine is shared: compare figures of one run only, and read the load average):

* start-up: an empty directory (interpreter, imports, configuration, output);
* imports: what a process pays to import the linting code (libcst, the rules);
* ``--no-cache --jobs 1``: everything in one process;
* ``--no-cache --jobs 2``: the default pool of two workers;
* cold cache, jobs 2: a fresh cache directory (hashing and entry writes included),
  what ``bench/lint_speed.py --ruff`` times.

Default tree: /work/corpus/timm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LINTER = str(Path(__file__).resolve().parents[1] / "linter")
# Runs the CLI in this interpreter and prints its own and its children's CPU.
DRIVER = """
import io, json, resource, sys
sys.path.insert(0, {linter!r})
from nnlint.cli.entry import main
sys.stdout, out = io.StringIO(), sys.stdout
code = main(sys.argv[1:])
sys.stdout = out
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([code, me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime]))
"""
IMPORTS = """
import json, resource, sys
sys.path.insert(0, {linter!r})
before = resource.getrusage(resource.RUSAGE_SELF)
from nnlint.engine import lint_source
from nnlint.rules import all_rules
all_rules()
getattr(lint_source, "warm_up", lambda: None)()  # absent before it was added
after = resource.getrusage(resource.RUSAGE_SELF)
spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps([0, spent, 0.0]))
"""


def _run(script: str, arguments: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(parent CPU s, workers' CPU s) of one run."""
    command = [sys.executable, "-c", script.format(linter=LINTER), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed: {done.stderr}")
    code, parent, children = json.loads(done.stdout.splitlines()[-1])
    if code not in (0, 1):
        raise SystemExit(f"nnlint {' '.join(arguments)} exited {code}: {done.stderr}")
    return parent, children


def configurations(tree: str, empty: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (script, nnlint arguments); every run gets a fresh cache directory."""
    common = ["check", "--exit-zero", "--output-format", "json"]
    uncached = [*common, "--no-cache"]
    return {
        "start-up (empty directory)": (DRIVER, [*uncached, empty]),
        "imports + tables (one process)": (IMPORTS, []),
        "--no-cache --jobs 1": (DRIVER, [*uncached, "--jobs", "1", tree]),
        "--no-cache --jobs 2": (DRIVER, [*uncached, "--jobs", "2", tree]),
        "cold cache --jobs 2": (DRIVER, [*common, "--jobs", "2", tree]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", default=["/work/corpus/timm"])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    for tree in options.trees:
        with tempfile.TemporaryDirectory(prefix="nnlint-empty-") as empty:
            runs = configurations(tree, empty)
            spent: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
            loads = [os.getloadavg()[0]]
            for _ in range(options.repeat):
                for name, (script, arguments) in runs.items():
                    with tempfile.TemporaryDirectory(prefix="nnlint-cache-") as cache:
                        env = {**os.environ, "NNLINT_CACHE_DIR": cache}
                        spent[name].append(_run(script, arguments, env))
                loads.append(os.getloadavg()[0])
        print(f"{tree}: CPU s, median of {options.repeat}; load {min(loads):.1f}-"
              f"{max(loads):.1f}")  # fmt: skip
        print("run | parent | workers | total")
        print("---|---|---|---")
        for name, pairs in spent.items():
            parent = statistics.median(p for p, _ in pairs)
            workers = statistics.median(c for _, c in pairs)
            total = statistics.median(p + c for p, c in pairs)
            print(f"{name} | {parent:.2f} | {workers:.2f} | {total:.2f}")


if __name__ == "__main__":
    main()
