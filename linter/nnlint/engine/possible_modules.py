"""Which top-level class statements could define a ``torch.nn.Module``, from text.

Most rules judge only ``nn.Module`` subclasses (``nnlint.analysis.module_model``: a
class is one when a base resolves into ``torch.nn``, a base is a module class of the
same file, or it has bases and a ``forward*`` method). The pre-filter need not parse
other classes for them: timm's optimizers, data loaders and configuration classes are 8%
of its text.

This reads the same three facts without parsing, and errs on the side of "possible":
what the file's imports from ``torch`` bind (``import torch.nn as nn``, ``from torch
import nn``, ``from torch.nn import Module as M``), every class name in the file, and a
``def forward`` anywhere in the class. A class is ruled out only when it has no bases,
or when it defines no ``forward`` and none of its bases is spelled as something in
``torch.nn`` (through those imports) or as a class of the file.
"""

from __future__ import annotations

import re

# Each starts with its keyword, which re finds fast; the look-behind after it rules
# out ``xfrom``/``.import``. Also matching in strings and comments only keeps more.
_FROM_IMPORT = re.compile(
    r"from(?<![\w.]from)[ \t]+(torch[\w.]*)[ \t]*import\b[ \t]*"
    r"(\([^)]*\)|(?:[^\n\\]|\\\n)*)"
)
_IMPORT = re.compile(r"import(?<![\w.]import)[ \t]+((?:[^\n\\;#]|\\\n)*)")
_CLASS_NAME = re.compile(r"class(?<![\w.]class)[ \t]+(\w+)")
# A top-level class statement (after its decorators), up to the name.
_TOP_CLASS = re.compile(r"(?:@[^\n]*\n)*class[ \t]+\w+")
_FORWARD = re.compile(r"^[ \t]+(?:async[ \t]+)?def[ \t]+forward", re.MULTILINE)
# A dotted name in a base list (``nn.Module``, ``torch .nn. Module``).
_DOTTED = re.compile(r"(?<![\w.])([^\W\d]\w*(?:\s*\.\s*\w+)*)")
_COMMENT = re.compile(r"#[^\n]*")


def torch_bindings(source: str) -> dict[str, str] | None:
    """Name -> what it is in ``torch``, for the names the file's imports bind to
    something there (None: a star import from torch, which could bind any name)."""
    bound: dict[str, str] = {}
    for match in _IMPORT.finditer(source):
        for part in match.group(1).replace("\\\n", " ").split(","):
            words = part.split()
            if words and words[0].startswith("torch"):
                if "as" in words:
                    bound[words[-1]] = words[0]
                else:  # ``import torch.nn`` binds ``torch``
                    first = words[0].split(".")[0]
                    bound[first] = first
    for match in _FROM_IMPORT.finditer(source):
        listed = _COMMENT.sub("", match.group(2)).replace("\\\n", " ")
        for part in listed.strip().strip("()").split(","):
            words = part.split()
            if words == ["*"]:
                return None
            if words:
                bound[words[-1]] = f"{match.group(1)}.{words[0]}"
    return bound


def module_statements(source: str, starts: list[int], ends: list[int]) -> set[int]:
    """Indexes of the statements that may define a module class: every top-level
    class passing the test above, and every statement that is not a top-level class
    (a class nested in a function is not looked into)."""
    bound = torch_bindings(source)
    local = set(_CLASS_NAME.findall(source))
    found = set()
    for index, (start, end) in enumerate(zip(starts, ends, strict=False)):
        header = _TOP_CLASS.match(source, start)
        if (
            header is None
            or _merged(source, header.end(), end)
            or _may_be_module(source, header.end(), end, local, bound)
        ):
            found.add(index)
    return found


def _may_be_module(
    source: str,
    after_name: int,
    end: int,
    local: set[str],
    bound: dict[str, str] | None,
) -> bool:
    bases = _bases(source, after_name, end)
    if not bases.strip():
        return False  # no bases: never a module
    if bound is None:
        return True
    for dotted in _DOTTED.findall(bases):
        first, _, rest = re.sub(r"\s", "", dotted).partition(".")
        if first in local:
            return True
        qualified = f"{bound[first]}.{rest}" if first in bound else ""
        if qualified.startswith("torch.nn."):
            return True
    return bool(_FORWARD.search(source, after_name, end))


def _merged(source: str, start: int, end: int) -> bool:
    """A second class at column 0 inside one statement: the statement scan merged
    two (it can be misled by quotes), and none of them is judged."""
    return source.find("\nclass ", start, end) >= 0 or (
        source.find("\nclass\t", start, end) >= 0
    )


def _bases(source: str, position: int, end: int) -> str:
    """The text between the parentheses after a class name ('' without them)."""
    while position < end and source[position] in " \t[":
        if source[position] == "[":  # type parameters: class Box[T](Base)
            position = source.find("]", position, end) + 1 or end
        else:
            position += 1
    if position >= end or source[position] != "(":
        return ""
    depth = 0
    for offset in range(position, end):
        char = source[offset]
        depth += (char in "([{") - (char in ")]}")
        if depth == 0:
            return source[position + 1 : offset]
    return source[position + 1 : end]
