"""Health items from ``[tool.nnhealth] models``: health checks with no test code.

Each entry is ``"package.module:factory"`` or a table ``{factory = "...", name = "...",
<settings overrides>}``. The factory takes no arguments and returns ``(model, batch,
loss_fn)`` or a dict with ``model``, ``batch`` and any other ``check()`` keywords
(``loss_fn``, ``optimizer``, ``step_fn``, ...). A factory that cannot be imported or
fails is a clear failure of its own item, never an internal error of the session.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest._code import Traceback

from pytest_nnhealth.plugin.settings import SettingsError

_PACKAGE_DIR = str(Path(__file__).parents[1])
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class ModelSpec:
    target: str
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)


class ModelLoadError(Exception):
    """The factory could not be imported or returned something unusable."""


def parse_models(value: Any, source: str) -> list[ModelSpec]:
    if not isinstance(value, list):
        raise SettingsError(
            f"nnhealth: {source}: 'models' must be a list, got {value!r}"
        )
    specs = [_parse_entry(entry, source) for entry in value]
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SettingsError(f"nnhealth: {source}: duplicate model names {duplicates}")
    return specs


def _parse_entry(entry: Any, source: str) -> ModelSpec:
    if isinstance(entry, str):
        entry = {"factory": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("factory"), str):
        raise SettingsError(
            f"nnhealth: {source}: each model is 'package.module:factory' or a table "
            f"with a 'factory' key, got {entry!r}"
        )
    target = entry["factory"]
    if not _TARGET.match(target):
        raise SettingsError(
            f"nnhealth: {source}: model factory {target!r} is not of the form "
            "'package.module:function'"
        )
    name = entry.get("name", target)
    if not isinstance(name, str) or not name:
        raise SettingsError(f"nnhealth: {source}: model name must be a string")
    overrides = {key: v for key, v in entry.items() if key not in ("factory", "name")}
    return ModelSpec(target, name, overrides)


def _is_internal(path: Any) -> bool:
    text = str(path)
    return any(part in text for part in (_PACKAGE_DIR, "_pytest", "pluggy"))


def load_factory(target: str) -> Callable[[], Any]:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        hint = ""
        if isinstance(error, ModuleNotFoundError):
            hint = (
                "\n(is the package importable? pytest's `pythonpath` ini key adds "
                'directories to sys.path, e.g. pythonpath = ["."])'
            )
        raise ModelLoadError(
            f"cannot import {module_name!r} for model factory {target!r}: "
            f"{type(error).__name__}: {error}{hint}"
        ) from error
    factory: Any = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ModelLoadError(
                f"model factory {target!r}: {module_name!r} has no attribute "
                f"{attribute!r}"
            )
    if not callable(factory):
        raise ModelLoadError(f"model factory {target!r} is not callable")
    return factory


def unpack(result: Any, target: str) -> tuple[Any, Any, dict[str, Any]]:
    """(model, batch, other check() keywords) from what a factory returned."""
    if isinstance(result, dict):
        missing = [key for key in ("model", "batch") if key not in result]
        if missing:
            raise ModelLoadError(
                f"model factory {target} returned a dict without {missing}"
            )
        rest = {key: v for key, v in result.items() if key not in ("model", "batch")}
        return result["model"], result["batch"], rest
    if isinstance(result, tuple | list) and len(result) == 3:
        model, batch, loss_fn = result
        return model, batch, {"loss_fn": loss_fn}
    raise ModelLoadError(
        f"model factory {target} must return (model, batch, loss_fn) or a dict with "
        "'model' and "
        f"'batch', got {type(result).__name__}"
    )


class ModelsFile(pytest.File):
    """The pyproject.toml that declares the models; one item per declared model."""

    specs: list[ModelSpec]

    def collect(self) -> list[ModelHealthItem]:
        return [
            ModelHealthItem.from_parent(self, name=s.name, spec=s) for s in self.specs
        ]


def make_items(
    session: pytest.Session, pyproject: Path, specs: list[ModelSpec]
) -> list:
    """Collect the models like any other file, reporting to pytest's collection hooks
    (so "collected N items", -k/-m and xdist's collection check count them)."""
    from _pytest.runner import collect_one_node

    holder = ModelsFile.from_parent(session, path=pyproject)
    holder.specs = specs
    report = collect_one_node(holder)
    session.ihook.pytest_collectreport(report=report)
    return [node for node in report.result if isinstance(node, pytest.Item)]


class ModelHealthItem(pytest.Item):
    def __init__(self, *, spec: ModelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def runtest(self) -> None:
        from pytest_nnhealth.plugin.fixtures import record, session_settings
        from pytest_nnhealth.training.health_check import check
        from pytest_nnhealth.training.worker_threads import single_thread_under_xdist

        settings = session_settings(self.config).merged(
            self.spec.overrides, f"[tool.nnhealth] model {self.spec.name!r}"
        )
        try:
            factory = load_factory(self.spec.target)
            model, batch, keywords = unpack(factory(), self.spec.target)
        except Exception as error:
            message = (
                str(error)
                if isinstance(error, ModelLoadError)
                else f"{type(error).__name__}: {error}"
            )
            record(
                self, None, settings, origin="config", model=self.name, error=message
            )
            raise
        with single_thread_under_xdist():
            report = check(model, batch, **{**settings.check_kwargs(), **keywords})
        # The summary names a model by its class unless the entry named it.
        named = self.spec.name != self.spec.target
        label = self.spec.name if named else report.model or self.name
        run = record(self, report, settings, origin="config", model=label)
        if not report.healthy:
            report.assert_healthy()
        if run.drift:
            from pytest_nnhealth.plugin.fixtures import drift_message

            path = str(self.config.getoption("nnhealth_baseline"))
            raise AssertionError(drift_message([run], path))

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        error = excinfo.value
        if isinstance(error, ModelLoadError):
            return str(error)
        if isinstance(error, AssertionError):
            return f"{self.spec.target}: {error}"
        # The factory or check() raised: show the user's frames, not the plugin's.
        entries = [entry for entry in excinfo.traceback if not _is_internal(entry.path)]
        if entries:
            excinfo.traceback = Traceback(entries)
        return super().repr_failure(excinfo, style="short")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"nnhealth model {self.spec.name}"
