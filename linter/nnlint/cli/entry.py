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
from typing import TextIO

from nnlint.cli.arguments import UsageError, build_parser

COMMANDS = ("check", "rule", "rules")


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
