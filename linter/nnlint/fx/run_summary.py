"""What one graph-mode run built and analysed, and the line ``nnlint --fx`` prints
about it on stderr (no torch import here).

Graph rules only see models graph mode could build and trace. A run that built none
checked nothing, and a clean result would then be misleading: the summary says so,
with the likely reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlint.findings import Finding

DOCS = "docs/graph-mode.md"


@dataclass
class GraphRun:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0  # files queued for import
    scripts: int = 0  # files not imported because they run code at import
    files_imported: int = 0
    configured: int = 0  # [tool.nnlint.fx] models entries run
    analysed: int = 0  # models built, traced and checked by the graph rules
    timed_out: int = 0

    def summary(self) -> str:
        counts = (
            f"{_count(self.files_imported, 'file')} imported, "
            f"{_count(self.configured, 'configured model')}"
        )
        if self.analysed:
            models = _count(self.analysed, "model")
            return f"nnlint --fx: {models} analysed ({counts})"
        lines = [
            f"nnlint --fx: no model was built and analysed ({counts}); "
            "the graph rules checked nothing."
        ]
        lines += [f"  hint: {hint}" for hint in self.hints()]
        return "\n".join(lines)

    def hints(self) -> list[str]:
        hints = []
        if self.scripts:
            hints.append(
                f"{_count(self.scripts, 'file')} not imported because code runs at "
                "import (scripts); name their models in [tool.nnlint.fx] models"
            )
        if self.files_imported < self.files or self.timed_out:
            hints.append("see the NNL60x findings for what failed")
        hints.append(
            "graph mode builds nn.Module classes that take no constructor arguments "
            "and set example_input_array, and the factories listed in "
            f"[tool.nnlint.fx] models (see {DOCS})"
        )
        return hints


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
