"""Command line: argument parsing, ``nnlint check``, rule explanations and docs."""

from __future__ import annotations

from nnlint.cli.entry import main

__all__ = ["main"]
