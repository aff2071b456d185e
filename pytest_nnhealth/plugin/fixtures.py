"""The ``nnhealth`` fixture's value, and per-item bookkeeping shared with model items.

Every report produced for a test item is kept in the item's stash as a ``ModelRun``;
the plugin moves those onto the test report, which is how the summary and reports see
the same records in a serial run and under pytest-xdist.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_nnhealth.plugin import baseline
from pytest_nnhealth.plugin.settings import Settings, SettingsError, from_pytest_config
from pytest_nnhealth.reporting.runs import LintRun, ModelRun

if TYPE_CHECKING:
    from pytest_nnhealth.judge.records import HealthReport

# Records made while an item runs, moved onto its next test report by the plugin.
PENDING_RUNS = pytest.StashKey[list["ModelRun | LintRun"]]()
_SETTINGS = pytest.StashKey[Settings]()
_BASELINE = pytest.StashKey["dict[str, baseline.Profile] | None"]()
_MARKER = "nnhealth"


def session_settings(config: pytest.Config) -> Settings:
    """Defaults < [tool.nnhealth] < ini < CLI, computed once per process."""
    if _SETTINGS not in config.stash:
        config.stash[_SETTINGS] = from_pytest_config(config)
    return config.stash[_SETTINGS]


def item_settings(item: pytest.Item) -> Settings:
    """The session settings with the item's ``@pytest.mark.nnhealth`` overrides on top
    (a marker on a function beats one on its class or module)."""
    settings = session_settings(item.config)
    for mark in reversed(list(item.iter_markers(_MARKER))):
        source = f"@pytest.mark.nnhealth on {item.nodeid}"
        if mark.args:
            raise SettingsError(
                f"nnhealth: {source}: takes keyword arguments only, got {mark.args!r}"
            )
        settings = settings.merged(mark.kwargs, source)
    return settings


def session_baseline(config: pytest.Config) -> dict[str, baseline.Profile] | None:
    if _BASELINE not in config.stash:
        path = config.getoption("nnhealth_baseline", None)
        try:
            config.stash[_BASELINE] = (
                None if path is None else baseline.load(Path(path))
            )
        except baseline.BaselineError as error:
            raise pytest.UsageError(f"nnhealth: {error}") from None
    return config.stash[_BASELINE]


def record(
    item: pytest.Item,
    report: HealthReport | None,
    settings: Settings,
    *,
    origin: str,
    model: str,
    error: str | None = None,
) -> ModelRun:
    """Keep one check() result on the item; compare it with the baseline, if any."""
    runs = item.stash.setdefault(PENDING_RUNS, [])
    key = item.nodeid if origin == "config" else f"{item.nodeid}::{model}"
    taken = {run.key for run in runs if isinstance(run, ModelRun)}
    unique, number = key, 2
    while unique in taken:
        unique, number = f"{key}#{number}", number + 1
    run = ModelRun(unique, item.nodeid, model, origin, report, error)  # type: ignore[arg-type]
    profiles = session_baseline(item.config)
    if report is not None and profiles is not None and unique in profiles:
        factor = settings.baseline_factor
        run.drift = baseline.compare(profiles[unique], baseline.profile(report), factor)
        run.baseline_factor = factor
    runs.append(run)
    return run


def drift_message(runs: list[ModelRun | LintRun], path: str) -> str | None:
    lines = []
    for run in runs:
        if isinstance(run, ModelRun) and run.drift:
            lines.append(
                f"{run.model}: training dynamics moved by more than "
                f"x{run.baseline_factor:g} from the baseline {path}:"
            )
            lines.extend(f"  {drift.describe()}" for drift in run.drift[:10])
            if len(run.drift) > 10:
                lines.append(f"  ... and {len(run.drift) - 10} more")
    if not lines:
        return None
    lines.append(
        "(rewrite the baseline with --nnhealth-save-baseline if this is intended)"
    )
    return "\n".join(lines)


class NNHealth:
    """``nnhealth(model, batch, loss_fn=...)``: ``check()`` bound to this test's
    configuration (ini, command line and ``@pytest.mark.nnhealth`` overrides).

    Keyword arguments given in the call win over the configuration; a ``thresholds``
    mapping is merged over the configured thresholds. ``name`` labels the model in the
    summary and reports (default: the model's class name).
    """

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        self.settings = item_settings(item)

    def __call__(
        self, model: Any, batch: Any, *, name: str | None = None, **kwargs: Any
    ) -> HealthReport:
        from pytest_nnhealth.training.health_check import check
        from pytest_nnhealth.training.worker_threads import single_thread_under_xdist

        settings = self.settings
        thresholds = kwargs.pop("thresholds", None)
        if isinstance(thresholds, dict):
            settings = settings.merged(thresholds, "thresholds= of the nnhealth() call")
        call = {**settings.check_kwargs(), **kwargs}
        if thresholds is not None and not isinstance(thresholds, dict):
            call["thresholds"] = thresholds
        with single_thread_under_xdist():
            report = check(model, batch, **call)
        label = name or report.model or type(model).__name__
        record(self._item, report, settings, origin="fixture", model=label)
        return report

    @property
    def thresholds(self) -> Any:
        """The ``Thresholds`` this test's checks use."""
        return self.settings.check_kwargs()["thresholds"]
