"""Run graph mode in a child process with time limits (no torch import here).

Graph mode imports user code, which may fail to import, kill the interpreter, hang,
start threads or spawn processes. The parent starts ``python -m nnlint.fx.worker`` in
its own process group (:mod:`nnlint.fx.process_group`) with a queue of jobs (files,
then ``[tool.nnlint.fx] models`` entries) and reads one JSON line per event from a
results pipe. Every wait is bounded: start-up gets STARTUP_TIMEOUT, each job
``timeout`` seconds from its start event. A job whose process dies or overruns yields
one finding naming the cause (NNL602 crash / NNL603 time limit, informational), the
group is killed, and a fresh child takes the rest of the queue. Import errors are
reported by the child itself (NNL601).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from nnlint.findings import Finding
from nnlint.fx.planning import plan
from nnlint.fx.process_group import Worker, workers_killed_on_exit
from nnlint.fx.run_summary import GraphRun

# Importing torch in a fresh interpreter takes 1-5 s (more on a loaded machine); it is
# not part of any job's time limit.
STARTUP_TIMEOUT = 120.0
# After the worker exited, how long to wait for the rest of its results.
DRAIN_SECONDS = 2.0
_TICK = 0.25


def run_graph_mode(
    paths: Sequence[str | os.PathLike[str]], config: Any
) -> list[Finding]:
    return run_graph(paths, config).findings


def run_graph(paths: Sequence[str | os.PathLike[str]], config: Any) -> GraphRun:
    chosen = plan(paths, config)
    jobs: list[dict[str, Any]] = [
        {"kind": "file", "path": str(path)} for path in chosen.files
    ]
    jobs += [{"kind": "entry", "index": index} for index in chosen.entries]
    run = GraphRun(
        files=len(chosen.files),
        scripts=len(chosen.scripts),
        configured=len(chosen.entries),
    )
    if not jobs:
        return run
    request = {
        "root": str(chosen.root),
        "fx": chosen.fx,
        "sys_path": chosen.sys_path,
    }
    with workers_killed_on_exit():
        run_jobs(jobs, request, chosen.timeout, run)
    # One model can be found twice (a factory and its class's example_input_array),
    # with messages differing only in the batch size: one finding per code and place.
    unique: dict[tuple[str, int, int, str], Finding] = {}
    for finding in run.findings:
        unique.setdefault(
            (finding.path, finding.line, finding.column, finding.code), finding
        )
    shown = [_displayed(f) for f in unique.values()]
    run.findings = sorted(shown, key=lambda finding: finding.sort_key)
    return run


def run_jobs(
    jobs: list[dict[str, Any]], request: dict[str, Any], timeout: float, run: GraphRun
) -> None:
    remaining = list(jobs)
    while remaining:
        outcome = _run_child(remaining, request, timeout, run)
        if outcome.failed is None:
            break
        failed = outcome.failed
        run.findings.append(_failure_finding(remaining[failed], request, outcome.cause))
        run.timed_out += outcome.cause[0] == "NNL603"
        remaining = remaining[failed + 1 :]


@dataclass
class _Outcome:
    failed: int | None = None  # index (in this child's queue) of the failed job
    cause: tuple[str, str] = ("NNL602", "")
    crashed: bool = False


def _run_child(
    jobs: list[dict[str, Any]], request: dict[str, Any], timeout: float, run: GraphRun
) -> _Outcome:
    worker = Worker(dict(request, jobs=jobs), cwd=request["root"])
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    tail: deque[str] = deque(maxlen=20)  # the last lines user code printed
    readers = [
        _pump(worker.results, lambda line: events.put(_parse(line)), events.put),
        _pump(worker.process.stdout, tail.append, lambda _: None),
    ]
    try:
        outcome = _follow(worker, events, len(jobs), timeout, run)
    finally:
        status = worker.close()
        for reader in readers:
            reader.join(timeout=DRAIN_SECONDS)  # bounded: a helper may have escaped
    if outcome.crashed:
        outcome.cause = ("NNL602", _crash_message(status, tail))
    return outcome


def _follow(
    worker: Worker,
    events: queue.Queue[dict[str, Any] | None],
    count: int,
    timeout: float,
    run: GraphRun,
) -> _Outcome:
    """Collect results event by event until the queue is done, the worker dies, or a
    job overruns its time limit."""
    current = 0
    deadline = time.monotonic() + max(timeout, STARTUP_TIMEOUT)
    exited = False
    while True:
        try:
            event = events.get(timeout=_TICK)
        except queue.Empty:
            if not exited and worker.exited():
                # Helpers the worker left behind may hold the results pipe open.
                worker.kill_group()
                exited = True
                deadline = min(deadline, time.monotonic() + DRAIN_SECONDS)
            if time.monotonic() < deadline:
                continue
            if exited or current >= count:
                return _ended(current, count)
            return _Outcome(current, ("NNL603", _overrun(timeout)))
        if event is None:  # end of the results pipe: the worker has ended
            return _ended(current, count)
        kind = event.get("event")
        if kind == "finished":
            return _Outcome()
        if kind in ("start", "done"):
            if kind == "done":
                _record(event, run)
            current = int(event["job"]) + (kind == "done")
            deadline = time.monotonic() + timeout


def _ended(current: int, count: int) -> _Outcome:
    """The worker ended without saying "finished": a crash unless every job was done."""
    return _Outcome() if current >= count else _Outcome(current, crashed=True)


def _overrun(timeout: float) -> str:
    return f"analysis did not finish within {timeout:g} s; its processes were stopped"


def _record(event: Mapping[str, Any], run: GraphRun) -> None:
    run.findings.extend(_finding(d) for d in event.get("findings", []))
    run.files_imported += bool(event.get("imported"))
    run.analysed += int(event.get("analysed", 0))


def _pump(
    stream: IO[bytes] | None,
    sink: Callable[[str], None],
    done: Callable[[None], None],
) -> threading.Thread:
    """Read ``stream`` line by line on a daemon thread; it ends at end-of-file, which
    comes once the worker's group is killed (nothing waits on it)."""

    def read() -> None:
        assert stream is not None
        with stream:
            for line in stream:
                sink(line.decode("utf-8", "replace").rstrip("\n"))
        done(None)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


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
        k: data[k]
        for k in Finding.__dataclass_fields__
        if k in data and k not in ("fix", "about")
    }
    about = tuple((str(p), int(a), int(b)) for p, a, b in data.get("about", ()))
    return Finding(**fields, about=about)


def _displayed(finding: Finding) -> Finding:
    """Paths relative to the working directory when inside it (like source findings)."""
    path = Path(finding.path)
    if not path.is_absolute():
        return finding
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return finding
    return replace(finding, path=str(relative))
