"""The first pass's tree (built from ``ast``) equals libcst's over what rules read."""

from __future__ import annotations

import pytest

from nnlint.engine.cst_from_ast import module_from_ast
from nnlint.engine.cst_from_ast_check import differences
from nnlint.engine.parsing import parse_module

CONSTRUCTS = {
    "literals": "a = (0x1F, 1_000, 1.5e-3, 2j, -1, ..., None, True, b'x', r'\\d')\n",
    "unicode columns": "s = 'é' + f'{é!r}' + 'ü'; t = 1\n",
    "concatenation": "s = ('a' \"b\"\n     'c')\nt = 'x' f'{y}' 'z'\n",
    "escaped quotes": 's = \'it\\\'s\' + "\\"q\\"" + \'\'\'a\'\'\' """b"""\n',
    "f-strings": (
        "s = f'{a!r:>{w}.{p}f} {{lit}} {b[\"k\"]} {c(d, e=1)} {x:%H}'\n"
        "t = rf'\\d{a}' + f'\\N{EM DASH} {b}' + f'''{\n  c\n}'''\n"
        "u = f'{a=} {b = !r:>{w}} {c.d=:.2f} {e==f} {g!=h}'\n"
    ),
    "call arguments in source order": "f(a, *b, c=1, **d, e=2)\ng(x=1, *a)\n",
    "generator argument": "f(x for x in y)\n",
    "boolean chains": "a and b and c or d and (e or f or g)\nnot a\n",
    "comparisons": "a < b <= c != d is not e not in f in g is h == i > j >= k\n",
    "subscripts": "x[a, b]\nx[(a, b)]\nx[(a), b]\nx[a:b, ::2, c]\nx[()]\nx[(a), (b)]\n",
    "attributes and calls": "torch.nn.functional.softmax(x, dim=-1).sum(0)\n",
    "elif and else-if": (
        "if a:\n    pass\nelif b:\n    pass\nelse:\n    if c:\n        pass\n"
    ),
    "one-line suites": "if a: b; c\nfor i in x: pass\nwhile x: y\n",
    "parameters": (
        "def f(a, /, b: int = 1, *args: str, c, d=2, **kw) -> None: ...\n"
        "def g(*, a): ...\ndef h(a=1, /, b=2): ...\nlambda x, *y, z=1, **w: x\n"
    ),
    "decorators and classes": (
        "@dataclass(frozen=True)\n@other\nclass A(B, *c, metaclass=M, **k):\n"
        "    x: int = 1\n    y: str\n"
    ),
    "async forms": (
        "async def f():\n    async with a as b, c:\n        await d\n"
        "    async for i in e:\n        pass\n    [x async for x in y]\n"
    ),
    "comprehensions": (
        "[i for i in a if i if j for j in i]\n{k: v for k, v in d}\n{x for x in s}\n"
        "list(y for y in z)\n"
    ),
    "imports": (
        "import a.b.c as d, e\nfrom .. import f\nfrom .g.h import (i, j as k)\n"
        "from m import *\n"
    ),
    "scopes": "def f():\n    global a, b\n    def g():\n        nonlocal c\n",
    "with items": "with a as (b, c), d as e[0], f:\n    pass\nwith (a, b):\n    pass\n",
    "try and except*": (
        "try:\n    a\nexcept (E, F) as e:\n    raise G from e\nexcept H:\n    raise\n"
        "else:\n    b\nfinally:\n    c\n"
        "try:\n    a\nexcept* E as e:\n    pass\n"
    ),
    "expressions": (
        "y = (w := 3)\nz = a if b else c\ndef g():\n    yield\n    yield a\n"
        "    yield from b\n    x = yield c\n"
    ),
    "starred and dicts": "a, *b = c\n[*a, b]\n{*a, b}\n{**a, 'b': 1, **c}\n(*a,)\n",
    "statements": (
        "x += 1; y @= z; w **= 2\ndel a, b\ndel (c)\nassert a, 'm'\nreturn_ = 1\n"
        "x = y = z\nx: int\nx;\ny\n"
    ),
    "backslash inside a line": "x = 1 + \\\n    2\ny = 3\n",
    "comments between": "x = 1  # a; b\\\ny = 2\nif a:  # c: d\n    pass\n",
}


@pytest.mark.parametrize("source", CONSTRUCTS.values(), ids=CONSTRUCTS.keys())
def test_converted_tree_equals_libcst(source: str) -> None:
    built = module_from_ast(source)
    assert built is not None
    assert differences(parse_module(source), built) == []


@pytest.mark.parametrize(
    "source",
    [
        "def f(:\n",  # a syntax error: libcst reports it
        "type X = int\n",  # newer syntax than this Python's ``ast``
        "match x:\n    case 1:\n        pass\n",
        "x = 1; \\\ny = 2\n",  # statements joined across a backslash
        "x[*a]\n",
        # Python accepts this indentation, libcst's tokenizer does not (NNL001):
        "class A:\n    def f(self):\n\t    return 1\n    x = 1\n",
    ],
)
def test_real_parser_is_used_where_the_converter_is_not_sure(source: str) -> None:
    assert module_from_ast(source) is None


def test_differences_are_found() -> None:
    real = parse_module("f(a, b=1)\nx[a, b]\n")
    for other in (
        "f(b, a=1)\nx[a, b]\n",
        "f(a, b=2)\nx[a, b]\n",
        "f(a, b=1)\nx[(a, b)]\n",
    ):
        built = module_from_ast(other) or parse_module("")
        assert differences(real, built)
