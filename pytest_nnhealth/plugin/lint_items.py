"""``pytest --nnhealth``: every collected Python file that imports torch becomes one
lint item running nnlint's source rules.

The torch test is a text scan (no parse, no import), so collecting a large tree stays
cheap; nnlint's own cache (content hash + configuration + version) makes a rerun on
unchanged files nearly free. A failing item shows nnlint's text output.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_nnhealth.plugin.fixtures import PENDING_RUNS
from pytest_nnhealth.reporting.runs import LintRun

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from nnlint.engine.config import LintConfig
    from nnlint.findings import Finding

# `import torch`, `import torch.nn as nn`, `from torch import nn`, `import os, torch`.
_IMPORTS_TORCH = re.compile(
    rb"^[ \t]*(?:from[ \t]+torch(?:\.|[ \t])"
    rb"|import[ \t]+(?:[\w.]+[ \t]*,[ \t]*)*torch\b)",
    re.MULTILINE,
)
_CONFIGS = pytest.StashKey[dict[Path, Any]]()


def imports_torch(data: bytes) -> bool:
    # Python reads a file after a byte-order mark and ends lines at a lone \r too; a
    # file whose only torch import follows either was silently left unlinted.
    text = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r", b"\n")
    return _IMPORTS_TORCH.search(text) is not None


def collect_file(file_path: Path, parent: pytest.Collector) -> NNLintFile | None:
    if file_path.suffix != ".py":
        return None
    try:
        data = file_path.read_bytes()
    except OSError:
        return None
    if not imports_torch(data):
        return None
    return NNLintFile.from_parent(parent, path=file_path)


class NNLintFailure(Exception):
    def __init__(self, findings: list[Finding], text: str | None) -> None:
        super().__init__(f"{len(findings)} nnlint finding(s)")
        self.findings = findings
        self.text = text


class NNLintFile(pytest.File):
    def collect(self) -> list[NNLintItem]:
        return [NNLintItem.from_parent(self, name="nnlint")]


class NNLintItem(pytest.Item):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("nnlint")

    def runtest(self) -> None:
        from nnlint.api import lint_file

        findings = lint_file(self.path, self._lint_config())
        shown = [replace(finding, path=self._display_path()) for finding in findings]
        run = LintRun(self._display_path(), self.nodeid, [f.to_dict() for f in shown])
        self.stash.setdefault(PENDING_RUNS, []).append(run)
        if findings:
            raise NNLintFailure(shown, self._source_text())

    def _lint_config(self) -> LintConfig:
        from nnlint.engine.config import load_config, require_rules
        from nnlint.registry import known_codes

        configs = self.config.stash.setdefault(_CONFIGS, {})
        directory = self.path.parent
        if directory not in configs:
            loaded = load_config(directory)
            # A selection that runs no rule would pass every item.
            require_rules(loaded, known_codes(), graph_mode=False)
            configs[directory] = loaded
        config: LintConfig = configs[directory]
        return config

    def _display_path(self) -> str:
        base = self.config.invocation_params.dir
        try:
            return str(self.path.relative_to(base))
        except ValueError:
            return str(self.path)

    def _source_text(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        from nnlint.engine.config import ConfigError

        error = excinfo.value
        if isinstance(error, NNLintFailure):
            # nnlint cuts each header line at the width; a CI log should keep the
            # whole message, so never go below a generous width.
            width = self.config.get_terminal_writer().fullwidth
            return render_findings(error.findings, error.text, width=max(width, 160))
        if isinstance(error, ConfigError):
            return f"nnlint configuration error: {error}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"nnlint {self._display_path()}"


def render_findings(findings: list[Finding], text: str | None, width: int = 100) -> str:
    """nnlint's own text output for one file's findings (without colour: pytest's
    failure sections are plain text)."""
    from nnlint.output.text import render_text

    sources = None if text is None or not findings else {findings[0].path: text}
    return render_text(findings, sources=sources, width=width, color=False).rstrip()
