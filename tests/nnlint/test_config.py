"""``[tool.nnlint]`` loading and rule selection semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlint.engine.config import ConfigError, LintConfig, config_from_table, load_config


def _write(directory: Path, text: str) -> Path:
    (directory / "pyproject.toml").write_text(text, encoding="utf-8")
    return directory


def test_defaults_select_every_nnl_code() -> None:
    config = LintConfig()
    assert config.is_enabled("NNL101")
    assert config.is_enabled("NNL001")


@pytest.mark.parametrize(
    ("select", "ignore", "extend", "code", "enabled"),
    [
        (("NNL1",), (), (), "NNL101", True),
        (("NNL1",), (), (), "NNL201", False),
        (("NNL",), ("NNL1",), (), "NNL101", False),
        (("NNL",), ("NNL1",), (), "NNL201", True),
        # A more specific selector wins over a less specific ignore in the same layer.
        (("NNL101",), ("NNL1",), (), "NNL101", True),
        (("NNL1",), ("NNL101",), (), "NNL101", False),
        (("NNL2",), (), ("NNL101",), "NNL101", True),
        (("ALL",), ("NNL00",), (), "NNL003", False),
        (("ALL",), ("NNL00",), (), "NNL501", True),
    ],
)
def test_selection(
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend: tuple[str, ...],
    code: str,
    enabled: bool,
) -> None:
    config = LintConfig(select=select, ignore=ignore, extend_select=extend)
    assert config.is_enabled(code) is enabled


def test_command_line_layer_overrides_config() -> None:
    config = LintConfig(ignore=("NNL101",))
    assert not config.is_enabled("NNL101")
    assert config.with_overrides(select=["nnl101"]).is_enabled("NNL101")
    assert not config.with_overrides(ignore=["NNL2"]).is_enabled("NNL201")
    assert config.with_overrides(extend_select=["NNL101"]).is_enabled("NNL101")
    assert config.with_overrides() is config


def test_invalid_selector_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid rule selector 'E501'"):
        LintConfig().with_overrides(select=["E501"])


def test_load_config_finds_nearest_pyproject(tmp_path: Path) -> None:
    _write(
        tmp_path,
        '[tool.nnlint]\nselect = ["NNL1"]\nignore = ["NNL102"]\n'
        '[tool.nnlint.per-file-ignores]\n"tests/*" = ["NNL101"]\n'
        '[tool.nnlint.fx]\nfactories = ["pkg.models:make"]\n',
    )
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    config = load_config(nested)
    assert config.root == tmp_path
    assert config.select == ("NNL1",)
    assert config.fx == {"factories": ["pkg.models:make"]}
    assert not config.is_enabled("NNL102")
    assert config.applies("NNL101", str(tmp_path / "src" / "model.py"))
    assert not config.applies("NNL101", str(tmp_path / "tests" / "test_model.py"))
    assert not config.applies("NNL101", "tests/deep/test_model.py")


def test_per_file_ignores_pattern_without_slash_matches_file_name() -> None:
    config = config_from_table(
        {"per-file-ignores": {"conftest.py": ["NNL"]}}, root=Path("/p")
    )
    assert config.is_ignored_for("NNL101", "/p/a/b/conftest.py")
    assert not config.is_ignored_for("NNL101", "/p/a/b/model.py")


def test_without_pyproject_defaults_apply(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.select == ("NNL",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.nnlint]\nselct = ['NNL1']\n", "unknown key"),
        ("[tool.nnlint]\nselect = 'NNL1'\n", "'select' must be a list of rule codes"),
        ("[tool.nnlint]\nignore = [1]\n", "'ignore' must be a list"),
        ("[tool.nnlint]\nselect = ['F401']\n", "invalid rule selector 'F401'"),
        (
            "[tool.nnlint]\nper-file-ignores = ['x']\n",
            "'per-file-ignores' must be a table",
        ),
        ("[tool.nnlint]\nfx = 3\n", "'fx' must be a table"),
        ("[tool.nnlint\n", "cannot read"),
    ],
)
def test_bad_configuration_is_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_fingerprint_changes_with_selection() -> None:
    assert LintConfig().fingerprint() == LintConfig().fingerprint()
    assert LintConfig().fingerprint() != LintConfig(ignore=("NNL1",)).fingerprint()


def test_per_file_ignores_match_paths_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tests").mkdir()
    config = config_from_table(
        {"per-file-ignores": {"tests/*": ["NNL1"]}}, root=tmp_path
    )
    monkeypatch.chdir(tmp_path / "tests")
    assert config.is_ignored_for("NNL101", "test_model.py")
    assert config.is_ignored_for("NNL101", "./test_model.py")
    assert not config.is_ignored_for("NNL101", "../model.py")
