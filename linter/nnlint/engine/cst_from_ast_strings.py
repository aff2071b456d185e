"""String literals as libcst writes them: one node per token, f-strings in parts.

``ast`` merges ``"a" f"{b}"`` into one value and, before Python 3.12, gives the
expressions inside an f-string positions that are not reliable, so both are taken
from the source text instead: the literal's text is split into its tokens, and each
f-string token into text and ``{...}`` fields whose expressions are parsed again on
their own (:func:`formatted_string`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst

from nnlint.engine.cst_from_ast_text import Unsupported, split_prefix, string_pieces

Expression = Callable[[str], cst.BaseExpression]
Part = cst.FormattedStringText | cst.FormattedStringExpression


def string_literal(text: str, expression: Expression) -> cst.BaseExpression:
    """The node of a string literal's ``text``, concatenated pieces nested right."""
    pieces = string_pieces(text)
    nodes: list[Any] = [_piece(piece, expression) for piece in pieces]
    result = nodes[-1]
    for node in reversed(nodes[:-1]):
        result = cst.ConcatenatedString(left=node, right=result)
    return result


def _piece(piece: str, expression: Expression) -> cst.BaseString:
    start, body, end = split_prefix(piece)
    quote: Any = end  # one of the four quotes: the piece is a token
    if "f" not in start and "F" not in start:
        return cst.SimpleString(value=piece)
    raw = "r" in start or "R" in start
    parts, stop = _parts(body, 0, expression, raw, inside_spec=False)
    if stop != len(body):
        raise Unsupported("unbalanced f-string")
    return cst.FormattedString(parts=parts, start=start, end=quote)


def _parts(
    body: str, index: int, expression: Expression, raw: bool, *, inside_spec: bool
) -> tuple[list[Part], int]:
    """Text and fields from ``index`` to the end (in a format spec: to its ``}``)."""
    parts: list[Part] = []
    text_start, length = index, len(body)
    while index < length:
        char = body[index]
        if char == "\\" and not raw:
            index = _after_escape(body, index)
        elif char in "{}" and body[index + 1 : index + 2] == char and not inside_spec:
            index += 2
        elif char == "}":
            if not inside_spec:
                raise Unsupported("single '}' in an f-string")
            break
        elif char == "{":
            if index > text_start:
                parts.append(cst.FormattedStringText(value=body[text_start:index]))
            field, index = _field(body, index + 1, expression, raw)
            parts.append(field)
            text_start = index
        else:
            index += 1
    if index > text_start:
        parts.append(cst.FormattedStringText(value=body[text_start:index]))
    return parts, index


def _after_escape(body: str, index: int) -> int:
    if body.startswith("\\N{", index):
        return body.index("}", index) + 1
    return index + 2


def _field(
    body: str, index: int, expression: Expression, raw: bool
) -> tuple[cst.FormattedStringExpression, int]:
    """The ``{...}`` field starting after its brace at ``index``; returns the index
    after its closing brace."""
    end = _expression_end(body, index)
    value = expression(body[index:end])
    equal = None
    if body[end] == "=":  # ``{x=}``: the text of the expression is printed too
        equal = cst.AssignEqual()
        end += 1
        while body[end] in " \t":
            end += 1
    conversion = None
    if body[end] == "!":
        stop = end + 1
        while body[stop] not in ":}":
            stop += 1
        conversion, end = body[end + 1 : stop], stop
    spec = None
    if body[end] == ":":
        spec, end = _parts(body, end + 1, expression, raw, inside_spec=True)
    if body[end] != "}":
        raise Unsupported("f-string field not closed")
    field = cst.FormattedStringExpression(
        expression=value, conversion=conversion, format_spec=spec, equal=equal
    )
    return field, end + 1


def _expression_end(body: str, index: int) -> int:
    depth, start = 0, index
    while True:
        char = body[index]
        if char in "'\"":
            index = _string_end(body, index)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (char == ":" or (char == "!" and body[index + 1] != "=")):
            break
        elif char == "=" and depth == 0 and _self_documenting(body, index):
            break
        elif char in "#\\":
            raise Unsupported("comment or backslash in an f-string field")
        index += 1
    if not body[start:index].strip():
        raise Unsupported("empty f-string field")
    return index


def _self_documenting(body: str, index: int) -> bool:
    before, after = body[index - 1 : index], body[index + 1 : index + 2]
    return before not in ("=", "!", "<", ">") and after != "="


def _string_end(body: str, index: int) -> int:
    quote = body[index : index + 3]
    if quote not in ('"""', "'''"):
        quote = body[index]
    end = body.find(quote, index + len(quote))
    if end < 0:
        raise Unsupported("string in an f-string field not closed")
    return end + len(quote)
