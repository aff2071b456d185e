"""Data types shared by the engine, the rules and the renderers (no behaviour here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    # Only for annotations: a warm (all cached) run never imports libcst.
    import libcst as cst

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Fix:
    """A source edit proposed by a rule: each node in ``replacements`` is swapped, by
    identity, for its new node (``cst.RemovalSentinel.REMOVE`` removes a statement)."""

    description: str
    safe: bool
    replacements: tuple[tuple[cst.CSTNode, Any], ...] = ()


@dataclass(frozen=True)
class Finding:
    """One diagnostic. ``line`` and ``column`` are 1-based, like ruff and flake8.

    ``to_dict`` gives the JSON schema from DESIGN.md: path, line, column, end_line,
    end_column, code, name, message, severity, fix (null or ``{safe, description}``).
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    severity: Severity = "error"
    fix: Fix | None = field(default=None, compare=False)
    # Other places the finding is about, as (path, first line, last line): for a graph
    # finding, where the module it reports was constructed. Twins are merged on it
    # (nnlint.fx.policy); it is not part of the JSON output.
    about: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "severity": self.severity,
            "fix": (
                None
                if self.fix is None
                else {"safe": self.fix.safe, "description": self.fix.description}
            ),
        }

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)
