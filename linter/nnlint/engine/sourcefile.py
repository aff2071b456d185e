"""Reading and writing user source files without changing their encoding or newlines."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from nnlint.engine.atomic_write import write_atomic

# Python's tokenizer ends a line at \r\n, \r or \n only; ``str.splitlines`` also
# splits at \f, \v, \x1c-\x1e, \x85, U+2028 and U+2029, which are ordinary
# characters (in strings, comments, or whitespace) to Python.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str, *, keepends: bool = False) -> list[str]:
    """``text``'s lines as Python numbers them (``splitlines`` disagrees on \f etc.)."""
    lines = _LINE.findall(text)
    if keepends:
        return lines
    return [line.rstrip("\r\n") for line in lines]


class UndecodableSource(ValueError):
    """The bytes are not text in the encoding the file declares (or UTF-8).

    ``line``/``column`` (1-based; the column counts bytes) locate the first bad byte.
    """

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class SourceText:
    text: str
    encoding: str  # ``utf-8-sig`` when the file starts with a byte-order mark


def decode(data: bytes) -> SourceText:
    """Decode like the interpreter does: BOM, then a PEP 263 coding cookie, then UTF-8.

    Newlines are kept as they are (``\\r\\n`` stays ``\\r\\n``), so fixes can be written
    back byte-for-byte outside the edited spans.
    """
    # detect_encoding reads lines split at b"\n" only; Python also ends a line at a
    # lone b"\r", so a CR-only file's coding cookie is found on its own line too.
    head = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(head).readline)
    except SyntaxError as error:
        encoding = "utf-8"  # an unknown cookie, or non-UTF-8 bytes in the first lines
        if "unknown encoding" in str(error):
            raise UndecodableSource(str(error)) from None
    try:
        return SourceText(data.decode(encoding), encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start : error.start + 1].hex()
        message = (
            f"byte 0x{byte} is not valid {encoding}; save the file as UTF-8 or declare "
            "its encoding with a '# -*- coding: ... -*-' line"
        )
        raise UndecodableSource(message, line, column) from None


def encode(source: SourceText, text: str) -> bytes:
    return text.encode(source.encoding)


def read_source(path: Path) -> SourceText:
    return decode(path.read_bytes())


def write_source(path: Path, source: SourceText, text: str) -> None:
    """Replace the file atomically: on any failure it keeps its old bytes."""
    write_atomic(path, encode(source, text))
