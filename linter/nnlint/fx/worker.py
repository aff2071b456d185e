"""Graph-mode child process: ``python -m nnlint.fx.worker`` (imports user code).

Reads one JSON request on stdin: ``{"root", "fx", "sys_path", "jobs"}`` where each job
is ``{"kind": "file", "path"}`` or ``{"kind": "entry", "index"}`` (an entry of
``[tool.nnlint.fx] models``). For each job it writes one JSON line ``{"event": "start",
"job": i}`` and, when finished, ``{"event": "done", "job": i, "findings": [...]}`` on
the original stdout; user code's prints go to stderr. The parent enforces the time
limit and turns a crash into a finding for the job that had started.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from typing import IO, Any

from nnlint.findings import Finding


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything user code prints must not corrupt the protocol
    request = json.load(sys.stdin)
    _warm_up()
    _emit(channel, {"event": "ready"})
    for entry in reversed(request.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for index, job in enumerate(request["jobs"]):
        _emit(channel, {"event": "start", "job": index})
        findings = run_job(
            job, request.get("fx", {}), request.get("root") or os.getcwd()
        )
        payload = [finding.to_dict() for finding in findings]
        _emit(channel, {"event": "done", "job": index, "findings": payload})
    return 0


def _warm_up() -> None:
    """Import torch and what fake tensors pull in (``torch._dynamo``): seconds that must
    not count against the first job's time limit."""
    import torch

    from nnlint.fx.analysis import analyze_model

    analyze_model(torch.nn.Linear(2, 2), (torch.zeros(1, 2),))


def _emit(channel: IO[str], message: Mapping[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def run_job(job: Mapping[str, Any], fx: Mapping[str, Any], root: str) -> list[Finding]:
    from nnlint.fx import discovery
    from nnlint.fx.analysis import engine_finding

    if job["kind"] == "file":
        path = job["path"]
        try:
            module = discovery.import_file(path)
        except BaseException as error:  # SystemExit and KeyboardInterrupt included
            where = _error_location(error, prefer=path) or (path, 1)
            return [engine_finding("NNL601", where, f"cannot import: {_cause(error)}")]
        candidates = list(discovery.file_candidates(module))
    else:
        entry = fx.get("models", [])[job["index"]]
        where = entry_location(root, entry)
        try:
            candidates = [discovery.configured_candidate(entry, fx)]
        except discovery.BuildError as error:
            return [engine_finding("NNL604", where, f"bad model entry: {error}")]
        except BaseException as error:
            place = _error_location(error) or where
            return [engine_finding("NNL601", place, f"cannot import: {_cause(error)}")]
    findings: list[Finding] = []
    for candidate in candidates:
        findings.extend(_analyze(candidate, fx.get("loss")))
    return findings


def _analyze(candidate: Any, default_loss: Any) -> list[Finding]:
    """Build one candidate and analyse it; the configured loss applies to discovered
    classes (a factory's own loss, if any, wins)."""
    from nnlint.fx.analysis import analyze_model, engine_finding

    try:
        built = candidate.build()
    except Exception as error:
        where = _error_location(error) or candidate.origin
        message = f"cannot build {candidate.label}: {_cause(error)}"
        return [engine_finding("NNL604", where, message)]
    if built is None:
        return []
    loss = default_loss if built.loss is None else built.loss
    try:
        return analyze_model(built.model, built.inputs, loss, origin=built.origin)
    except Exception as error:  # a graph-mode bug: one finding, the next model runs
        message = f"analysing {candidate.label} failed: {_cause(error)}"
        return [engine_finding("NNL602", built.origin, message)]


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
    sys.exit(main())
