"""nnlint's JSON output on real trees, recorded once and compared after a change.

    .venv/bin/python bench/lint_identical.py record DIR [TREE ...]
    .venv/bin/python bench/lint_identical.py compare DIR [TREE ...]

Runs ``nnlint --no-cache --exit-zero --output-format json TREE`` (a subprocess, as a
user runs it) on each tree and stores stdout as ``DIR/<tree name>.json``; ``compare``
runs it again and checks the bytes are identical, printing the first differing line
of each tree that changed. A speed change must leave the output byte-identical:
record before the change (``git stash`` or a checkout of the base commit), compare
after. Exit 1 when a tree differs or was not recorded. A tree given as ``DIR/*`` is
linted as all of DIR's subdirectories in one command, like ``bench/lint_speed.py``.

Default trees: /work/corpus/timm, torchvision, transformers and the wider corpus.
"""

from __future__ import annotations

import argparse
import glob
import subprocess
import sys
from pathlib import Path

DEFAULT_TREES = (
    "/work/corpus/timm",
    "/work/corpus/torchvision",
    "/work/corpus/transformers",
    "/work/corpus-wide/*",
)
NNLINT = [sys.executable, "-m", "nnlint", "check", "--no-cache", "--exit-zero"]


def _paths(tree: str) -> list[str]:
    if "*" not in tree:
        return [tree]
    return sorted(path for path in glob.glob(tree) if Path(path).is_dir())


def _name(tree: str) -> str:
    return Path(tree.rstrip("/*")).name + ("-all" if "*" in tree else "")


def lint_json(tree: str) -> bytes:
    command = [*NNLINT, "--output-format", "json", *_paths(tree)]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def _count(output: bytes) -> int:
    return output.count(b'"code":')


def _first_difference(old: bytes, new: bytes) -> str:
    for number, (a, b) in enumerate(
        zip(old.splitlines(), new.splitlines(), strict=False), 1
    ):
        if a != b:
            return f"line {number}: {a[:120]!r} -> {b[:120]!r}"
    return f"lengths {len(old)} -> {len(new)} bytes"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("trees", nargs="*", default=list(DEFAULT_TREES))
    options = parser.parse_args()
    options.directory.mkdir(parents=True, exist_ok=True)
    failed = 0
    for tree in options.trees:
        stored = options.directory / f"{_name(tree)}.json"
        output = lint_json(tree)
        if options.action == "record":
            stored.write_bytes(output)
            print(f"{tree}: recorded {_count(output)} findings in {stored}")
        elif not stored.exists():
            failed += 1
            print(f"{tree}: not recorded ({stored})")
        elif stored.read_bytes() != output:
            failed += 1
            print(f"{tree}: DIFFERS, {_first_difference(stored.read_bytes(), output)}")
        else:
            print(f"{tree}: identical ({_count(output)} findings)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
