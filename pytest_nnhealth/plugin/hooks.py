"""The pytest11 entry point ``nnhealth``: a thin adapter over plain modules.

This module is imported in *every* pytest run where the package is installed, so it
must not import torch (~1.2 s), matplotlib, rich or libcst at load time: the work lives
in ``startup`` (start-up checks), ``settings``, ``fixtures``, ``lint_items``,
``model_items``, ``summary``, ``baseline`` and ``reporting``, imported inside the hooks
that need them.

Per-test health records travel on the test report (attribute ``nnhealth``, JSON text),
are collected in ``pytest_runtest_logreport`` on the controller, and are rendered once
at the end: a serial run and a pytest-xdist run see the same records.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_nnhealth.plugin.fixtures import NNHealth

# = reporting.runs.REPORT_ATTRIBUTE: the test report attribute carrying records (JSON).
REPORT_ATTRIBUTE = "nnhealth"


def _ini_type(union: Any) -> Any:
    # pytest >= 9.2 accepts unions: numbers and booleans then arrive typed from TOML and
    # are coerced from INI text; settings.py validates the value either way.
    return union if tuple(pytest.version_tuple[:2]) >= (9, 2) else "string"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "nnhealth", "training-dynamics health checks (pytest-nnhealth)"
    )
    group.addoption(
        "--nnhealth",
        action="store_true",
        default=False,
        help="lint every collected file that imports torch with nnlint, run the models "
        "declared in [tool.nnhealth] as health items, and print a health summary.",
    )
    _add_check_options(group)
    group.addoption(
        "--nnhealth-report",
        action="append",
        default=[],
        metavar="PATH",
        help="write a health report; the format follows the suffix: .json or .html "
        "(plots; needs pytest-nnhealth[html]). May be repeated.",
    )
    group.addoption(
        "--nnhealth-save-baseline",
        metavar="PATH",
        help="store each checked model's health profile (per-layer statistics) "
        "in PATH.",
    )
    group.addoption(
        "--nnhealth-baseline",
        metavar="PATH",
        help="fail a model whose per-layer statistics moved by more than the baseline "
        "factor from the profile stored in PATH.",
    )
    _add_ini_keys(parser)


def _add_check_options(group: Any) -> None:
    simple = [
        ("steps", "N", "training steps per health check."),
        ("seed", "N", "random seed of a health check."),
        ("seeds", "N", "run each health check under N seeds (seed, seed+1, ...)."),
        ("device", "DEVICE", "device for health checks: cpu, cuda, cuda:1 or auto."),
        (
            "budget-s",
            "SECONDS",
            "time budget of each health check's training steps (none: no budget).",
        ),
        (
            "baseline-factor",
            "FACTOR",
            "how far (a factor, either way) a per-layer statistic may move from the "
            "baseline (default 2).",
        ),
    ]
    for name, metavar, text in simple:
        group.addoption(f"--nnhealth-{name}", metavar=metavar, default=None, help=text)
    group.addoption(
        "--nnhealth-graph",
        action="store_true",
        default=None,
        help="also run nnlint's graph rules on each checked model.",
    )
    group.addoption(
        "--nnhealth-no-graph",
        action="store_false",
        dest="nnhealth_graph",
        help="do not run nnlint's graph rules in health checks.",
    )
    group.addoption(
        "--nnhealth-early-stop",
        action="store_true",
        default=None,
        help="stop a health check's steps once every judged quantity has settled.",
    )
    group.addoption(
        "--nnhealth-no-early-stop",
        action="store_false",
        dest="nnhealth_early_stop",
        help="run every step of a health check.",
    )
    group.addoption(
        "--nnhealth-threshold",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one health threshold (e.g. dead_fraction_max=0.5). "
        "May be repeated.",
    )


def _add_ini_keys(parser: pytest.Parser) -> None:
    keys: list[tuple[str, str, Any]] = [
        ("nnhealth_steps", "training steps per health check.", _ini_type(int | str)),
        ("nnhealth_seed", "random seed of a health check.", _ini_type(int | str)),
        ("nnhealth_seeds", "number of seeds per health check.", _ini_type(int | str)),
        ("nnhealth_device", "device for health checks: cpu, cuda or auto.", "string"),
        (
            "nnhealth_graph",
            "run nnlint's graph rules in health checks (true/false).",
            _ini_type(bool | str),
        ),
        (
            "nnhealth_budget_s",
            "time budget in seconds of a health check's steps (none: no budget).",
            _ini_type(float | str),
        ),
        (
            "nnhealth_early_stop",
            "stop a health check's steps once every judged quantity has settled.",
            _ini_type(bool | str),
        ),
        (
            "nnhealth_baseline_factor",
            "allowed factor of drift from a baseline (default 2).",
            _ini_type(float | str),
        ),
    ]
    for name, text, kind in keys:
        parser.addini(name, text, type=kind, default=None)
    parser.addini(
        "nnhealth_thresholds",
        "health thresholds, one KEY=VALUE per line (e.g. dead_fraction_max=0.5).",
        type="linelist",
        default=[],
    )
    parser.addini(
        "nnhealth_lint",
        "with --nnhealth, lint files that import torch with nnlint (default true).",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "nnhealth(**overrides): health-check settings for this test's nnhealth fixture "
        "(thresholds, steps, seed, seeds, device, graph, budget_s, early_stop, "
        "baseline_factor).",
    )
    config.addinivalue_line(
        "markers", "nnlint: an nnlint lint item (pytest --nnhealth)."
    )
    from pytest_nnhealth.plugin import startup

    if startup.uses_session_features(config):
        startup.validate_session_options(config)
        from pytest_nnhealth.plugin.session_hooks import SessionHooks

        config.pluginmanager.register(SessionHooks(config), "nnhealth-session")
    elif startup.has_settings(config):
        # A bad value is one usage error now, not an error in every fixture set-up.
        from pytest_nnhealth.plugin.fixtures import session_settings

        session_settings(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    config = parent.config
    if not config.option.nnhealth or not config.getini("nnhealth_lint"):
        return None
    from pytest_nnhealth.plugin import lint_items

    return lint_items.collect_file(file_path, parent)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    from pytest_nnhealth.plugin import startup

    try:
        startup.check_markers(items)
    except pytest.UsageError as error:
        if startup.defer_to_controller(config, error, items):
            return
        raise
    if config.option.nnhealth and not _selects_node_ids(config):
        specs = startup.model_specs(config)
        if specs:
            from pytest_nnhealth.plugin.model_items import make_items
            from pytest_nnhealth.plugin.settings import pyproject_path

            pyproject = pyproject_path(config)
            assert pyproject is not None  # specs come from it
            items.extend(make_items(session, pyproject, specs))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist, on the controller: a worker's deferred usage error ends the run
    as it would a serial one (exit status 4, the message, no INTERNALERROR)."""
    from pytest_nnhealth.plugin import startup

    startup.raise_deferred(node)


def _selects_node_ids(config: pytest.Config) -> bool:
    # `pytest --nnhealth tests/test_x.py::test_y` asks for one test, not every model.
    return any("::" in str(arg) for arg in config.args)


@pytest.fixture
def nnhealth(request: pytest.FixtureRequest) -> NNHealth:
    """``nnhealth(model, batch, loss_fn=...) -> HealthReport``: ``check()`` bound to the
    session's configuration and this test's ``@pytest.mark.nnhealth`` overrides; every
    report is recorded for the summary and the reports."""
    from pytest_nnhealth.plugin.fixtures import NNHealth

    return NNHealth(request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield
    # Reached only when the test body passed: a baseline drift fails it now.
    if item.config.option.nnhealth_baseline:
        from pytest_nnhealth.plugin.fixtures import PENDING_RUNS, drift_message

        runs = item.stash.get(PENDING_RUNS, [])
        message = drift_message(runs, str(item.config.option.nnhealth_baseline))
        if message is not None:
            pytest.fail(message, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        "pytest_nnhealth.plugin.fixtures" in sys.modules
    ):  # else nothing can have been recorded
        from pytest_nnhealth.plugin.fixtures import PENDING_RUNS
        from pytest_nnhealth.reporting.runs import encode

        runs = item.stash.get(PENDING_RUNS, [])
        if runs:
            setattr(report, REPORT_ATTRIBUTE, [encode(run) for run in runs])
            item.stash[PENDING_RUNS] = []
    return report
