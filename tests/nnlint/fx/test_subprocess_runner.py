"""Graph mode in a child process: import errors, crashes and hangs become one finding
each (never a traceback), and the remaining files are still analysed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nnlint.fx import run_graph_mode
from nnlint.fx.planning import candidate_files, entry_selected, settings

pytest.importorskip("torch")

GOOD = """\
import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.example_input_array = torch.zeros(2, 8)
        print("constructed")  # user output must not corrupt the protocol

    def forward(self, x):
        bias = torch.zeros(2, 1)
        return self.fc(x) * bias.view(-1)
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_failures_become_findings_and_other_files_still_run(tmp_path: Path) -> None:
    _write(tmp_path, "a_good.py", GOOD)
    _write(
        tmp_path,
        "b_import_error.py",
        "import torch\nimport not_a_real_module_xyz\n\nclass A:\n    pass\n",
    )
    # Importable modules (definitions only) whose imports run hostile code.
    _write(tmp_path, "crash_helper.py", "import os\nos._exit(3)\n")
    _write(tmp_path, "c_crash.py", "import torch, crash_helper\nclass A:\n    pass\n")
    _write(tmp_path, "hang_helper.py", "import time\ntime.sleep(600)\n")
    _write(tmp_path, "d_hang.py", "import torch, hang_helper\nclass A:\n    pass\n")
    _write(tmp_path, "e_good_again.py", GOOD)
    _write(tmp_path, "f_script.py", "import torch\nclass A:\n    pass\nA().train()\n")
    _write(
        tmp_path,
        "g_untraceable.py",
        """\
        import torch
        from torch import nn


        class Gate(nn.Module):
            example_input_array = torch.zeros(2, 3)

            def forward(self, x):
                if x.sum() > 0:
                    return x
                return -x
        """,
    )
    found = run_graph_mode([str(tmp_path)], {"fx": {"timeout": 6}, "root": tmp_path})
    by_file = {(Path(f.path).name, f.code, f.line) for f in found}
    assert by_file == {
        ("a_good.py", "NNL611", 14),
        ("b_import_error.py", "NNL601", 2),
        ("c_crash.py", "NNL602", 1),
        ("d_hang.py", "NNL603", 1),
        ("e_good_again.py", "NNL611", 14),
        ("g_untraceable.py", "NNL600", 9),
    }
    messages = {Path(f.path).name: f.message for f in found}
    assert "not_a_real_module_xyz" in messages["b_import_error.py"]
    assert "exited with status 3" in messages["c_crash.py"]
    assert "within 6 s" in messages["d_hang.py"]
    assert all("Traceback" not in f.message for f in found)


def test_configured_models(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    _write(package, "__init__.py", "")
    _write(
        package,
        "models.py",
        """\
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self, width=4):
                super().__init__()
                self.fc = nn.Linear(8, width)
                self.act = nn.Softmax(dim=-1)

            def forward(self, x):
                return self.act(self.fc(x))


        def make():
            batch = (torch.zeros(3, 8), torch.zeros(3, dtype=torch.long))
            return Net(), batch, nn.CrossEntropyLoss()


        def broken():
            raise RuntimeError("factory exploded")
        """,
    )
    pyproject = _write(
        tmp_path,
        "pyproject.toml",
        """\
        [tool.nnlint.fx]
        models = [
            "pkg.models:make",
            {factory = "pkg.models:Net", shapes = [[2, 8]], loss = "CrossEntropyLoss"},
            "pkg.models:broken",
            "pkg.missing:make",
            {factory = "pkg.models:Net", colour = "red"},
        ]
        """,
    )
    import tomllib

    fx = tomllib.loads(pyproject.read_text())["tool"]["nnlint"]["fx"]
    found = run_graph_mode([str(tmp_path)], {"fx": fx, "root": tmp_path})
    summary = sorted((Path(f.path).name, f.line, f.code) for f in found)
    assert summary == [
        ("models.py", 12, "NNL610"),
        ("models.py", 21, "NNL604"),
        ("pyproject.toml", 6, "NNL601"),
        ("pyproject.toml", 7, "NNL604"),
    ]
    assert any("factory exploded" in f.message for f in found)
    assert any("colour" in f.message for f in found)


def test_candidate_files(tmp_path: Path) -> None:
    _write(tmp_path, "marker.py", "class A:\n    example_input_array = 1\n")
    _write(tmp_path, "no_torch.py", "class A:\n    pass\n")
    definitions = (
        '"""Doc."""\nimport torch\ntry:\n    import x\nexcept ImportError:\n'
        "    x = None\nclass Net(torch.nn.Module):\n    pass\n"
        "if __name__ == '__main__':\n    train()\n"
    )
    _write(tmp_path, "definitions.py", definitions)
    _write(tmp_path, "script.py", "import torch\nclass A:\n    pass\ntrain(A())\n")
    _write(
        tmp_path,
        "loop.py",
        "import torch\nclass A:\n    pass\nfor i in []:\n    pass\n",
    )
    _write(tmp_path, "test_models.py", "class A:\n    example_input_array = 1\n")
    _write(tmp_path, "broken.py", "import torch\nclass A(:\n")
    hidden = tmp_path / ".venv"
    hidden.mkdir()
    _write(hidden, "also.py", "class A:\n    example_input_array = 1\n")
    found = [p.name for p in candidate_files([tmp_path])]
    assert found == ["definitions.py", "marker.py"]


def test_entries_run_only_for_linted_paths(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    _write(tmp_path / "pkg", "models.py", "")
    _write(tmp_path, "other.py", "")
    entry = {"factory": "pkg.models:make"}
    assert entry_selected(entry, [tmp_path], tmp_path, {})
    assert entry_selected(entry, [tmp_path / "pkg" / "models.py"], tmp_path, {})
    assert not entry_selected(entry, [tmp_path / "other.py"], tmp_path, {})


def test_settings_accept_lint_config_and_mappings(tmp_path: Path) -> None:
    from nnlint.engine.config import LintConfig

    assert settings(LintConfig(fx={"timeout": 5}, root=tmp_path)) == (
        {"timeout": 5},
        tmp_path.resolve(),
    )
    assert settings({"timeout": 7})[0] == {"timeout": 7}


def test_bad_timeout_is_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path, "m.py", "class A:\n    example_input_array = 1\n")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        run_graph_mode([str(tmp_path)], {"fx": {"timeout": "soon"}, "root": tmp_path})


@pytest.mark.parametrize(
    ("fx", "match"),
    [
        ({"timout": 5}, "unknown key"),
        ({"models": "pkg:make"}, "models must be a list"),
        ({"timeout": 0}, "positive number"),
        ({"timeout": float("inf")}, "positive number"),
        ({"timeout": float("nan")}, "positive number"),
        ({"models": [3]}, "models entries must be strings"),
        ({"memory_mb": -1}, "memory_mb must be a whole number"),
        ({"memory_mb": 1.5}, "memory_mb must be a whole number"),
    ],
)
def test_bad_fx_table_is_a_config_error(
    tmp_path: Path, fx: dict[str, object], match: str
) -> None:
    from nnlint.engine.config import ConfigError

    _write(tmp_path, "m.py", "class A:\n    example_input_array = 1\n")
    with pytest.raises(ConfigError, match=match):
        run_graph_mode([str(tmp_path)], {"fx": fx, "root": tmp_path})


def test_cli_fx_end_to_end_with_noqa(tmp_path: Path) -> None:
    """``nnlint --fx``: graph findings in the JSON output, exit 1; ``# noqa`` on the
    reported line suppresses them like source findings."""
    import json
    import subprocess
    import sys

    body = (
        "import torch\nfrom torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    example_input_array = torch.zeros(2, 8)\n\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 4)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x) + torch.zeros(2, 1).view(-1){noqa}\n"
    )
    _write(tmp_path, "pyproject.toml", "[tool.nnlint.fx]\ntimeout = 60\n")
    net = _write(tmp_path, "net.py", body.format(noqa=""))
    command = [sys.executable, "-m", "nnlint", "--fx", "--select", "NNL6"]
    command += ["--output-format", "json", "net.py"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    found = [(f["path"], f["line"], f["code"]) for f in json.loads(done.stdout)]
    assert found == [("net.py", 13, "NNL611")]
    net.write_text(body.format(noqa="  # noqa: NNL611"), encoding="utf-8")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, json.loads(done.stdout)) == (0, [])
