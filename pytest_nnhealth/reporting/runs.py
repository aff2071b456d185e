"""What one pytest session learned: the records every renderer and the baseline consume.

A ``ModelRun`` is one ``check()`` result (from the ``nnhealth`` fixture or a
``[tool.nnhealth]`` model item), a ``LintRun`` one linted file. Both travel from the
worker that produced them to the controller as JSON text on the test report, so a
serial run and a ``-n 2`` run feed the same records to the same pure renderers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_nnhealth.judge.records import HealthReport

Verdict = Literal["healthy", "warnings", "unhealthy", "drifted", "error"]
Origin = Literal["fixture", "config"]
# The attribute of a pytest TestReport that carries the records (JSON strings).
REPORT_ATTRIBUTE = "nnhealth"


@dataclass(frozen=True)
class Drift:
    """One per-layer statistic that moved beyond the baseline factor."""

    layer: str
    quantity: str
    baseline: float
    current: float
    factor: float

    def describe(self) -> str:
        return (
            f"{self.quantity} of {self.layer or 'model'}: {self.baseline:.3g} in the "
            f"baseline, {self.current:.3g} now (x{self.factor:.2f})"
        )


@dataclass
class ModelRun:
    """``key`` is unique in a session: the item's node id, plus ``::Model`` for
    reports made by the fixture (a test may check several models)."""

    key: str
    nodeid: str
    model: str
    origin: Origin
    report: HealthReport | None = None
    error: str | None = None
    drift: list[Drift] = field(default_factory=list)
    baseline_factor: float | None = None

    @property
    def verdict(self) -> Verdict:
        if self.report is None:
            return "error"
        if not self.report.healthy:
            return "unhealthy"
        if self.drift:
            return "drifted"
        return "warnings" if self.report.findings else "healthy"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "model",
            "key": self.key,
            "nodeid": self.nodeid,
            "model": self.model,
            "origin": self.origin,
            "verdict": self.verdict,
            "report": None if self.report is None else self.report.to_dict(),
            "error": self.error,
            "drift": [vars(item).copy() for item in self.drift],
            "baseline_factor": self.baseline_factor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRun:
        report = data.get("report")
        return cls(
            key=data["key"],
            nodeid=data["nodeid"],
            model=data["model"],
            origin=data["origin"],
            report=None if report is None else HealthReport.from_dict(report),
            error=data.get("error"),
            drift=[Drift(**item) for item in data.get("drift", [])],
            baseline_factor=data.get("baseline_factor"),
        )


@dataclass
class LintRun:
    """nnlint's findings (``Finding.to_dict()`` each) for one file."""

    path: str
    nodeid: str
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "lint",
            "path": self.path,
            "nodeid": self.nodeid,
            "findings": self.findings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LintRun:
        return cls(path=data["path"], nodeid=data["nodeid"], findings=data["findings"])


@dataclass
class SessionRecords:
    """Everything collected on the controller, kept in a stable order so that the
    summary and reports do not depend on which worker finished first."""

    models: list[ModelRun] = field(default_factory=list)
    lint: list[LintRun] = field(default_factory=list)

    def add(self, text: str) -> None:
        data = json.loads(text)
        if data.get("kind") == "lint":
            self.lint.append(LintRun.from_dict(data))
        else:
            self.models.append(ModelRun.from_dict(data))

    def sorted(self) -> SessionRecords:
        return SessionRecords(
            models=sorted(self.models, key=lambda run: run.key),
            lint=sorted(self.lint, key=lambda run: run.path),
        )


def encode(run: ModelRun | LintRun) -> str:
    # NaN/Inf are legitimate measurements (a diverged loss); json keeps them.
    return json.dumps(run.to_dict(), allow_nan=True)
