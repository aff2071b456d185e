"""Source text for :mod:`nnlint.engine.cst_from_ast`: slices by ``ast`` positions,
string literals split into their tokens, f-strings split into text and expressions.

libcst keeps every literal as it is written (``0x10``, ``1_000``, ``r"\\d"``), and
``ast`` keeps only values, so literal nodes take their text from the source at the
``ast`` node's position. ``ast`` columns count UTF-8 bytes, not characters.
"""

from __future__ import annotations

import io
import tokenize

from nnlint.engine.sourcefile import split_lines


class Unsupported(Exception):
    """The converter is not sure of the libcst shape: the real parser must be used."""


class SourceText:
    """The text an ``ast`` tree was parsed from, sliced by ``ast`` positions."""

    __slots__ = ("lines",)

    def __init__(self, text: str) -> None:
        self.lines = split_lines(text, keepends=True)

    def segment(self, node: object) -> str:
        """The text of ``node`` (an ``ast`` node with a position)."""
        return self.span(
            node.lineno,  # type: ignore[attr-defined]
            node.col_offset,  # type: ignore[attr-defined]
            node.end_lineno,  # type: ignore[attr-defined]
            node.end_col_offset,  # type: ignore[attr-defined]
        )

    def between(self, before: object, after: object) -> str:
        """The text from the end of ``before`` to the start of ``after``."""
        return self.span(
            before.end_lineno,  # type: ignore[attr-defined]
            before.end_col_offset,  # type: ignore[attr-defined]
            after.lineno,  # type: ignore[attr-defined]
            after.col_offset,  # type: ignore[attr-defined]
        )

    def span(self, line: int, start: int, end_line: int, end: int) -> str:
        """The text from ``(line, start)`` to ``(end_line, end)``, columns in bytes."""
        lines = self.lines
        if line == end_line:
            text = lines[line - 1]
            if text.isascii():
                return text[start:end]
            return text.encode()[start:end].decode()
        first = lines[line - 1].encode()[start:].decode()
        last = lines[end_line - 1].encode()[:end].decode()
        return first + "".join(lines[line : end_line - 1]) + last

    def starts_line(self, node: object) -> bool:
        """Whether only indentation precedes ``node`` on its line (a statement that
        opens an indented block, not one after ``if x:`` on the header's line)."""
        line = node.lineno  # type: ignore[attr-defined]
        text = self.lines[line - 1]
        head = text.encode()[: node.col_offset]  # type: ignore[attr-defined]
        if head.strip(b" \t\x0c"):
            return False
        if line > 1 and self.lines[line - 2].rstrip("\r\n").endswith("\\"):
            raise Unsupported("a suite after a backslash continuation")
        return True


def code_part(text: str) -> str:
    """``text`` (between two tokens) up to its first comment."""
    cut = text.find("#")
    return text if cut < 0 else text[:cut]


def string_pieces(text: str) -> list[str]:
    """The string tokens of an (implicitly concatenated) string literal's text."""
    body = text.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    if text.endswith(quote) and text.count(quote) == 2:
        return [text]  # one token: the closing quote is the only other one
    tokens = tokenize.generate_tokens(io.StringIO("(" + text + ")").readline)
    pieces = [token.string for token in tokens if token.type == tokenize.STRING]
    if not pieces:
        raise Unsupported("string literal not split into tokens")
    return pieces


def split_prefix(piece: str) -> tuple[str, str, str]:
    """``(start, body, end)`` of one string token: ``f"``, the inside, ``"``."""
    body = piece.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    start = piece[: len(piece) - len(body)] + quote
    return start, piece[len(start) : len(piece) - len(quote)], quote
