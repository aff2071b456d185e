"""The command line's grammar: options of ``nnlint check``, and bad-usage errors."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from nnlint import __version__
from nnlint.output import FORMATS


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlint",
        description="Static linter for PyTorch model code.",
        epilog="Other commands: 'nnlint rule CODE' (explain a rule), 'nnlint rules' "
        "(list all rules). Exit codes: 0 clean, 1 findings, 2 usage or internal error.",
    )
    parser.add_argument("--version", action="version", version=f"nnlint {__version__}")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories")
    selection = parser.add_argument_group("rule selection (codes or prefixes)")
    for flag, text in (
        ("--select", "run only these codes (replaces the configured selection)"),
        ("--extend-select", "run these codes as well"),
        ("--ignore", "do not run these codes"),
    ):
        selection.add_argument(
            flag, action="append", default=[], metavar="CODES", help=text
        )
    fixes = parser.add_argument_group("fixes")
    fixes.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    fixes.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix/--diff, unsafe fixes too",
    )
    fixes.add_argument("--diff", action="store_true", help="print fixes as a diff only")
    report = parser.add_argument_group("output")
    report.add_argument("--output-format", choices=FORMATS, default="text")
    report.add_argument("--statistics", action="store_true", help="counts per code")
    report.add_argument("--exit-zero", action="store_true", help="exit 0 on findings")
    run = parser.add_argument_group("execution")
    run.add_argument(
        "--no-cache", action="store_true", help="ignore the findings cache"
    )
    run.add_argument(
        "--jobs", "-j", type=_positive_int, default=None, help="worker processes"
    )
    run.add_argument(
        "--fx",
        action="store_true",
        help="graph mode: build and trace models (imports code)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def check_jobs_variable(environ: Mapping[str, str]) -> None:
    """``NNLINT_JOBS`` set to something other than a whole number >= 1 is a usage
    error: silently falling back to all cores would hide the typo."""
    text = environ.get("NNLINT_JOBS")
    if text is None or not text.strip():
        return
    try:
        _positive_int(text.strip())
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"NNLINT_JOBS: {error}") from None


def split_values(values: Sequence[str]) -> list[str]:
    return [
        part.strip() for value in values for part in value.split(",") if part.strip()
    ]


def default_paths(paths: Sequence[str]) -> list[Path]:
    if any(not path for path in paths):
        # Path("") is ".": an empty shell variable (`nnlint "$CHANGED"`) would lint
        # the whole working directory instead of nothing.
        raise UsageError("an empty path ('') was given; pass files or directories")
    return [Path(path) for path in paths] or [Path(".")]
