"""Run graph mode in a child process with a time limit (no torch import here).

Graph mode imports user code, which may fail to import, kill the interpreter or hang.
The parent starts ``python -m nnlint.fx.worker`` with a queue of jobs (files, then
``[tool.nnlint.fx] models`` entries) and reads one JSON line per event. Each job gets
``timeout`` seconds from its start event; a job whose process dies or overruns yields
one finding naming the cause (NNL602 / NNL603) and a fresh child takes the rest of the
queue. Import errors are reported by the child itself (NNL601).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from nnlint.findings import Finding
from nnlint.fx.planning import (
    candidate_files,
    entry_selected,
    python_path,
    settings,
    timeout_of,
)

# Importing torch in a fresh interpreter takes 1-5 s (more on a loaded machine); it is
# not part of any job's time limit.
STARTUP_TIMEOUT = 120.0


def run_graph_mode(
    paths: Sequence[str | os.PathLike[str]], config: Any
) -> list[Finding]:
    fx, root = settings(config)
    timeout = timeout_of(fx)
    jobs: list[dict[str, Any]] = [
        {"kind": "file", "path": str(path)} for path in candidate_files(paths)
    ]
    jobs += [
        {"kind": "entry", "index": index}
        for index, entry in enumerate(fx.get("models", []))
        if entry_selected(entry, paths, root, fx)
    ]
    if not jobs:
        return []
    request = {"root": str(root), "fx": fx, "sys_path": python_path(root, fx)}
    findings = run_jobs(jobs, request, timeout)
    # One model can be found twice (a factory and its class's example_input_array),
    # with messages differing only in the batch size: one finding per code and place.
    unique: dict[tuple[str, int, int, str], Finding] = {}
    for finding in findings:
        unique.setdefault(
            (finding.path, finding.line, finding.column, finding.code), finding
        )
    shown = [_displayed(f) for f in unique.values()]
    return sorted(shown, key=lambda finding: finding.sort_key)


def run_jobs(
    jobs: list[dict[str, Any]], request: dict[str, Any], timeout: float
) -> list[Finding]:
    findings: list[Finding] = []
    remaining = list(jobs)
    while remaining:
        outcome = _run_child(remaining, request, timeout)
        findings.extend(outcome.findings)
        if outcome.failed is None:
            break
        failed = outcome.failed
        findings.append(_failure_finding(remaining[failed], request, outcome.cause))
        remaining = remaining[failed + 1 :]
    return findings


class _Outcome:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.failed: int | None = (
            None  # index (in this child's queue) of the failed job
        )
        self.cause = ("NNL602", "")


def _run_child(
    jobs: list[dict[str, Any]], request: dict[str, Any], timeout: float
) -> _Outcome:
    process = _start(dict(request, jobs=jobs))
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    stderr_tail: deque[str] = deque(maxlen=20)
    readers = [
        _pump(
            process.stdout,
            lambda line: events.put(_parse(line)),
            lambda: events.put(None),
        ),
        _pump(process.stderr, stderr_tail.append, lambda: None),
    ]
    try:
        return _follow(process, events, stderr_tail, len(jobs), timeout)
    finally:
        if process.poll() is None:
            _kill(process)
        for reader in readers:
            reader.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _follow(
    process: subprocess.Popen[str],
    events: queue.Queue[dict[str, Any] | None],
    stderr_tail: deque[str],
    count: int,
    timeout: float,
) -> _Outcome:
    """Collect findings event by event until the queue is done, the child dies, or a
    job overruns ``timeout`` (start-up gets STARTUP_TIMEOUT)."""
    outcome = _Outcome()
    current, limit = 0, max(timeout, STARTUP_TIMEOUT)
    while True:
        try:
            event = events.get(timeout=limit)
        except queue.Empty:
            _kill(process)
            outcome.failed = current
            outcome.cause = ("NNL603", f"analysis did not finish within {timeout:g} s")
            return outcome
        if event is None:  # the child closed stdout: finished or died
            status = process.wait()
            if current < count:
                outcome.failed = current
                outcome.cause = ("NNL602", _crash_message(status, stderr_tail))
            return outcome
        limit = timeout
        if event.get("event") == "start":
            current = int(event["job"])
        elif event.get("event") == "done":
            outcome.findings.extend(_finding(d) for d in event.get("findings", []))
            current = int(event["job"]) + 1


def _start(request: dict[str, Any]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [package_root, env.get("PYTHONPATH")])
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "nnlint.fx.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=request["root"],
        # Its own process group, so a timeout also ends what the user code started.
        start_new_session=os.name == "posix",
    )
    assert process.stdin is not None
    try:
        process.stdin.write(json.dumps(request))
        process.stdin.close()
    except BrokenPipeError:
        pass  # the child died at start-up; reported as a crash
    return process


def _pump(stream: IO[str] | None, sink: Any, done: Any) -> threading.Thread:
    """Read ``stream`` line by line on a thread (portable, unlike select on pipes)."""

    def read() -> None:
        assert stream is not None
        for line in stream:
            sink(line.rstrip("\n"))
        done()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _kill(process: subprocess.Popen[str]) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _crash_message(status: int, stderr_tail: deque[str]) -> str:
    if status < 0:
        try:
            how = f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            how = f"was killed by signal {-status}"
    else:
        how = f"exited with status {status}"
    last = next((line.strip() for line in reversed(stderr_tail) if line.strip()), "")
    return f"graph-mode process {how}" + (
        f"; last output: {last[:200]}" if last else ""
    )


def _failure_finding(
    job: Mapping[str, Any], request: Mapping[str, Any], cause: tuple[str, str]
) -> Finding:
    from nnlint.fx.rules import graph_rule_by_code

    code, message = cause
    if job["kind"] == "file":
        path, line = str(job["path"]), 1
        message = f"{message} (while importing and analysing this file)"
    else:
        entry = request["fx"]["models"][job["index"]]
        path, line = _entry_location(str(request["root"]), entry)
        factory = entry if isinstance(entry, str) else dict(entry).get("factory")
        message = f"{message} (while building and analysing {factory})"
    rule = graph_rule_by_code(code)
    assert rule is not None
    return Finding(path, line, 1, line, 1, code, rule.NAME, message, rule.SEVERITY)


def _entry_location(root: str, entry: Any) -> tuple[str, int]:
    from nnlint.fx.worker import entry_location

    return entry_location(root, entry)


def _finding(data: Mapping[str, Any]) -> Finding:
    fields = {
        k: data[k] for k in Finding.__dataclass_fields__ if k in data and k != "fix"
    }
    return Finding(**fields)


def _displayed(finding: Finding) -> Finding:
    """Paths relative to the working directory when inside it (like source findings)."""
    path = Path(finding.path)
    if not path.is_absolute():
        return finding
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return finding
    from dataclasses import replace

    return replace(finding, path=str(relative))
