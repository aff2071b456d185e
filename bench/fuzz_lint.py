"""Fuzz nnlint with hypothesmith-generated programs: it must never crash.

    .venv/bin/python bench/fuzz_lint.py [--examples 2000] [--seed 0]

Every program is linted with all rules selected, twice (as generated, and after an
``import torch`` prelude so that rule triggers fire), and fixed with unsafe fixes on;
fixed code must compile. Prints the number of programs, findings per code, and time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import hypothesmith
from hypothesis import HealthCheck, given, seed, settings

from nnlint.api import lint_text
from nnlint.engine.config import LintConfig
from nnlint.engine.fixer import fix_text
from nnlint.engine.lint_source import compile_quietly

ALL = LintConfig(select=("ALL",))
PRELUDE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def run(examples: int, random_seed: int) -> int:
    codes: Counter[str] = Counter()
    programs = 0

    @seed(random_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(source=hypothesmith.from_grammar())
    def check(source: str) -> None:
        nonlocal programs
        programs += 1
        for text in (source, PRELUDE + source):
            codes.update(
                f.code
                for f in lint_text(text.encode("utf-8", "surrogatepass"), "f.py", ALL)
            )
        outcome = fix_text(PRELUDE + source, "f.py", ALL, unsafe=True)
        if outcome.changed:
            compile_quietly(outcome.fixed, "f.py")

    start = time.perf_counter()
    check()
    elapsed = time.perf_counter() - start
    print(f"programs: {programs}  crashes: 0  time: {elapsed:.1f} s")
    print("findings per code:", dict(sorted(codes.items())) or "none")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    return run(options.examples, options.seed)


if __name__ == "__main__":
    sys.exit(main())
