"""Start-up checks of the nnhealth settings: a bad value stops the run with one usage
error (exit status 4) before any test runs, also under pytest-xdist.

Imported by the pytest11 entry point inside its hooks; nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPORT_SUFFIXES = (".json", ".html")


def has_settings(config: pytest.Config) -> bool:
    """Some nnhealth setting was written (ini key, option or [tool.nnhealth]); a
    project that writes none pays nothing and is never stopped by this plugin."""
    from pytest_nnhealth.plugin.settings import INI_KEYS, THRESHOLDS_KEY, pyproject_path

    if any(
        config.getini(key) not in (None, "", []) for key in (*INI_KEYS, THRESHOLDS_KEY)
    ):
        return True
    if any(config.getoption(dest, None) is not None for dest in INI_KEYS):
        return True
    if config.getoption("nnhealth_threshold", None):
        return True
    pyproject = pyproject_path(config)
    try:
        return pyproject is not None and "nnhealth" in pyproject.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def uses_session_features(config: pytest.Config) -> bool:
    option = config.option
    return bool(
        option.nnhealth
        or option.nnhealth_report
        or option.nnhealth_baseline
        or option.nnhealth_save_baseline
    )


def validate_session_options(config: pytest.Config) -> None:
    """Bad settings, report paths or baselines stop the run before any test runs."""
    from pytest_nnhealth.plugin.fixtures import session_baseline, session_settings
    from pytest_nnhealth.plugin.output_paths import check_writable

    session_settings(config)
    session_baseline(config)
    for path in config.option.nnhealth_report:
        if Path(path).suffix.lower() not in REPORT_SUFFIXES:
            raise pytest.UsageError(
                f"--nnhealth-report={path}: the report format follows the suffix, "
                "use .json or .html"
            )
        check_writable(Path(path), "--nnhealth-report")
        if Path(path).suffix.lower() == ".html":
            from pytest_nnhealth.reporting.html_report import require_html_extra

            require_html_extra()
    if config.option.nnhealth_save_baseline:
        check_baseline_target(Path(config.option.nnhealth_save_baseline))
    if config.option.nnhealth:
        model_specs(config)


def check_baseline_target(path: Path) -> None:
    from pytest_nnhealth.plugin.baseline import BaselineError, check_replaceable
    from pytest_nnhealth.plugin.output_paths import check_writable

    check_writable(path, "--nnhealth-save-baseline")
    try:
        check_replaceable(path)
    except BaselineError as error:
        raise pytest.UsageError(
            f"nnhealth: --nnhealth-save-baseline={path}: {error}"
        ) from None


def model_specs(config: pytest.Config) -> list[Any]:
    from pytest_nnhealth.plugin.model_items import parse_models
    from pytest_nnhealth.plugin.settings import read_tool_table

    table = read_tool_table(config)
    if "models" not in table:
        return []
    return parse_models(table["models"], "[tool.nnhealth] models")


def check_markers(items: list[pytest.Item]) -> None:
    """Every ``@pytest.mark.nnhealth`` checked at collection: a typo stops the run
    instead of erroring in each test that uses it."""
    marked = [item for item in items if item.get_closest_marker("nnhealth") is not None]
    if marked:
        from pytest_nnhealth.plugin.fixtures import item_settings

        for item in marked:
            item_settings(item)


# The key of a usage error that an xdist worker hands to the controller.
DEFERRED_ERROR = "nnhealth_usage_error"


def defer_to_controller(
    config: pytest.Config, error: pytest.UsageError, items: list[pytest.Item]
) -> bool:
    """In a pytest-xdist worker, a usage error raised during collection crashes the
    worker and the controller prints an INTERNALERROR instead of the message. The
    worker keeps the message for the controller and runs nothing; the controller
    raises it (:func:`raise_deferred`). False outside a worker: raise it there."""
    output = getattr(config, "workeroutput", None)
    if output is None:
        return False
    output[DEFERRED_ERROR] = str(error)
    items.clear()
    return True


def raise_deferred(node: Any) -> None:
    message = getattr(node, "workeroutput", None) or {}
    if message.get(DEFERRED_ERROR):
        raise pytest.UsageError(message[DEFERRED_ERROR])
