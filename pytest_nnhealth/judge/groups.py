"""Repeated findings as one entry: a broken setting whose cause repeats over many
layers (layer scale 1.0 with a huge lr fires ``update_ratio_high`` on ~70 ConvNeXt
parameters) reads as one problem, not seventy. Text renderers group; JSON keeps every
finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_nnhealth.judge.records import HealthFinding

# Fewer repeats are listed one by one: the entry names the first NAMED layers, so
# grouping pays off only when it hides at least one more.
GROUP_MIN = 4
NAMED = 3


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one symptom with the same cause (same severity and the same
    ``consequence_of``), in the order the judge gave them."""

    findings: tuple[HealthFinding, ...]

    @property
    def first(self) -> HealthFinding:
        return self.findings[0]

    @property
    def count(self) -> int:
        return len(self.findings)

    def title(self) -> str:
        """``update_ratio_high in 70 layers, first `a`, `b`, `c` ...``."""
        if self.count == 1:
            return self.first.message
        names = ", ".join(f"`{f.module or '(model)'}`" for f in self.findings[:NAMED])
        more = " ..." if self.count > NAMED else ""
        return f"{self.first.check} in {self.count} layers, first {names}{more}"


def _key(finding: HealthFinding) -> tuple[str, str, str | None]:
    return (finding.check, finding.severity, finding.consequence_of)


def group_repeats(
    findings: Sequence[HealthFinding], min_size: int = GROUP_MIN
) -> list[FindingGroup]:
    """One group per symptom and cause repeated at least ``min_size`` times, placed
    where its first finding was; every other finding a group of its own."""
    members: dict[tuple[str, str, str | None], list[HealthFinding]] = {}
    for finding in findings:
        members.setdefault(_key(finding), []).append(finding)
    out: list[FindingGroup] = []
    placed: set[tuple[str, str, str | None]] = set()
    for finding in findings:
        key = _key(finding)
        if len(members[key]) < min_size:
            out.append(FindingGroup((finding,)))
        elif key not in placed:
            placed.add(key)
            out.append(FindingGroup(tuple(members[key])))
    return out
