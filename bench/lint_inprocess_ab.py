"""CPU seconds to lint one tree file by file in one process, two code versions side
by side, interleaved (A B A B ...), each run in its own fresh process.

    .venv/bin/python bench/lint_inprocess_ab.py --base DIR [--tree T] [--rounds N]

``DIR`` holds the base version's ``nnlint`` package (``git archive <commit> linter |
tar -x -C /tmp/base`` gives ``/tmp/base/linter``); the other version is the one
installed in the venv. Each run calls ``nnlint.api.lint_file`` (no cache) on every
``.py`` file of the tree after one warm-up file, and reports ``time.process_time``
spent and the number of findings (which must be the expected ones for that version).
This is the measurement of docs/analysis.md "Measured"; the machine is shared, so
the load average is printed with each round.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_CHILD = """
import sys, time
from pathlib import Path
from nnlint.api import LintConfig, lint_file
files = sorted(Path(sys.argv[1]).rglob("*.py"))
config = LintConfig()
lint_file(files[0], config, cache=False)
start = time.process_time()
found = sum(len(lint_file(f, config, cache=False)) for f in files)
print(f"{time.process_time() - start:.2f} {found}")
"""


def _run(tree: str, path: str | None) -> str:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if path is not None:
        env["PYTHONPATH"] = path
    command = [sys.executable, "-c", _CHILD, tree]
    return subprocess.run(command, env=env, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--tree", default="/work/corpus/timm")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_ in range(args.rounds):
        for label, path in (("base", args.base), ("this", None)):
            seconds, found = _run(args.tree, path).split()
            load = os.getloadavg()[0]
            print(
                f"round {round_} {label}: {seconds} CPU s, {found} findings, "
                f"load {load:.1f}"
            )


if __name__ == "__main__":
    main()
