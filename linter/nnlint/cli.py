"""Command-line adapter for nnlint (placeholder until the engine lands)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from nnlint import __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnlint")
    parser.add_argument("--version", action="version", version=f"nnlint {__version__}")
    parser.parse_args(argv)
    return 0
