"""What graph mode will run: the ``[tool.nnlint.fx]`` settings, the files that can
define discoverable models, and the configured models under the linted paths.

Nothing here imports user code or torch: planning must be cheap and safe.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 60.0
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "build", "dist", "venv"}
_MARKER = "example_input_array"
KNOWN_KEYS = frozenset({"timeout", "loss", "models", "pythonpath"})


def settings(config: Any) -> tuple[dict[str, Any], Path]:
    """``([tool.nnlint.fx] table, project root)`` from a LintConfig or a mapping."""
    fx = getattr(config, "fx", None)
    root = getattr(config, "root", None)
    if fx is None and isinstance(config, Mapping):
        fx = config.get("fx", config)
        root = config.get("root", root)
    return dict(fx or {}), Path(root or os.getcwd()).resolve()


def timeout_of(fx: Mapping[str, Any]) -> float:
    """The per-job time limit, after checking the table's keys and value types."""
    from nnlint.config import ConfigError

    unknown = sorted(set(fx) - KNOWN_KEYS)
    if unknown:
        known = ", ".join(sorted(KNOWN_KEYS))
        raise ConfigError(
            f"[tool.nnlint.fx]: unknown key(s) {unknown} (known: {known})"
        )
    for key, kind in (("models", list), ("pythonpath", list), ("loss", str)):
        if key in fx and not isinstance(fx[key], kind):
            raise ConfigError(f"[tool.nnlint.fx] {key} must be a {kind.__name__}")
    value = fx.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        message = f"[tool.nnlint.fx] timeout must be a positive number: {value!r}"
        raise ConfigError(message)
    return float(value)


def candidate_files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    """Python files under ``paths`` that may define discoverable models: modules that
    mention torch or ``example_input_array`` (a subclass inherits the attribute),
    define a class, and only define things at import time. Test files and scripts are
    never imported: importing a script runs it."""
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(_walk(path))
        for file in files:
            if file.suffix != ".py" or _is_test_file(file):
                continue
            text = _read(file)
            if (_MARKER in text or "torch" in text) and _definitions_only(text):
                yield file.resolve()


def _is_test_file(file: Path) -> bool:
    name = file.name
    return (
        name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    )


_SAFE_STATEMENTS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
    ast.Pass,
)


def _definitions_only(text: str) -> bool:
    """The module defines a class and runs nothing but imports, definitions,
    assignments and ``if``/``try`` around them at import time."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    has_class = any(isinstance(node, ast.ClassDef) for node in tree.body)
    return has_class and all(_safe(node) for node in tree.body)


def _safe(node: ast.stmt) -> bool:
    if isinstance(node, _SAFE_STATEMENTS):
        return True
    if isinstance(node, ast.Expr):  # a docstring, not a call
        return isinstance(node.value, ast.Constant)
    if isinstance(node, ast.If):
        if _is_main_guard(node.test):
            return all(_safe(child) for child in node.orelse)
        return all(_safe(child) for child in (*node.body, *node.orelse))
    if isinstance(node, ast.Try):
        children = [*node.body, *node.orelse, *node.finalbody]
        children += [child for handler in node.handlers for child in handler.body]
        return all(_safe(child) for child in children)
    return False


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def _walk(directory: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        for name in files:
            yield Path(current, name)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def python_path(root: Path, fx: Mapping[str, Any]) -> list[str]:
    """Import roots for the child: the project root, ``src/``, and ``pythonpath``."""
    extra = fx.get("pythonpath", [])
    roots = [root, root / "src", *(root / p for p in extra if isinstance(p, str))]
    return [str(r) for r in roots if r.is_dir()]


def entry_selected(
    entry: Any,
    paths: Sequence[str | os.PathLike[str]],
    root: Path,
    fx: Mapping[str, Any],
) -> bool:
    """Run a configured model when its factory's module lies under a linted path (or
    cannot be located without importing, and a directory is being linted)."""
    factory = entry if isinstance(entry, str) else dict(entry).get("factory")
    if not isinstance(factory, str):
        return any(Path(p).is_dir() for p in paths)
    module = factory.partition(":")[0] if ":" in factory else factory.rpartition(".")[0]
    file = _module_file(module, python_path(root, fx))
    if file is None:
        return any(Path(p).is_dir() for p in paths)
    for path in map(lambda p: Path(p).resolve(), paths):
        if file == path or path in file.parents:
            return True
    return False


def _module_file(module: str, roots: Sequence[str]) -> Path | None:
    relative = Path(*module.split(".")) if module else None
    if relative is None:
        return None
    for root in roots:
        for candidate in (
            Path(root, f"{relative}.py"),
            Path(root, relative, "__init__.py"),
        ):
            if candidate.is_file():
                return candidate.resolve()
    return None
