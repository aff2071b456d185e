"""The session's nnhealth configuration.

Precedence: defaults < ``[tool.nnhealth]`` < ini keys < command line < marker.
Each layer is parsed on its own so an error names where the bad value was written
(``--nnhealth-threshold``, ``nnhealth_steps`` in pytest.ini, ``@pytest.mark.nnhealth``
on a test). Threshold keys are validated by ``Thresholds.from_mapping`` (one source of
truth for their names and types); check() keywords and plugin keys are validated here.
Nothing here imports torch.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

# Keywords passed straight to check(); the value of each is checked by its parser.
CHECK_KEYS: tuple[str, ...] = (
    "steps", "seed", "seeds", "device", "graph", "budget_s", "early_stop",
)  # fmt: skip
# Keys the plugin itself uses.
PLUGIN_KEYS: tuple[str, ...] = ("baseline_factor",)
DEFAULT_BASELINE_FACTOR = 2.0
# ini key (= CLI option dest) -> settings key; ``nnhealth_thresholds`` holds KEY=VALUE
# lines.
INI_KEYS: dict[str, str] = {
    "nnhealth_steps": "steps",
    "nnhealth_seed": "seed",
    "nnhealth_seeds": "seeds",
    "nnhealth_device": "device",
    "nnhealth_graph": "graph",
    "nnhealth_budget_s": "budget_s",
    "nnhealth_early_stop": "early_stop",
    "nnhealth_baseline_factor": "baseline_factor",
}
THRESHOLDS_KEY = "nnhealth_thresholds"
# [tool.nnhealth] keys besides the settings keys.
TABLE_KEYS: tuple[str, ...] = ("models", "thresholds")


# A configuration value the user wrote is unknown or of the wrong type: pytest prints a
# usage error's message alone (no traceback) and exits with code 4.
SettingsError = pytest.UsageError


@dataclass(frozen=True)
class Settings:
    """Merged settings. ``check`` and ``thresholds`` hold only the keys someone set:
    everything else keeps check()'s and Thresholds' own documented defaults."""

    check: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    baseline_factor: float = DEFAULT_BASELINE_FACTOR

    def merged(self, values: Mapping[str, Any], source: str) -> Settings:
        """A copy with one more layer on top; ``values`` maps flat keys (check keywords,
        plugin keys, threshold names) to values, strings allowed (ini, CLI)."""
        layer = parse_layer(values, source)
        return Settings(
            check={**self.check, **layer.check},
            thresholds={**self.thresholds, **layer.thresholds},
            baseline_factor=layer.plugin.get("baseline_factor", self.baseline_factor),
        )

    def check_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``check()``, thresholds built as a ``Thresholds``."""
        return {
            **self.check,
            "thresholds": build_thresholds(self.thresholds, "settings"),
        }


@dataclass
class Layer:
    check: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    plugin: dict[str, Any] = field(default_factory=dict)


def parse_layer(values: Mapping[str, Any], source: str) -> Layer:
    layer = Layer()
    for key, value in values.items():
        if key in CHECK_KEYS or key in PLUGIN_KEYS:
            parsed = _PARSERS[key](value)
            if isinstance(parsed, _Invalid):
                raise SettingsError(
                    f"nnhealth: {source}: {key!r} {parsed.expected}, got {value!r}"
                )
            target = layer.check if key in CHECK_KEYS else layer.plugin
            target[key] = parsed
        else:
            layer.thresholds[key] = literal(value) if isinstance(value, str) else value
    if layer.thresholds:
        build_thresholds(layer.thresholds, source)  # fail here, naming the layer
    return layer


def build_thresholds(values: Mapping[str, Any], source: str) -> Any:
    from pytest_nnhealth.judge.thresholds import Thresholds

    try:
        return Thresholds.from_mapping(dict(values))
    except (KeyError, TypeError, ValueError) as error:
        known = ", ".join((*CHECK_KEYS, *PLUGIN_KEYS))
        reason = error.args[0] if error.args else error
        raise SettingsError(
            f"nnhealth: {source}: {reason} (settings other than thresholds: {known})"
        ) from None


def parse_assignments(lines: list[str], source: str) -> dict[str, str]:
    """``["dead_fraction_max=0.5", ...]`` from ``nnhealth_thresholds`` (ini) or
    ``--nnhealth-threshold``."""
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"nnhealth: {source}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def literal(text: str) -> Any:
    """Read an ini/CLI string as the number or boolean it spells, else keep the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(lowered)
        except ValueError:
            continue
    return text.strip()


@dataclass(frozen=True)
class _Invalid:
    expected: str


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        converted = literal(value)
        return converted if type(converted) is int else None
    return None


def _parse_steps(value: Any) -> int | _Invalid:
    number = _as_int(value)
    if number is None or number < 1:
        return _Invalid("must be a positive integer")
    return number


def _parse_seed(value: Any) -> int | _Invalid:
    number = _as_int(value)
    if number is None or number < 0:
        return _Invalid("must be a non-negative integer")
    return number


def _parse_device(value: Any) -> str | None | _Invalid:
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return _Invalid("must be a device name such as 'cpu', 'cuda:0' or 'auto'")


def _parse_bool(value: Any) -> bool | _Invalid:
    converted = literal(value) if isinstance(value, str) else value
    if isinstance(converted, bool):
        return converted
    return _Invalid("must be true or false")


def _parse_factor(value: Any) -> float | _Invalid:
    converted = literal(value) if isinstance(value, str) else value
    if isinstance(converted, bool) or not isinstance(converted, int | float):
        return _Invalid("must be a number greater than 1")
    if not math.isfinite(converted) or converted <= 1:
        return _Invalid("must be a number greater than 1")
    return float(converted)


def _parse_budget(value: Any) -> float | None | _Invalid:
    converted = literal(value) if isinstance(value, str) else value
    if converted is None:
        return None  # "none": no budget (overrides a budget set in a lower layer)
    if isinstance(converted, bool) or not isinstance(converted, int | float):
        return _Invalid("must be a number of seconds > 0, or none")
    if not math.isfinite(converted) or converted <= 0:
        return _Invalid("must be a number of seconds > 0, or none")
    return float(converted)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "steps": _parse_steps,
    "seed": _parse_seed,
    "seeds": _parse_steps,  # how many seeds (seed, seed + 1, ...): a positive count
    "device": _parse_device,
    "graph": _parse_bool,
    "budget_s": _parse_budget,
    "early_stop": _parse_bool,
    "baseline_factor": _parse_factor,
}


def from_pytest_config(config: pytest.Config) -> Settings:
    """Defaults < ``[tool.nnhealth]`` < ini keys < command line (markers come later)."""
    settings = Settings()
    table = read_tool_table(config)
    table_source = "[tool.nnhealth] in pyproject.toml"
    values = {key: value for key, value in table.items() if key not in TABLE_KEYS}
    settings = settings.merged(_checked_keys(values, table_source), table_source)
    thresholds = table.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise SettingsError(f"nnhealth: {table_source}: 'thresholds' must be a table")
    settings = settings.merged(thresholds, "[tool.nnhealth.thresholds]")
    for ini_key, key in INI_KEYS.items():
        value = config.getini(ini_key)
        if value not in (None, ""):
            settings = settings.merged({key: value}, f"ini key {ini_key}")
    lines = config.getini(THRESHOLDS_KEY)
    settings = settings.merged(
        parse_assignments(lines, f"ini key {THRESHOLDS_KEY}"),
        f"ini key {THRESHOLDS_KEY}",
    )
    for dest, key in INI_KEYS.items():
        value = config.getoption(dest, None)
        if value is not None:
            option = "--" + dest.replace("_", "-")
            settings = settings.merged({key: value}, f"option {option}")
    lines = config.getoption("nnhealth_threshold", None) or []
    source = "option --nnhealth-threshold"
    settings = settings.merged(parse_assignments(lines, source), source)
    return _with_histograms(settings, config.getoption("nnhealth_report", None) or [])


def _with_histograms(settings: Settings, reports: list[str]) -> Settings:
    """An HTML report draws the histograms, which check() measures only when asked
    (no rule reads them): ask for them when one is to be written."""
    if not any(Path(path).suffix.lower() == ".html" for path in reports):
        return settings
    return replace(settings, check={**settings.check, "histograms": True})


def _checked_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    # Threshold names belong in [tool.nnhealth.thresholds]; anything else is a typo.
    for key in values:
        if key not in CHECK_KEYS and key not in PLUGIN_KEYS:
            known = ", ".join((*TABLE_KEYS, *CHECK_KEYS, *PLUGIN_KEYS))
            raise SettingsError(
                f"nnhealth: {source}: unknown key {key!r}; known: {known}"
            )
    return values


def read_tool_table(config: pytest.Config) -> dict[str, Any]:
    """The ``[tool.nnhealth]`` table of the rootdir's pyproject.toml (or of the
    pyproject.toml pytest took its configuration from), ``{}`` when there is none."""
    path = pyproject_path(config)
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"nnhealth: cannot read {path}: {error}") from None
    table = document.get("tool", {}).get("nnhealth", {})
    if not isinstance(table, dict):
        raise SettingsError(f"nnhealth: {path}: [tool.nnhealth] must be a table")
    return table


def pyproject_path(config: pytest.Config) -> Path | None:
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return Path(inipath)
    candidate = Path(config.rootpath) / "pyproject.toml"
    return candidate if candidate.is_file() else None
