"""What graph mode will run: the ``[tool.nnlint.fx]`` settings, the files that can
define discoverable models, and the configured models under the linted paths.

Nothing here imports user code or torch: planning must be cheap and safe.
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlint.fx.import_safety import is_script

DEFAULT_TIMEOUT = 60.0
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "build", "dist", "venv"}
_MARKER = "example_input_array"
KNOWN_KEYS = frozenset({"timeout", "loss", "models", "pythonpath", "memory_mb"})


@dataclass
class Plan:
    """What a graph-mode run will do, decided without importing anything."""

    root: Path
    fx: dict[str, Any]
    timeout: float
    sys_path: list[str]
    files: list[Path] = field(default_factory=list)  # imported, one job each
    scripts: list[Path] = field(default_factory=list)  # would run code: not imported
    entries: list[int] = field(default_factory=list)  # indexes into fx["models"]


def plan(paths: Sequence[str | os.PathLike[str]], config: Any) -> Plan:
    fx, root = settings(config)
    chosen = Plan(root, fx, timeout_of(fx), python_path(root, fx))
    for file, script in _classified(paths):
        (chosen.scripts if script else chosen.files).append(file)
    models = fx.get("models", [])
    chosen.entries = [
        index
        for index, entry in enumerate(models)
        if entry_selected(entry, paths, root, fx)
    ]
    return chosen


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
    from nnlint.engine.config import ConfigError

    unknown = sorted(set(fx) - KNOWN_KEYS)
    if unknown:
        known = ", ".join(sorted(KNOWN_KEYS))
        raise ConfigError(
            f"[tool.nnlint.fx]: unknown key(s) {unknown} (known: {known})"
        )
    for key, kind in (("models", list), ("pythonpath", list), ("loss", str)):
        if key in fx and not isinstance(fx[key], kind):
            raise ConfigError(f"[tool.nnlint.fx] {key} must be a {kind.__name__}")
    for entry in fx.get("models", []):
        if not isinstance(entry, (str, Mapping)):
            raise ConfigError(
                "[tool.nnlint.fx] models entries must be strings like "
                f"'pkg.mod:make' or tables with a 'factory' key, not {entry!r}"
            )
    memory = fx.get("memory_mb", 0)
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
        message = "[tool.nnlint.fx] memory_mb must be a whole number of MiB"
        raise ConfigError(f"{message} (0: no limit): {memory!r}")
    value = fx.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        message = f"[tool.nnlint.fx] timeout must be a positive number: {value!r}"
        raise ConfigError(message)
    return float(value)


def candidate_files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    """Python files under ``paths`` that graph mode imports (see ``_classified``)."""
    return (file for file, script in _classified(paths) if not script)


def _classified(
    paths: Sequence[str | os.PathLike[str]],
) -> Iterator[tuple[Path, bool]]:
    """``(file, is a script)`` for the files under ``paths`` that may define
    discoverable models: modules that mention torch or ``example_input_array`` (a
    subclass inherits the attribute) and define a class. Test files are skipped;
    scripts (``nnlint.fx.import_safety``) are listed but never imported: importing a
    script runs it."""
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(_walk(path))
        for file in files:
            if file.suffix != ".py" or _is_test_file(file):
                continue
            text = _read(file)
            if _MARKER not in text and "torch" not in text:
                continue
            tree = _parse(text)
            if tree is not None and _defines_class(tree):
                yield file.resolve(), is_script(tree)


def _is_test_file(file: Path) -> bool:
    name = file.name
    return (
        name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    )


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the source rules report it


def _defines_class(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ClassDef) for node in tree.body)


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
