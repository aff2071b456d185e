"""Which real-zoo architectures have a router ``check()`` locates: the MoE symptoms are
judged only on located routers, so a model without one cannot raise them.

    .venv/bin/python bench/moe_locate_real.py
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.real_zoo import CASES  # noqa: E402
from pytest_nnhealth.probes.routers import locate_routers  # noqa: E402


def main() -> int:
    with_routers = 0
    for case in CASES:
        model = case.build(0)[0]
        found = [(r.name, r.num_experts, r.top_k) for r in locate_routers(model)]
        with_routers += bool(found)
        print(f"{case.library}:{case.name:28} {found or '-'}", flush=True)
    print(f"{with_routers} of {len(CASES)} architectures have a located router")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
