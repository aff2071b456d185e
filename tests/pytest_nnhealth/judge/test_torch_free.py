"""The judge side runs without torch: importing the judge package, its records and
this directory's test modules leaves ``torch`` out of ``sys.modules``.

Checked in a fresh interpreter: the session's conftest has already imported torch here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_nnhealth.judge

HERE = Path(__file__).parent
JUDGE_DIR = Path(pytest_nnhealth.judge.__file__).parent
REPORT = """
import json, sys
HEAVY = ('torch', 'numpy')
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)))
"""


def _heavy_after(code: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", code + REPORT],
        capture_output=True,
        text=True,
        check=True,
    )
    heavy: list[str] = json.loads(run.stdout.strip().splitlines()[-1])
    return heavy


def test_judge_package_imports_no_torch():
    modules = sorted(p.stem for p in JUDGE_DIR.glob("*.py") if p.stem != "__init__")
    assert {"core", "records", "thresholds", "hints", "order"} <= set(modules)
    code = "\n".join(f"import pytest_nnhealth.judge.{name}" for name in modules)
    assert _heavy_after(code) == []


@pytest.mark.parametrize("name", sorted(p.name for p in HERE.glob("test_*.py")))
def test_judge_test_module_imports_no_torch(name: str):
    path = str(HERE / name)
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('judge_test', {path!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
    )
    assert _heavy_after(code) == []
