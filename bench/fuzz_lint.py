"""Fuzz nnlint with hypothesmith-generated programs: it must never crash.

    .venv/bin/python bench/fuzz_lint.py [--examples 2000] [--seed 0] [--files]

Every program is linted with all rules selected, twice (as generated, and after an
``import torch`` prelude so that rule triggers fire), and fixed with unsafe fixes on;
fixed code must compile. Prints the number of programs, findings per code, and time.

``--files`` goes through the command line and real files instead: each program, with
the prelude and a fixable line, is written in one byte-level shape a real file can
have (BOM, CRLF, CR-only, a latin-1 coding cookie, tabs, form feeds, no final newline,
a NUL byte, an undecodable byte), then ``nnlint --fix --unsafe-fixes`` and a plain
``nnlint`` run on it. Each run must exit 0 or 1 without an internal error, and a fixed
file must keep its BOM, its encoding and its newline style; an undecodable file must
stay byte-identical.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesmith
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from nnlint.api import lint_text
from nnlint.cli import main as nnlint_main
from nnlint.engine.config import LintConfig
from nnlint.engine.fixer import fix_text
from nnlint.engine.lint_source import compile_quietly

ALL = LintConfig(select=("ALL",))
PRELUDE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
# A line with a safe or unsafe fix, so that --fix writes the file.
FIXABLE = "probs = F.softmax(logits)\n"


def _shape(text: str, shape: str) -> bytes:
    """``text`` (``\\n`` newlines) as the bytes of a file of the given shape."""
    if shape == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if shape == "crlf":
        return text.replace("\n", "\r\n").encode("utf-8", "surrogatepass")
    if shape == "cr":
        return text.replace("\n", "\r").encode("utf-8", "surrogatepass")
    if shape == "latin1":
        body = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + text
        return body.encode("latin-1", "replace")
    if shape == "tabs":
        return text.replace("    ", "\t").encode("utf-8", "surrogatepass")
    if shape == "formfeed":
        return text.replace("\n", "\n\x0c", 1).encode("utf-8", "surrogatepass")
    if shape == "no-final-newline":
        return text.rstrip("\n").encode("utf-8", "surrogatepass")
    if shape == "nul":
        return text.encode("utf-8", "surrogatepass") + b"x = 1\x00\n"
    if shape == "undecodable":
        return text.encode("utf-8", "surrogatepass") + b"# \xff\xfe\n"
    return text.encode("utf-8", "surrogatepass")


SHAPES = (
    "plain", "bom", "crlf", "cr", "latin1", "tabs", "formfeed", "no-final-newline",
    "nul", "undecodable",
)  # fmt: skip


def _cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = nnlint_main(["--no-cache", "--select", "ALL", *argv])
    return code, err.getvalue()


def _newlines(data: bytes) -> set[bytes]:
    crlf = data.count(b"\r\n")
    styles = {b"\r\n"} if crlf else set()
    if data.count(b"\n") > crlf:
        styles.add(b"\n")
    if data.count(b"\r") > crlf:
        styles.add(b"\r")
    return styles


def check_file(directory: Path, source: str, shape: str) -> str:
    """Lint and fix one shaped file; the outcome: ``fixed``, ``skipped`` (stderr says
    why the fixes were not applied) or ``unchanged``."""
    path = directory / "model.py"
    before = _shape(PRELUDE + FIXABLE + source, shape)
    path.write_bytes(before)
    said = ""
    for argv in (("--fix", "--unsafe-fixes"), ()):
        code, err = _cli(*argv, str(path))
        if code not in (0, 1) or "internal error" in err or "Traceback" in err:
            raise AssertionError(f"{shape}: nnlint {argv} exited {code}: {err}")
        said += err
    after = path.read_bytes()
    if after == before:
        return "skipped" if "fixes skipped" in said else "unchanged"
    if shape == "undecodable":
        raise AssertionError("an undecodable file was rewritten")
    if before.startswith(b"\xef\xbb\xbf") != after.startswith(b"\xef\xbb\xbf"):
        raise AssertionError(f"{shape}: the byte-order mark changed")
    styles = _newlines(before)
    if len(styles) == 1 and _newlines(after) != styles:
        raise AssertionError(f"{shape}: newlines {styles} became {_newlines(after)}")
    if shape == "latin1":
        after.decode("latin-1")
    return "fixed"


def _budget(examples: int, random_seed: int) -> Callable[[Any], Any]:
    """Hypothesis settings of a fuzz run: reproducible, no database, no deadline."""

    def apply(test: Any) -> Any:
        configured = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(test)
        return seed(random_seed)(configured)

    return apply


def run(examples: int, random_seed: int) -> int:
    codes: Counter[str] = Counter()
    programs = 0

    @_budget(examples, random_seed)
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


def run_files(examples: int, random_seed: int) -> int:
    outcomes: Counter[str] = Counter()
    # Generated programs such as `1()` make compile() warn; that is not nnlint's output.
    warnings.filterwarnings("ignore", category=SyntaxWarning)

    @_budget(examples, random_seed)
    @given(source=hypothesmith.from_grammar(), shape=st.sampled_from(SHAPES))
    def check(source: str, shape: str) -> None:
        with tempfile.TemporaryDirectory() as directory:
            outcomes[f"{shape}: {check_file(Path(directory), source, shape)}"] += 1

    start = time.perf_counter()
    check()
    elapsed = time.perf_counter() - start
    print(f"files: {sum(outcomes.values())}  crashes: 0  time: {elapsed:.1f} s")
    print("outcomes:", dict(sorted(outcomes.items())))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", action="store_true", help="real files, CLI, --fix")
    options = parser.parse_args()
    if options.files:
        return run_files(options.examples, options.seed)
    return run(options.examples, options.seed)


if __name__ == "__main__":
    sys.exit(main())
