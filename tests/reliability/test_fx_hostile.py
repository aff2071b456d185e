"""Graph mode (``--fx``) against hostile user modules: nothing hangs, nothing is left
running, scripts are never imported, user output never corrupts the results.

Each hostile module is importable (definitions only) and reaches its hostile code
through an import of a helper module, or through the model's constructor: that is how
real code runs things at import without being a script.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from nnlint.fx.subprocess_runner import run_graph  # noqa: E402

# A model graph mode builds and flags (NNL611, silent broadcast on line 11).
MODEL = """\
import torch
from torch import nn
{imports}

class Net(nn.Module):
    example_input_array = torch.zeros(2, 8)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4){init}

    def forward(self, x):
        return self.fc(x) + torch.zeros(2, 1).view(-1)
"""
MODEL_LINE = 13
# A helper run at import: it records its pid and starts a grandchild that records its
# own pid, then (optionally) blocks.
SPAWNER = """\
import os, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "worker.pid"), "w") as f:
    f.write(str(os.getpid()))
code = "import os, time; open('child.pid', 'w').write(str(os.getpid()))"
code += "; time.sleep(300)"
subprocess.Popen([sys.executable, "-c", code], cwd=here)
while not os.path.exists(os.path.join(here, "child.pid")):
    time.sleep(0.05)
{block}
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _model(imports: str = "", init: str = "") -> str:
    return MODEL.format(imports=imports, init=init)


def _gone(pid: int, within: float = 5.0) -> bool:
    """``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _running_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory`` (the worker and what
    it started all run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == directory.resolve():
                if not _gone(int(entry.name), within=0):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _pids(directory: Path) -> list[int]:
    return [int((directory / name).read_text()) for name in ("worker.pid", "child.pid")]


def _graph(directory: Path, **fx: object):  # type: ignore[no-untyped-def]
    return run_graph([str(directory)], {"fx": {"timeout": 30, **fx}, "root": directory})


def test_non_daemon_thread_at_import_does_not_hang(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "forever.py",
        "import threading, time\n"
        "threading.Thread(target=lambda: time.sleep(3600), daemon=False).start()\n",
    )
    _write(tmp_path, "net.py", _model(imports="import forever"))
    started = time.monotonic()
    run = _graph(tmp_path)
    assert time.monotonic() - started < 25  # well under the 30 s job limit
    assert [(f.code, f.line) for f in run.findings] == [("NNL611", MODEL_LINE)]
    assert (run.files_imported, run.analysed) == (1, 1)
    assert _running_in(tmp_path) == []


def test_grandchild_is_killed_with_the_group(tmp_path: Path) -> None:
    _write(tmp_path, "spawner.py", SPAWNER.format(block=""))
    _write(tmp_path, "net.py", _model(imports="import spawner"))
    started = time.monotonic()
    run = _graph(tmp_path)
    assert time.monotonic() - started < 25
    assert [(f.code, f.line) for f in run.findings] == [("NNL611", MODEL_LINE)]
    worker, child = _pids(tmp_path)
    assert (_gone(worker), _gone(child)) == (True, True)
    assert _running_in(tmp_path) == []


def test_timeout_kills_the_group_and_reports_once_per_file(tmp_path: Path) -> None:
    _write(tmp_path, "spawner.py", SPAWNER.format(block="time.sleep(600)"))
    _write(tmp_path, "net.py", _model(imports="import spawner"))
    _write(tmp_path, "other.py", _model())
    run = _graph(tmp_path, timeout=3)
    found = [(Path(f.path).name, f.code, f.severity) for f in run.findings]
    assert found == [
        ("net.py", "NNL603", "info"),
        ("other.py", "NNL611", "error"),
    ]
    assert "within 3 s" in run.findings[0].message
    assert run.timed_out == 1
    worker, child = _pids(tmp_path)
    assert (_gone(worker), _gone(child)) == (True, True)
    assert _running_in(tmp_path) == []


def _blocked_graph_run(
    tmp_path: Path, sigint: Any = signal.SIG_DFL
) -> subprocess.Popen[bytes]:
    """``nnlint --fx`` started with SIGINT at ``sigint`` (a process inherits its
    parent's ignored signals: a background job of a non-interactive shell ignores
    SIGINT), once its worker and the worker's grandchild are running."""
    _write(tmp_path, "spawner.py", SPAWNER.format(block="time.sleep(600)"))
    _write(tmp_path, "net.py", _model(imports="import spawner"))
    _write(tmp_path, "pyproject.toml", "[tool.nnlint.fx]\ntimeout = 300\n")
    command = [sys.executable, "-m", "nnlint", "--fx", "--no-cache", "."]
    nnlint = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    deadline = time.monotonic() + 120
    # A pid file exists before its number is written: wait for the number.
    while not all(
        (tmp_path / name).exists() and (tmp_path / name).read_text().strip()
        for name in ("worker.pid", "child.pid")
    ):
        assert (time.monotonic() < deadline, nnlint.poll()) == (True, None)
        time.sleep(0.1)
    return nnlint


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_nnlint_kills_the_worker_group(tmp_path: Path, signum: int) -> None:
    nnlint = _blocked_graph_run(tmp_path)
    worker, child = _pids(tmp_path)
    nnlint.send_signal(signum)
    _, stderr = nnlint.communicate(timeout=20)
    assert nnlint.returncode in (-signum, 2), stderr
    assert b"Traceback" not in stderr
    assert (_gone(worker), _gone(child)) == (True, True)
    assert _running_in(tmp_path) == []


def test_an_ignored_sigint_stops_nothing(tmp_path: Path) -> None:
    """Under ``nohup`` or in a background job SIGINT is ignored: it must neither kill
    the worker (which a crash finding would then report) nor end nnlint."""
    nnlint = _blocked_graph_run(tmp_path, sigint=signal.SIG_IGN)
    worker, child = _pids(tmp_path)
    nnlint.send_signal(signal.SIGINT)
    assert (_gone(worker, within=2.0), nnlint.poll()) == (False, None)
    nnlint.send_signal(signal.SIGTERM)
    _, stderr = nnlint.communicate(timeout=20)
    assert nnlint.returncode in (-signal.SIGTERM, 2), stderr
    assert (_gone(worker), _gone(child)) == (True, True)
    assert _running_in(tmp_path) == []


SCRIPTS = {
    "call_assignment": "model = train(Net())\n",
    "call_statement": "train(Net())\n",
    "loop": "for _ in range(3):\n    pass\n",
    "with_block": "with open(__file__):\n    pass\n",
    "local_decorator": "def register(cls):\n    train(cls())\n    return cls\n\n"
    "@register\nclass Other(nn.Module):\n    pass\n",
    "default_argument": "def make(model=train(Net())):\n    return model\n",
    "init_subclass": "class Base(nn.Module):\n    def __init_subclass__(cls):\n"
    "        train(cls())\n\nclass Child(Base):\n    pass\n",
    "local_metaclass": "class Meta(type):\n    pass\n\n"
    "class Other(metaclass=Meta):\n    pass\n",
    "class_body_call": "class Other(nn.Module):\n    trained = train(Net())\n",
    "builtin_call": "print(train)\n",
}
DEFINITIONS = {
    "main_guard": 'if __name__ == "__main__":\n    train(Net())\n',
    "library_decorators": "import dataclasses\n\n@dataclasses.dataclass\nclass Cfg:\n"
    "    width: int = 8\n\n@torch.no_grad()\ndef score(x=None):\n    return x\n",
    "helpers": "import functools, logging\nLOG = logging.getLogger(__name__)\n"
    "__all__ = ['Net']\nNORM = functools.partial(nn.LayerNorm, eps=1e-6)\n"
    "WIDTH: int = 2 * 4\n",
    "guarded_import": "try:\n    import numpy as np\nexcept ImportError:\n"
    "    np = None\n",
    "property_setter": "class Box:\n    @property\n    def v(self):\n"
    "        return 1\n\n    @v.setter\n    def v(self, value):\n        pass\n",
}
PREFIX = (
    "import torch\nfrom torch import nn\n\n\n"
    "class Net(nn.Module):\n    example_input_array = torch.zeros(1, 2)\n\n\n"
    "def train(model):\n    open(__file__ + '.ran', 'w').close()\n"
    "    return model\n\n\n"
)


def test_scripts_are_never_imported_and_definitions_are(tmp_path: Path) -> None:
    from nnlint.fx.planning import plan

    for name, tail in {**SCRIPTS, **DEFINITIONS}.items():
        _write(tmp_path, f"{name}.py", PREFIX + tail)
    chosen = plan([tmp_path], {"fx": {}, "root": tmp_path})
    assert sorted(p.stem for p in chosen.scripts) == sorted(SCRIPTS)
    assert sorted(p.stem for p in chosen.files) == sorted(DEFINITIONS)


def test_a_script_file_is_not_run(tmp_path: Path) -> None:
    script = _write(tmp_path, "script.py", PREFIX + SCRIPTS["call_assignment"])
    run = _graph(tmp_path)
    assert not Path(f"{script}.ran").exists()
    assert (run.scripts, run.files, run.analysed, run.findings) == (1, 0, 0, [])


NOISE = """
        import os, sys
        junk = b'{"event": "finished"}\\n{"event": "done", "job": 0}\\n\\xff\\xfe\\n'
        for fd in (1, 2):
            os.write(fd, junk * 2000)
        print('{"event": "finished"}')
        print('{"event": "done", "job": 0, "findings": []}', file=sys.stderr)"""


def test_user_output_cannot_corrupt_the_results(tmp_path: Path) -> None:
    _write(tmp_path, "net.py", _model(imports="import os, sys", init=NOISE))
    _write(tmp_path, "second.py", _model())
    run = _graph(tmp_path)
    found = sorted((Path(f.path).name, f.code, f.line) for f in run.findings)
    noisy_line = MODEL_LINE + NOISE.count("\n")
    assert found == [("net.py", "NNL611", noisy_line), ("second.py", "NNL611", 13)]
    assert (run.files_imported, run.analysed) == (2, 2)


def test_worker_memory_is_capped(tmp_path: Path) -> None:
    """4 GiB asked for under a 1 GiB cap: a clear build failure, not a swapping
    machine or a killed run."""
    _write(tmp_path, "net.py", _model(init="\n        self.big = torch.empty(2**30)"))
    run = _graph(tmp_path, memory_mb=1024)
    [finding] = run.findings
    assert finding.code == "NNL604"
    assert "memory" in finding.message.lower()
    assert run.analysed == 0


def test_cli_fx_json_output_is_clean_under_noise(tmp_path: Path) -> None:
    """The CLI's JSON on stdout holds only findings, whatever the model prints."""
    _write(tmp_path, "net.py", _model(imports="import os, sys", init=NOISE))
    command = [sys.executable, "-m", "nnlint", "--fx", "--select", "NNL6"]
    command += ["--output-format", "json", "--no-cache", "net.py"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=180)
    assert done.returncode == 1, done.stderr
    found = [(f["path"], f["code"]) for f in json.loads(done.stdout)]
    assert found == [("net.py", "NNL611")]
