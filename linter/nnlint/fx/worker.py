"""Graph-mode child process: ``python -m nnlint.fx.worker`` (imports user code).

Reads one JSON line on stdin: ``{"root", "fx", "sys_path", "jobs"}`` where each job is
``{"kind": "file", "path"}`` or ``{"kind": "entry", "index"}`` (an entry of
``[tool.nnlint.fx] models``). Results go, one JSON line per event, to a pipe of their
own (file descriptor ``$NNLINT_FX_CHANNEL_FD``), so nothing user code prints, on stdout
or stderr, can corrupt them: ``{"event": "ready"}``; per job ``{"event": "start", "job":
i}`` then ``{"event": "done", "job": i, "findings": [...], "imported": bool,
"analysed": n}``; finally ``{"event": "finished"}``. Then the process ends with
``os._exit``: threads user code started (daemon or not) and its ``atexit`` handlers
cannot keep it alive. The parent enforces the time limits and kills the process group.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, NoReturn

from nnlint.findings import Finding
from nnlint.fx.process_group import CHANNEL_ENV

# Default cap on the worker's data memory (RLIMIT_DATA: heap and private writable
# mappings, where tensors live), MiB. Importing torch and the warm-up analysis take
# ~285 MiB of it (VmData; ~700 MiB of address space), see docs/graph-mode.md; 8 GiB
# builds models of up to ~2 billion float32 parameters.
DEFAULT_MEMORY_MB = 8192


@dataclass
class JobResult:
    findings: list[Finding] = field(default_factory=list)
    imported: bool = False  # a file job whose module imported
    analysed: int = 0  # models built and analysed by the graph rules


def main() -> NoReturn:
    channel = _channel()
    request = json.loads(_watch_parent())
    _limit_memory(request.get("fx", {}))
    _warm_up()
    _emit(channel, {"event": "ready"})
    for entry in reversed(request.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for index, job in enumerate(request["jobs"]):
        _emit(channel, {"event": "start", "job": index})
        root = request.get("root") or os.getcwd()
        result = run_job(job, request.get("fx", {}), root)
        payload = [
            {**finding.to_dict(), "about": finding.about} for finding in result.findings
        ]
        done = {"event": "done", "job": index, "findings": payload}
        done.update(imported=result.imported, analysed=result.analysed)
        _emit(channel, done)
    _emit(channel, {"event": "finished"})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _channel() -> IO[str]:
    """The results pipe, kept out of every process user code starts."""
    fd = int(os.environ.pop(CHANNEL_ENV))
    os.set_inheritable(fd, False)
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8")


def _watch_parent() -> str:
    """Read the request line; then watch stdin on a thread: end-of-file means the
    parent died without killing this group, so the group kills itself. User code
    reads /dev/null as stdin."""
    stdin = os.fdopen(os.dup(0), "rb")
    line = stdin.readline()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)

    def watch() -> None:
        while stdin.read(1 << 16):
            pass
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    return line.decode("utf-8")


def _limit_memory(fx: Mapping[str, Any]) -> None:
    megabytes = fx.get("memory_mb", DEFAULT_MEMORY_MB)
    if not megabytes or os.name != "posix":
        return
    import resource

    limit = int(megabytes) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _warm_up() -> None:
    """Import torch and what fake tensors pull in (``torch._dynamo``): seconds that must
    not count against the first job's time limit."""
    import torch

    from nnlint.fx.analysis import analyze_model

    analyze_model(torch.nn.Linear(2, 2), (torch.zeros(1, 2),))


def _emit(channel: IO[str], message: Mapping[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def run_job(job: Mapping[str, Any], fx: Mapping[str, Any], root: str) -> JobResult:
    from nnlint.fx import discovery
    from nnlint.fx.analysis import engine_finding

    result = JobResult()
    if job["kind"] == "file":
        path = job["path"]
        try:
            module = discovery.import_file(path)
        except BaseException as error:  # SystemExit and KeyboardInterrupt included
            where = _error_location(error, prefer=path) or (path, 1)
            message = f"cannot import: {_cause(error)}"
            return JobResult([engine_finding("NNL601", where, message)])
        result.imported = True
        candidates = list(discovery.file_candidates(module))
    else:
        entry = fx.get("models", [])[job["index"]]
        where = entry_location(root, entry)
        try:
            candidates = [discovery.configured_candidate(entry, fx)]
        except discovery.BuildError as error:
            message = f"bad model entry: {error}"
            return JobResult([engine_finding("NNL604", where, message)])
        except BaseException as error:
            place = _error_location(error) or where
            message = f"cannot import: {_cause(error)}"
            return JobResult([engine_finding("NNL601", place, message)])
    for candidate in candidates:
        findings, analysed = _analyze(candidate, fx.get("loss"))
        result.findings.extend(findings)
        result.analysed += analysed
    return result


def _analyze(candidate: Any, default_loss: Any) -> tuple[list[Finding], bool]:
    """Build one candidate and analyse it (findings, whether the graph rules ran);
    the configured loss applies to discovered classes (a factory's own loss wins)."""
    from nnlint.fx.analysis import analyze_traced, engine_finding

    try:
        built = candidate.build()
    except BaseException as error:  # a factory calling sys.exit() included
        where = _error_location(error) or candidate.origin
        message = f"cannot build {candidate.label}: {_cause(error)}"
        return [engine_finding("NNL604", where, message)], False
    if built is None:
        return [], False
    loss = default_loss if built.loss is None else built.loss
    try:
        found, traced = analyze_traced(
            built.model, built.inputs, loss, origin=built.origin
        )
    except Exception as error:  # a graph-mode bug: one finding, the next model runs
        message = f"analysing {candidate.label} failed: {_cause(error)}"
        return [engine_finding("NNL602", built.origin, message)], False
    return found, traced


def _cause(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")[:300]


def _error_location(
    error: BaseException, prefer: str | None = None
) -> tuple[str, int] | None:
    """The user's line where ``error`` was raised: a syntax error's own position, else
    the innermost frame of ``prefer`` (the imported file), else of any user file."""
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        return os.path.abspath(error.filename), error.lineno
    frames = traceback.extract_tb(error.__traceback__)
    library = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))),)
    user = [
        f
        for f in frames
        if not f.filename.startswith("<")
        and not os.path.abspath(f.filename).startswith(library)
        and "site-packages" not in f.filename
        and "importlib" not in f.filename
    ]
    if prefer is not None:
        mine = [
            f for f in user if os.path.abspath(f.filename) == os.path.abspath(prefer)
        ]
        if mine:
            return os.path.abspath(prefer), mine[-1].lineno or 1
    if user:
        return os.path.abspath(user[-1].filename), user[-1].lineno or 1
    return None


def entry_location(root: str, entry: Any) -> tuple[str, int]:
    """The line of ``pyproject.toml`` that names ``entry``'s factory (the one naming
    most of the entry's keys when several do), else line 1."""
    path = os.path.join(root, "pyproject.toml")
    table = {"factory": entry} if isinstance(entry, str) else dict(entry)
    needle = str(table.get("factory", ""))
    best, best_score = 1, -1
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if needle and needle in line:
                    score = sum(key in line for key in table)
                    if score > best_score:
                        best, best_score = number, score
    except OSError:
        pass
    return path, best


if __name__ == "__main__":
    try:
        main()
    except BaseException:  # noqa: BLE001 - a worker bug: say why, then really exit
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
