"""The findings cache: keyed by content, path, configuration and nnlint build."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nnlint import api
from nnlint.engine import pipeline
from nnlint.engine.cache import FindingCache, entry_key
from nnlint.engine.config import LintConfig
from nnlint.findings import Finding, Fix

SOURCE = "x = 1  # noqa: NNL101\n"  # one NNL003 (unused suppression) finding


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "m.py").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = FindingCache(tmp_path)
    finding = Finding(
        "m.py", 3, 4, 3, 9, "NNL101", "n", "msg", "warning", Fix("d", True)
    )
    store.put("ab" * 32, [finding])
    (restored,) = store.get("ab" * 32) or []
    assert restored.to_dict() == finding.to_dict()
    assert store.get("cd" * 32) is None


def test_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    store = FindingCache(tmp_path)
    store.put("ef" * 32, [])
    (tmp_path / "ef" / f"{'ef' * 32}.json").write_text("{not json", encoding="utf-8")
    assert store.get("ef" * 32) is None


def test_key_depends_on_content_path_and_config() -> None:
    base = entry_key(b"x", "a.py", "c1")
    assert base == entry_key(b"x", "a.py", "c1")
    assert base != entry_key(b"y", "a.py", "c1")
    assert base != entry_key(b"x", "b.py", "c1")
    assert base != entry_key(b"x", "a.py", "c2")


def test_second_run_is_served_from_the_cache(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = LintConfig()
    first = api.lint_file(project / "m.py", config)
    assert [f.code for f in first] == ["NNL003"]

    def explode(*args: object, **kwargs: object) -> None:
        raise AssertionError("should have been cached")

    monkeypatch.setattr(pipeline, "lint_text", explode)
    assert api.lint_file(project / "m.py", config) == first
    assert api.lint_paths([project], config) == first
    # A different configuration is a different entry.
    with pytest.raises(AssertionError, match="should have been cached"):
        api.lint_file(project / "m.py", LintConfig(ignore=("NNL003",)))


def test_editing_the_file_invalidates(project: Path) -> None:
    config = LintConfig()
    assert len(api.lint_file(project / "m.py", config)) == 1
    (project / "m.py").write_text("x = 1\n", encoding="utf-8")
    assert api.lint_file(project / "m.py", config) == []


def test_cache_false_writes_nothing(project: Path) -> None:
    api.lint_file(project / "m.py", LintConfig(), cache=False)
    assert not (project / "cache").exists()


def test_concurrent_writers_never_expose_partial_entries(tmp_path: Path) -> None:
    store = FindingCache(tmp_path)
    findings = [
        Finding("m.py", i, 1, i, 2, "NNL101", "n", "m" * 500) for i in range(1, 50)
    ]
    errors: list[str] = []

    def write_and_read() -> None:
        for _ in range(30):
            store.put("aa" * 32, findings)
            got = store.get("aa" * 32)
            if got is not None and len(got) != len(findings):
                errors.append("partial entry")

    threads = [threading.Thread(target=write_and_read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not list((tmp_path / "aa").glob("*.tmp"))


def test_read_only_cache_directory_still_lints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(blocker / "cache"))
    (tmp_path / "m.py").write_text(SOURCE, encoding="utf-8")
    assert [f.code for f in api.lint_file(tmp_path / "m.py", LintConfig())] == [
        "NNL003"
    ]
