"""Typed records of what probes measure besides per-step series (no torch).

A probe hands these to the runner through ``Probe.record``; the runner's
``RunResult`` carries them in typed fields, so the judge and the renderers read
attributes, never string keys. Where a record also appears in ``report.meta`` (the
JSON report's documented keys), it is generated from the record by ``to_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RouterInfo:
    """One mixture-of-experts router the routing probe read (docs/health/moe.md).

    ``name`` is the router module (its series sit on that module's row),
    ``experts`` how many experts it scores, ``top_k`` how many it picks per token,
    ``bias_balanced`` whether a balancing bias is added to its scores before the
    choice, ``experts_module`` the module holding the experts (None: unknown).
    """

    name: str
    experts: int
    top_k: int
    bias_balanced: bool = False
    experts_module: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``report.meta["routers"][name]`` entry (the name is the key)."""
        data = asdict(self)
        del data["name"]
        return data

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> RouterInfo:
        return cls(name=name, **data)


def routers_meta(routers: list[RouterInfo]) -> dict[str, dict[str, Any]]:
    """``report.meta["routers"]``: router name -> its record without the name."""
    return {router.name: router.to_dict() for router in routers}


def routers_from_meta(meta: dict[str, Any]) -> list[RouterInfo]:
    """The inverse of ``routers_meta`` (a report read back from JSON)."""
    items = meta.get("routers") or {}
    return [RouterInfo.from_dict(name, data) for name, data in items.items()]


@dataclass(frozen=True)
class UpdateMemory:
    """What the update-ratio probe held to measure updates
    (docs/health/update_ratio.md).

    ``extra_bytes`` held between ``before_update`` and ``after_update``, over
    ``tensors`` trainable tensors of which ``sampled_tensors`` kept a fixed subset of
    ``sample`` coordinates (None: every tensor whole); ``parameter_bytes`` the size
    of those tensors, for comparison (one full copy).
    """

    extra_bytes: int
    tensors: int
    sampled_tensors: int
    sample: int | None
    parameter_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The ``report.meta["update_ratio_memory"]`` entry."""
        return asdict(self)
