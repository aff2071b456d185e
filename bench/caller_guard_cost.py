"""Cost of ``CallerGuard`` (snapshot before, comparison after) next to a whole check().

Deep ReLU MLPs of two widths with an Adam instance as the caller's optimizer; one
thread; the guard's two phases are timed alone, then one default ``check()``.

    .venv/bin/python -m bench.caller_guard_cost
"""

from __future__ import annotations

import time

import torch
from torch import nn

from pytest_nnhealth import check
from pytest_nnhealth.training.caller_guard import CallerGuard


def row(width: int) -> str:
    blocks = [nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(8)]
    model = nn.Sequential(*blocks, nn.Linear(width, 10))
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters())
    start = time.perf_counter()
    guard = CallerGuard.capture(model, optimizer)
    captured = time.perf_counter()
    guard.restore()
    compared = time.perf_counter()
    x, y = torch.randn(64, width), torch.randint(0, 10, (64,))
    check(model, (x, y), loss_fn=nn.functional.cross_entropy, graph=False)
    total = time.perf_counter() - compared
    return (
        f"| {params / 1e6:.2f}M | {1000 * (captured - start):.0f} ms "
        f"| {1000 * (compared - captured):.0f} ms | {1000 * total:.0f} ms |"
    )


def main() -> None:
    torch.set_num_threads(1)
    print("| parameters | snapshot | comparison | check() total |")
    print("|---|---|---|---|")
    for width in (256, 1024):
        print(row(width))


if __name__ == "__main__":
    main()
