"""Where a cold nnlint run spends its CPU time, stage by stage, in one process.

    .venv/bin/python bench/lint_stages.py [TREE ...]

Runs what a pool worker runs on every ``.py`` file of the trees (default timm), with
the workers' GC settings, timing each stage separately with ``time.process_time``:
read and decode, the parse guard, ``# noqa`` parsing, the pre-filter (statement scan,
declarations, evidence, pruning), the libcst parse of the kept text, the rules'
shared walk, and the collection of the file's garbage after it. Also prints the share
of the text that reaches the parser.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))

from nnlint.engine import parse_guard  # noqa: E402
from nnlint.engine.lint_source import _mentions, _whole, lint_module  # noqa: E402
from nnlint.engine.noqa import parse_suppressions  # noqa: E402
from nnlint.engine.parsing import parse_module  # noqa: E402
from nnlint.engine.pool import _fewer_collections  # noqa: E402
from nnlint.engine.prefilter import select  # noqa: E402
from nnlint.rules import all_rules  # noqa: E402
from nnlint.rules.engine_rules import is_engine_rule  # noqa: E402


def stages(paths: list[Path]) -> tuple[dict[str, float], int, int]:
    """CPU seconds per stage, characters in the files and characters parsed."""
    rules = [rule for rule in all_rules() if not is_engine_rule(rule)]
    spent: dict[str, float] = defaultdict(float)
    total = parsed = 0
    clock = time.process_time
    for path in paths:
        start = clock()
        text = path.read_bytes().decode("utf-8", "replace")
        total += len(text)
        spent["read"] += (now := clock()) - start
        if parse_guard.check(text) is not None:
            continue
        parse_suppressions(text)
        spent["guard, noqa"] += (start := clock()) - now
        active = [rule for rule in rules if _mentions(text, rule)]
        if not active:
            continue
        if not any(map(_whole, active)):
            pruned, hits = select(text, [rule.NEEDS for rule in active])
            active = [rule for rule, hit in zip(active, hits, strict=True) if hit]
            text = "" if pruned is None else pruned.text
        spent["pre-filter"] += (now := clock()) - start
        if not text:
            continue
        try:
            module = parse_module(text)
        except Exception:  # noqa: BLE001 - a syntax error is its own stage, not timed
            continue
        parsed += len(text)
        spent["parse"] += (start := clock()) - now
        lint_module(module, str(path), active)
        spent["rules (shared walk)"] += (now := clock()) - start
        del module  # the tree is garbage now, as in a worker after the file
        gc.collect(0)
        spent["garbage collection"] += clock() - now
    return spent, total, parsed


def main() -> None:
    trees = sys.argv[1:] or ["/work/corpus/timm"]
    paths = sorted(p for tree in trees for p in Path(tree).rglob("*.py"))
    _fewer_collections()
    gc.disable()  # a worker collects after each file (engine.pipeline.lint_uncached)
    spent, total, parsed = stages(paths)
    print(f"{len(paths)} files; text parsed {parsed / max(total, 1):.1%}")
    print("stage | CPU s | share")
    print("---|---|---")
    whole = sum(spent.values())
    for name, seconds in spent.items():
        print(f"{name} | {seconds:.2f} | {seconds / whole:.0%}")
    print(f"total | {whole:.2f} | 100%")


if __name__ == "__main__":
    main()
