"""``[tool.nnlint]`` configuration: which codes run, and where they are ignored.

The table is read from the nearest ``pyproject.toml`` and checked here; how selectors
combine (ruff's rules: codes and prefixes, layers, the more specific wins) is in
:mod:`nnlint.engine.selection`. The command line adds a later selection layer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from nnlint.engine.selection import (
    ConfigError,
    Selection,
    check_selector,
    layer_decision,
    matches,
    upper_selectors,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_SELECT: tuple[str, ...] = ("NNL",)
KNOWN_KEYS = frozenset({"select", "ignore", "extend-select", "per-file-ignores", "fx"})


@dataclass(frozen=True)
class LintConfig:
    """Everything that decides what nnlint reports for a file.

    ``per_file_ignores`` maps glob patterns (relative to ``root``; patterns without a
    ``/`` also match the file name) to selectors. ``fx`` is the ``[tool.nnlint.fx]``
    table, passed to graph mode untouched. ``overrides`` are later selection layers
    (the command line).
    """

    select: tuple[str, ...] = DEFAULT_SELECT
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fx: Mapping[str, Any] = field(default_factory=dict)
    root: Path | None = None
    overrides: tuple[Selection, ...] = ()

    def __post_init__(self) -> None:
        for layer in self.layers():
            for selector in (
                *(layer.select or ()),
                *layer.extend_select,
                *layer.ignore,
            ):
                check_selector(selector)
        for _, selectors in self.per_file_ignores:
            for selector in selectors:
                check_selector(selector)

    def layers(self) -> tuple[Selection, ...]:
        base = Selection(self.select, self.extend_select, self.ignore)
        return (base, *self.overrides)

    def with_overrides(
        self,
        select: Iterable[str] | None = None,
        extend_select: Iterable[str] = (),
        ignore: Iterable[str] = (),
    ) -> LintConfig:
        """A copy with one more selection layer (what the command line asked for)."""
        layer = Selection(
            None if select is None else upper_selectors(select),
            upper_selectors(extend_select),
            upper_selectors(ignore),
        )
        if layer == Selection():
            return self
        return replace(self, overrides=(*self.overrides, layer))

    def is_enabled(self, code: str) -> bool:
        enabled = False
        for layer in self.layers():
            enabled = layer_decision(layer, code, enabled)
        return enabled

    def is_ignored_for(self, code: str, path: str) -> bool:
        """Whether ``per-file-ignores`` switches ``code`` off for ``path``."""
        if not self.per_file_ignores:
            return False
        relative = self._relative(path)
        name = PurePath(path).name
        for pattern, selectors in self.per_file_ignores:
            if not any(matches(selector, code) for selector in selectors):
                continue
            if fnmatch.fnmatchcase(relative, pattern) or (
                "/" not in pattern and fnmatch.fnmatchcase(name, pattern)
            ):
                return True
        return False

    def applies(self, code: str, path: str) -> bool:
        return self.is_enabled(code) and not self.is_ignored_for(code, path)

    def fingerprint(self) -> str:
        """Stable digest of everything that changes findings (used by the cache)."""
        payload = {
            "layers": [
                [layer.select, layer.extend_select, layer.ignore]
                for layer in self.layers()
            ],
            "per_file_ignores": self.per_file_ignores,
            "root": str(self.root) if self.root else None,
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _relative(self, path: str) -> str:
        return _relative_to(str(self.root) if self.root else None, path)


@lru_cache(maxsize=4096)
def _relative_to(root: str | None, path: str) -> str:
    """``path`` (absolute or relative to the working directory) relative to ``root``."""
    if root is None:
        return PurePath(path).as_posix()
    absolute = os.path.abspath(path)
    try:
        return PurePath(absolute).relative_to(root).as_posix()
    except ValueError:
        return PurePath(path).as_posix()


# Graph-mode rules (nnlint/fx/rules) are NNL6xx; they run only with --fx.
GRAPH_PREFIX = "NNL6"


def require_rules(
    config: LintConfig, codes: Iterable[str], *, graph_mode: bool
) -> None:
    """Raise ConfigError when the selection leaves none of ``codes`` (the rules that
    exist, ``nnlint.registry.known_codes()``) to run: `select = []`, `--ignore NNL`,
    only graph codes without graph mode. The run would report "All checks passed"
    having checked nothing."""
    enabled = [code for code in codes if config.is_enabled(code)]
    if not enabled:
        raise ConfigError(
            "the selection enables no rule (select, extend-select and ignore in "
            "[tool.nnlint] and on the command line leave nothing to run)"
        )
    if not graph_mode and all(code.startswith(GRAPH_PREFIX) for code in enabled):
        raise ConfigError(
            f"the selection enables only graph-mode rules ({GRAPH_PREFIX}xx), which "
            "run with --fx"
        )


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or its parents."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_config(start: Path) -> LintConfig:
    """Configuration from the nearest ``pyproject.toml`` upward from ``start``.

    Without a ``pyproject.toml`` (or without ``[tool.nnlint]``) the defaults apply. The
    project root (``root``) is the directory holding the pyproject file, else None.
    Raises :class:`ConfigError` for unreadable TOML, unknown keys or wrong types.
    """
    pyproject = find_pyproject(start)
    if pyproject is None:
        return LintConfig()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {pyproject}: {error}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, Mapping):
        raise ConfigError(f"{pyproject}: 'tool' must be a table, got {tool!r}")
    table = tool.get("nnlint", {})
    return config_from_table(table, root=pyproject.parent, source=str(pyproject))


def config_from_table(
    table: Mapping[str, Any], *, root: Path | None = None, source: str = "[tool.nnlint]"
) -> LintConfig:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [tool.nnlint] must be a table")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        known = ", ".join(sorted(KNOWN_KEYS))
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)} (known: {known})"
        )
    fx = table.get("fx", {})
    if not isinstance(fx, Mapping):
        raise ConfigError(f"{source}: 'fx' must be a table, got {type(fx).__name__}")
    _check_fx(fx, f"{source}: [tool.nnlint.fx]")
    return LintConfig(
        select=_code_list(table, "select", source, DEFAULT_SELECT),
        ignore=_code_list(table, "ignore", source, ()),
        extend_select=_code_list(table, "extend-select", source, ()),
        per_file_ignores=_per_file_ignores(table.get("per-file-ignores", {}), source),
        fx=dict(fx),
        root=root,
    )


def _code_list(
    table: Mapping[str, Any], key: str, source: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    value = table.get(key, default)
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) for v in value
    ):
        raise ConfigError(
            f"{source}: '{key}' must be a list of rule codes, got {value!r}"
        )
    try:
        for selector in value:
            # A blank entry would be dropped silently: `select = [""]` ran nothing.
            check_selector(selector.strip().upper())
    except ConfigError as error:
        raise ConfigError(f"{source}: '{key}': {error}") from None
    return upper_selectors(value)


def _per_file_ignores(
    value: Any, source: str
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: 'per-file-ignores' must be a table of glob = [codes]"
        )
    return tuple(
        (pattern, _code_list(value, pattern, f"{source}: per-file-ignores", ()))
        for pattern in value
    )


def _check_fx(fx: Mapping[str, Any], source: str) -> None:
    """Value types of ``[tool.nnlint.fx]`` (graph mode checks the keys): a wrong type
    is a usage error at start-up, never a crash in the middle of a run."""
    if "timeout" in fx:
        value = fx["timeout"]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # nan compares false with everything: "nan > 0" is false, as it should be.
        if not number or not math.isfinite(value) or not value > 0:
            raise ConfigError(
                f"{source} timeout: expected a finite number of seconds > 0, "
                f"got {value!r}"
            )
    for key in ("loss",):
        if key in fx and not isinstance(fx[key], str):
            raise ConfigError(f"{source} {key}: expected a string, got {fx[key]!r}")
    for key in ("models", "pythonpath"):
        value = fx.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{source} {key}: expected a list, got {value!r}")
    if not all(isinstance(path, str) for path in fx.get("pythonpath", [])):
        raise ConfigError(f"{source} pythonpath: expected a list of directory names")
    for entry in fx.get("models", []):
        if not _model_entry(entry):
            raise ConfigError(
                f'{source} models: expected "module:function" strings or tables '
                f"with a string 'factory', got {entry!r}"
            )


def _model_entry(entry: object) -> bool:
    factory = entry.get("factory") if isinstance(entry, Mapping) else entry
    return isinstance(factory, str) and _import_path(factory)


def _import_path(reference: str) -> bool:
    """``"pkg.mod:factory"`` (or ``"pkg.mod.factory"``), as graph mode resolves it: a
    malformed one was found only when a directory was linted, and skipped otherwise."""
    if ":" in reference:
        module, _, attribute = reference.partition(":")
    else:
        module, _, attribute = reference.rpartition(".")
    return bool(module.strip()) and bool(attribute.strip())
