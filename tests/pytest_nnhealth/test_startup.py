"""The plugin is cheap to load: nothing heavy is imported unless nnhealth is used
(subprocess runs: the in-process interpreter already has torch)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

HEAVY = ("torch", "matplotlib", "libcst", "rich", "jinja2", "numpy")


def _imported_modules(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    # Lines look like "import time:       123 |        456 |   torch.nn".
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_importing_the_plugin_imports_nothing_heavy():
    modules = _imported_modules("import pytest_nnhealth.plugin.hooks")
    assert "pytest_nnhealth.plugin.hooks" in modules
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []


def test_entry_point_is_registered():
    points = importlib.metadata.entry_points(group="pytest11")
    assert {p.name: p.value for p in points}[
        "nnhealth"
    ] == "pytest_nnhealth.plugin.hooks"


REPORT_HEAVY = """
import sys

def pytest_unconfigure(config):
    heavy = sorted(
        name for name in sys.modules if name.split(".")[0] in {heavy!r}
    )
    sys.stdout.write("HEAVY %r\\n" % heavy)
"""


def test_a_pytest_run_without_nnhealth_imports_nothing_heavy(pytester: pytest.Pytester):
    pytester.makeconftest(REPORT_HEAVY.format(heavy=set(HEAVY)))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.nnhealth(steps=3)
        def test_marked():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*plugins: *nnhealth-*", "HEAVY []"])
