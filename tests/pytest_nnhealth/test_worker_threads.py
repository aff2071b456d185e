from __future__ import annotations

import pytest
import torch

from pytest_nnhealth.training.worker_threads import single_thread_under_xdist


def test_one_thread_inside_an_xdist_worker_and_restored_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_thread_under_xdist():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_thread_count_untouched_outside_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_thread_under_xdist():
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
