"""Command-line adapter: parse arguments, call the API, print, choose the exit code.

Exit codes: 0 no findings, 1 findings (or, with ``--diff``, changes), 2 usage or
internal error. Nothing a user can cause prints a traceback; ``NNLINT_DEBUG=1`` shows
the traceback of an unexpected internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from nnlint import __version__
from nnlint.output import FORMATS

COMMANDS = ("check", "rule", "rules")


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
    run.add_argument("--jobs", "-j", type=int, default=None, help="worker processes")
    run.add_argument(
        "--fx",
        action="store_true",
        help="graph mode: build and trace models (imports code)",
    )
    return parser


def _split(values: Sequence[str]) -> list[str]:
    return [
        part.strip() for value in values for part in value.split(",") if part.strip()
    ]


# What a shell reports for a process killed by SIGPIPE (128 + 13): ``nnlint | head``
# then ends like ``grep | head`` does, quietly, and ``set -o pipefail`` still sees it.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    _tolerant_streams()
    try:
        return _dispatch(arguments, sys.stdout)
    except BrokenPipeError:
        # The reader went away (``| head -1``): what it read was printed; send the
        # rest, and the interpreter's final flush, to nowhere.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except SystemExit as exit_request:  # argparse: --help, --version, bad options
        code = exit_request.code
        return code if isinstance(code, int) else 2
    except UsageError as error:
        print(f"nnlint: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnlint: interrupted", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the last line of defence
        if os.environ.get("NNLINT_DEBUG"):
            traceback.print_exc()
        else:
            kind = (
                "" if type(error).__name__ == "InternalError" else type(error).__name__
            )
            print(
                f"nnlint: internal error: {kind + ': ' if kind else ''}{error} "
                "(set NNLINT_DEBUG=1 to see the traceback)",
                file=sys.stderr,
            )
        return 2


def _tolerant_streams() -> None:
    """Paths that the terminal's encoding cannot show (``PYTHONIOENCODING=ascii``, a
    file name that is not UTF-8) are printed with backslash escapes, not a crash.
    JSON and SARIF are pure ASCII anyway (``json.dumps`` escapes)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="backslashreplace")


def _dispatch(arguments: list[str], out: TextIO) -> int:
    command = arguments[0] if arguments and arguments[0] in COMMANDS else "check"
    if arguments and arguments[0] in COMMANDS:
        arguments = arguments[1:]
    if command == "rule":
        return _explain(arguments, out)
    if command == "rules":
        return _catalogue(arguments, out)
    options = build_parser().parse_args(arguments)
    from nnlint.cli.check import run_check

    return run_check(options, out, width=_width(out), color=_color(out))


def _explain(arguments: list[str], out: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="nnlint rule")
    parser.add_argument("code", help="rule code (NNL101) or name (softmax-...)")
    options = parser.parse_args(arguments)
    from nnlint.cli.docsgen import find_rule, render_rule

    rule = find_rule(options.code)
    if rule is None:
        raise UsageError(f"unknown rule {options.code!r} (see 'nnlint rules')")
    out.write(render_rule(rule))
    return 0


def _catalogue(arguments: list[str], out: TextIO) -> int:
    argparse.ArgumentParser(prog="nnlint rules").parse_args(arguments)
    from nnlint.cli.docsgen import catalogue_rules, fix_label

    for rule in catalogue_rules():
        fix = fix_label(rule)
        out.write(f"{rule.CODE}  {rule.NAME:<40} {rule.SEVERITY:<8} {fix}\n")
    return 0


def _width(out: TextIO) -> int:
    if out.isatty():
        return max(40, shutil.get_terminal_size((100, 24)).columns)
    return 100


def _color(out: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or out.isatty()


def default_paths(paths: Sequence[str]) -> list[Path]:
    return [Path(path) for path in paths] or [Path(".")]
