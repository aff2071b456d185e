"""The graph-mode worker's process and its process group (no torch import here).

User code may start threads, fork, or spawn helpers that outlive it. The worker
therefore runs in its own session (a new process group whose id is its pid), and every
way out of a run ends that whole group with SIGKILL:

* the run finished, failed or timed out (``Worker.close``);
* this process exits normally (``atexit``) or is told to stop (SIGTERM, SIGINT: the
  handler kills the groups, then does what the previous handler would have done; a
  signal this process ignores stays ignored and kills nothing);
* this process dies without running any of that (SIGKILL, a crash): the worker keeps
  the read end of a pipe whose only writer is this process; end-of-file on it makes
  the worker kill its own group.

The group is always killed *before* the worker is reaped: until then its pid (the
group id) cannot be reused, so the kill never reaches an unrelated process.
A helper that calls ``setsid`` itself leaves the group and is out of reach.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

CHANNEL_ENV = "NNLINT_FX_CHANNEL_FD"
POSIX = os.name == "posix"

_live: set[int] = set()  # pids (= group ids) of workers not yet reaped
_lock = threading.Lock()


class Worker:
    """A started ``python -m nnlint.fx.worker``: its results pipe and output pipe."""

    def __init__(self, request: dict[str, Any], cwd: str) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, **{CHANNEL_ENV: str(write_fd)})
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [package_root, env.get("PYTHONPATH")])
        )
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nnlint.fx.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # user output: one pipe, kept as a tail
                env=env,
                cwd=cwd,
                pass_fds=(write_fd,),  # results: a pipe of their own, not stdout
                start_new_session=POSIX,
            )
        finally:
            os.close(write_fd)
        with _lock:
            _live.add(self.process.pid)
        self.results: IO[bytes] = os.fdopen(read_fd, "rb")
        self._send(request)

    def _send(self, request: dict[str, Any]) -> None:
        """Write the request as one line and keep stdin open: its end-of-file tells
        the worker this process is gone."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker died at start-up: reported as a crash

    def exited(self) -> bool:
        """The worker has exited (it is not reaped: its pid stays reserved)."""
        if not POSIX:
            return self.process.poll() is not None
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self.process.pid, flags) is not None
        except ChildProcessError:
            return True

    def kill_group(self) -> None:
        _kill_group(self.process)

    def close(self) -> int:
        """Kill the whole group, reap the worker, close its stdin; the exit status.
        (The output pipes are closed by their readers, which reach end-of-file once
        the group is gone.)"""
        self.kill_group()
        status = self.process.wait()
        with _lock:
            _live.discard(self.process.pid)
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        return status


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if POSIX:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()


def kill_all() -> None:
    """Kill every live worker group (idempotent; safe in a signal handler)."""
    with _lock:
        pids = list(_live)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if POSIX:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGTERM)


def _forwarding(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        kill_all()
        if callable(previous):
            previous(signum, frame)  # e.g. Python's SIGINT handler: KeyboardInterrupt
        else:  # the default action: die by the same signal
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    return handler


@contextlib.contextmanager
def workers_killed_on_exit() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGINT/SIGHUP first kill the worker groups.
    Handlers can only be set from the main thread; elsewhere ``atexit`` and the
    worker's watch on its stdin still apply."""
    saved: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGINT", "SIGHUP"):
            number = getattr(signal, name, None)
            # An ignored signal stays ignored (``nohup``, a background job of a
            # non-interactive shell): it asks nothing to stop, so no worker is killed.
            if number is not None and signal.getsignal(number) != signal.SIG_IGN:
                saved[number] = signal.signal(
                    number, _forwarding(signal.getsignal(number))
                )
    try:
        yield
    finally:
        for number, previous in saved.items():
            signal.signal(number, previous)


atexit.register(kill_all)
