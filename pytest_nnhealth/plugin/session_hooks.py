"""Hooks for a session that uses nnhealth's session features (``--nnhealth``, a report,
a baseline): registered by the plugin in ``pytest_configure`` only then.

Records arrive on test reports (``pytest_runtest_logreport``: on the xdist controller,
the workers' reports), and are rendered once at the end, sorted, so the output does not
depend on which worker finished first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_nnhealth.reporting.runs import REPORT_ATTRIBUTE, SessionRecords


class SessionHooks:
    """Registered only when a session feature is on (--nnhealth, a report, a baseline):
    gathers the records on the controller and renders them once at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records = SessionRecords()
        self.written: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for text in getattr(report, REPORT_ATTRIBUTE, None) or ():
            self.records.add(text)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: its records went to the controller
        from pytest_nnhealth.plugin.baseline import BaselineError
        from pytest_nnhealth.reporting import write

        option = self.config.option
        records = self.records.sorted()
        writes = [(write.report, Path(path)) for path in option.nnhealth_report]
        if option.nnhealth_save_baseline:
            writes.append((write.baseline, Path(option.nnhealth_save_baseline)))
        for writer, path in writes:
            try:
                self.written.append(writer(path, records))
            except (OSError, BaselineError) as error:
                # Checked at start-up; this is a late failure (disk full, the path
                # changed during the run). The file is unchanged (atomic writes).
                reason = getattr(error, "strerror", None) or error
                self.written.append(
                    f"nnhealth: error: could not write {path}: {reason}"
                )
                session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        option = self.config.option
        if (
            option.nnhealth
            and not option.collectonly
            and self.config.get_verbosity() > -2
        ):
            from pytest_nnhealth.plugin.summary import render_summary

            records = self.records.sorted()
            terminalreporter.write_sep("=", "nnhealth summary")
            width = self.config.get_terminal_writer().fullwidth
            for line in render_summary(records, width=width).splitlines():
                terminalreporter.write_line(line)
        for line in self.written:
            terminalreporter.write_line(line)
