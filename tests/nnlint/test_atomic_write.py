"""write_atomic: the target holds the old or the new bytes, never a mix."""

from __future__ import annotations

import os
import resource
import stat
from pathlib import Path

import pytest

from nnlint.engine.atomic_write import write_atomic


def test_replaces_content_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_new_file_gets_umask_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.json", b"{}")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644


def test_failed_write_leaves_target_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_bytes(b"x = 1\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # A 1 KiB file-size limit makes the 64 KiB write fail half-way (EFBIG, not SIGXFSZ,
    # because the signal is ignored here).
    import signal

    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))
    try:
        with pytest.raises(OSError, match="too large"):
            write_atomic(target, b"y" * 65536)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert target.read_bytes() == b"x = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]
