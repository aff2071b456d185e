"""``pytest --nnhealth`` lints every collected file that imports torch (real nnlint)."""

from __future__ import annotations

import nnhealth_plugin_helpers  # noqa: F401  (loads libcst and the rules before pytester)
import pytest

from pytest_nnhealth.plugin.lint_items import imports_torch

SOFTMAX_INTO_CE = """
import torch
import torch.nn.functional as F


def loss(logits, target):
    probs = F.softmax(logits, dim=-1)
    return F.cross_entropy(probs, target)
"""

CLEAN = """
from torch import nn


class Net(nn.Module):
    def forward(self, x):
        return x
"""


@pytest.mark.parametrize(
    "source",
    [
        "import torch\n",
        "import torch.nn as nn\n",
        "from torch import nn\n",
        "from torch.nn import functional as F\n",
        "import os, torch\n",
        "def f():\n    import torch\n",
    ],
)
def test_torch_imports_are_recognised(source):
    assert imports_torch(source.encode())


@pytest.mark.parametrize(
    "data",
    [b"\xef\xbb\xbfimport torch\r\nx = 1\r\n", b"x = 1\rimport torch\ry = 2\r"],
    ids=["byte-order mark", "CR-only newlines"],
)
def test_torch_imports_after_a_bom_or_a_lone_cr_are_recognised(data):
    assert imports_torch(data)


@pytest.mark.parametrize(
    "source",
    [
        "import torchvision\n",
        "from torchvision import models\n",
        "# import torch\n",
        "x = 'import torch'\n",
        "import numpy\n",
    ],
)
def test_other_text_is_not_a_torch_import(source):
    assert not imports_torch(source.encode())


def _project(pytester: pytest.Pytester, nnlint: str = "") -> None:
    pytester.makepyprojecttoml(f"[tool.nnlint]\n{nnlint}")
    pytester.makepyfile(
        bad_loss=SOFTMAX_INTO_CE,
        clean_net=CLEAN,
        plain="x = 1\n",
        test_things="def test_ok():\n    pass\n",
    )


def test_one_item_per_torch_file_only_with_nnhealth(pytester: pytest.Pytester):
    _project(pytester)
    result = pytester.runpytest("--nnhealth", "--co", "-q")
    result.stdout.fnmatch_lines(
        ["bad_loss.py::nnlint", "clean_net.py::nnlint", "test_things.py::test_ok"]
    )
    assert "plain.py" not in result.stdout.str()
    result = pytester.runpytest("--co", "-q")
    assert "nnlint" not in result.stdout.str()


def test_failure_shows_nnlint_text_output(pytester: pytest.Pytester):
    _project(pytester)
    result = pytester.runpytest("--nnhealth", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ nnlint bad_loss.py _*",
            "bad_loss.py:6:13: NNL101 Softmax output is passed to a cross-entropy*",
            "6 |     probs = F.softmax(logits, dim=-1)",
            "  |             ^^^^^^^^^^^^^^^^^^^^^^^^^ softmax-before-cross-entropy",
            "Found 1 finding.",
            "FAILED bad_loss.py::nnlint - bad_loss.py:6:13: NNL101 *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_project_nnlint_config_applies(pytester: pytest.Pytester):
    _project(pytester, nnlint='ignore = ["NNL101"]')
    result = pytester.runpytest("--nnhealth", "-k", "nnlint")
    result.assert_outcomes(passed=2)


def test_bad_nnlint_config_is_a_clear_item_failure(pytester: pytest.Pytester):
    _project(pytester, nnlint="selekt = []")
    result = pytester.runpytest("--nnhealth", "-k", "nnlint")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["nnlint configuration error: *unknown key(s) selekt*"])


@pytest.mark.parametrize("nnlint", ["select = []", 'select = ["NNL601"]'])
def test_a_selection_that_runs_no_rule_fails_the_items(
    pytester: pytest.Pytester, nnlint: str
):
    """Items linted with no rule (or graph rules only, which lint items do not run)
    passed, checking nothing; the CLI refuses the same selection."""
    _project(pytester, nnlint=nnlint)
    result = pytester.runpytest("--nnhealth", "-k", "nnlint")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["nnlint configuration error: the selection enables*"])


def test_lint_items_can_be_turned_off_and_deselected(pytester: pytest.Pytester):
    _project(pytester)
    result = pytester.runpytest("--nnhealth", "-m", "not nnlint")
    result.assert_outcomes(passed=1, deselected=2)
    pytester.makeini("[pytest]\nnnhealth_lint = false\n")
    result = pytester.runpytest("--nnhealth")
    result.assert_outcomes(passed=1)


def test_results_are_cached_by_content(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    _project(pytester)
    cache = pytester.path / "lint-cache"
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(cache))
    pytester.runpytest("--nnhealth", "-k", "nnlint").assert_outcomes(passed=1, failed=1)
    entries = sorted(path.name for path in cache.rglob("*.json"))
    assert len(entries) == 2
    pytester.runpytest("--nnhealth", "-k", "nnlint").assert_outcomes(passed=1, failed=1)
    assert sorted(path.name for path in cache.rglob("*.json")) == entries
    (pytester.path / "bad_loss.py").write_text(
        SOFTMAX_INTO_CE.replace("F.softmax(logits, dim=-1)", "logits")
    )
    pytester.runpytest("--nnhealth", "-k", "nnlint").assert_outcomes(passed=2)
    assert len(list(cache.rglob("*.json"))) == 3
