"""Hostile directory entries, failed writes under --fix, line bookkeeping and the
cache: each is skipped with a message, a finding, or a clear per-file error, and the
user's files stay byte-identical unless a fix was written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nnlint_reliability_helpers import FIXED, SOFTMAX, run, run_process

from nnlint import api
from nnlint.engine import atomic_write
from nnlint.engine.cache import FindingCache, entry_key
from nnlint.engine.config import LintConfig


def _bad_entry(directory: Path, kind: str) -> Path:
    if kind == "dangling-symlink":
        (directory / "gone.py").symlink_to(directory / "nowhere.py")
        return directory / "gone.py"
    if kind == "editor-lock-link":  # what Emacs leaves while a buffer is modified
        (directory / ".#model.py").symlink_to("root@host.1234:1700000000")
        return directory / ".#model.py"
    if kind == "fifo":
        os.mkfifo(directory / "pipe.py")
        return directory / "pipe.py"
    (directory / "pkg.py").mkdir()  # a directory named like a module
    (directory / "pkg.py" / "inner.py").write_text(SOFTMAX)
    return directory / "pkg.py"


@pytest.mark.parametrize(
    "kind", ["dangling-symlink", "editor-lock-link", "fifo", "directory"]
)
def test_bad_directory_entry_is_skipped_and_the_run_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    (tmp_path / "model.py").write_text(SOFTMAX)
    entry = _bad_entry(tmp_path, kind)
    code, out, err = run(capsys, "--output-format", "json", str(tmp_path))
    paths = sorted(Path(f["path"]).name for f in json.loads(out))
    assert code == 1
    if kind == "directory":
        assert (paths, err) == (["inner.py", "model.py"], "")
    else:
        assert paths == ["model.py"]
        assert err.startswith(f"nnlint: skipped {entry}: ")


def test_named_fifo_is_skipped_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "model.py").write_text(SOFTMAX)
    code, _, err = run(capsys, str(tmp_path / "pipe.py"), str(tmp_path / "model.py"))
    assert code == 1
    assert "not a regular file (a named pipe)" in err


def test_unreadable_file_is_skipped_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod 000 does not stop root (these tests run as root in CI): fail the read.
    (tmp_path / "model.py").write_text(SOFTMAX)
    (tmp_path / "secret.py").write_text(SOFTMAX)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, out, err = run(capsys, str(tmp_path))
    assert code == 1
    assert "model.py" in out
    assert "secret.py" not in out
    assert f"skipped {tmp_path / 'secret.py'}: Permission denied" in err


def test_fix_under_file_size_limit_leaves_file_identical(tmp_path: Path) -> None:
    # A real RLIMIT_FSIZE in a child process: the write fails with EFBIG midway.
    target = tmp_path / "model.py"
    target.write_bytes(SOFTMAX.encode() + b"#" * 4000 + b"\n")
    before = target.read_bytes()
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))"
    result = run_process("--fix", "--unsafe-fixes", "model.py", cwd=tmp_path, pre=limit)
    assert result.returncode == 2
    assert target.read_bytes() == before
    error = result.stderr.decode()
    assert "cannot write fixes to model.py: File too large" in error
    assert "internal error" not in error
    assert "Traceback" not in error
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".cache") == [
        "model.py"
    ]


def test_fix_failing_on_one_file_still_fixes_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An immutable file or read-only directory makes the final rename fail (EPERM);
    # root ignores chmod, so the rename is made to fail the same way.
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text(SOFTMAX)
    real = os.replace

    def replace(source: str, target: str | Path) -> None:
        if Path(target).name == "b.py":
            raise PermissionError(1, "Operation not permitted", str(target))
        real(source, target)

    monkeypatch.setattr(atomic_write.os, "replace", replace)
    code, _, err = run(capsys, "--fix", "--unsafe-fixes", str(tmp_path))
    assert code == 2
    assert (tmp_path / "a.py").read_text() == FIXED
    assert (tmp_path / "b.py").read_text() == SOFTMAX
    assert (tmp_path / "c.py").read_text() == FIXED
    assert f"cannot write fixes to {tmp_path / 'b.py'}: Operation not permitted" in err
    assert "internal error" not in err


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_fix_keeps_every_newline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], newline: str
) -> None:
    target = tmp_path / "model.py"
    target.write_bytes(SOFTMAX.replace("\n", newline).encode())
    run(capsys, "--fix", "--unsafe-fixes", str(target))
    assert target.read_bytes() == FIXED.replace("\n", newline).encode()


@pytest.mark.parametrize("odd", ["\f", "\v", "\x1c", "\x85", "\u2028", "\u2029"])
def test_noqa_line_counts_like_the_tokenizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], odd: str
) -> None:
    # str.splitlines() breaks lines at these characters; Python does not.
    text = (
        "import torch.nn.functional as F\n"
        f"s = 'a{odd}b'  # c{odd}d\n"
        f"\f# {odd}\n"  # a form feed is whitespace to Python; the rest only in text
        "y = F.softmax(x)  # noqa: NNL108\n"
        "z = F.softmax(x)\n"
    )
    target = tmp_path / "model.py"
    target.write_text(text, encoding="utf-8", newline="")
    code, out, _ = run(capsys, "--output-format", "json", str(target))
    assert [(f["line"], f["code"]) for f in json.loads(out)] == [(5, "NNL108")]
    run(capsys, "--fix", "--unsafe-fixes", str(target))
    with target.open(encoding="utf-8", newline="") as stream:
        fixed = stream.read()
    assert fixed == text.replace("z = F.softmax(x)", "z = F.softmax(x, dim=-1)")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252"]),
    comment=st.text(
        alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"),
        max_size=20,
    ),
)
# A NUL byte makes Python refuse the file; the fix is still applied (it keeps parsing).
@example(newline="\n", encoding="utf-8", comment="\x00")
def test_fix_round_trips_encodings_and_newlines(
    tmp_path_factory: pytest.TempPathFactory,
    newline: str,
    encoding: str,
    comment: str,
) -> None:
    cookie = "" if encoding.startswith("utf-8") else f"# -*- coding: {encoding} -*-\n"
    body = cookie + f"# {comment}\n" + SOFTMAX
    if encoding == "cp1252":
        body = body.encode("cp1252", "replace").decode("cp1252")
    target = tmp_path_factory.mktemp("enc") / "model.py"
    target.write_bytes(body.replace("\n", newline).encode(encoding))
    from nnlint.cli import main

    assert (
        main(["--no-cache", "--fix", "--unsafe-fixes", "--exit-zero", str(target)]) == 0
    )
    expected = body.replace("F.softmax(x)", "F.softmax(x, dim=-1)")
    assert target.read_bytes() == expected.replace("\n", newline).encode(encoding)


@pytest.mark.parametrize(
    "content",
    [
        '["x"]',
        "{}",
        "[[1]]",
        '[{"path": 1}]',
        "null",
        "{bad json",
        "\xff",
        '[{"fix": 2}]',
    ],
)
def test_cache_entry_of_wrong_shape_is_a_miss_and_rewritten(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "model.py").write_text(SOFTMAX)
    store = FindingCache(tmp_path / "cache")
    config = LintConfig()
    key = entry_key(SOFTMAX.encode(), str(tmp_path / "model.py"), config.fingerprint())
    entry = store._entry(key)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(content.encode("latin-1"))
    os.environ["NNLINT_CACHE_DIR"] = str(tmp_path / "cache")
    try:
        findings = api.lint_paths([tmp_path], config)
    finally:
        del os.environ["NNLINT_CACHE_DIR"]
    assert [f.code for f in findings] == ["NNL108"]
    assert store.get(key) == findings  # rewritten with the real findings


def test_fix_of_a_file_saved_meanwhile_keeps_the_new_save(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor or formatter saves b.py while its fixes are computed: writing the
    fixed old text would throw that save away. b.py keeps the save, is named on
    stderr, exit 2; a.py is still fixed."""
    from nnlint.engine import fixer

    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(SOFTMAX)
    saved = SOFTMAX + "z = 1  # saved by the editor\n"
    real = fixer.fix_text

    def fix_text(text: str, path: str, *args: object, **kwargs: object) -> object:
        if Path(path).name == "b.py":
            (tmp_path / "b.py").write_text(saved)
        return real(text, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fixer, "fix_text", fix_text)
    code, _, err = run(capsys, "--fix", "--unsafe-fixes", str(tmp_path))
    assert code == 2
    assert (tmp_path / "a.py").read_text() == FIXED
    assert (tmp_path / "b.py").read_text() == saved
    assert f"nnlint: {tmp_path / 'b.py'} changed while its fixes were computed" in err


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_nul_byte_is_reported_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], newline: str
) -> None:
    """Python 3.11 rejects NUL bytes with a ValueError that has no position; the
    finding pointed at 1:1 whatever line the byte was on."""
    source = newline.join(["import torch", "", "x = 1\x00", ""])
    (tmp_path / "m.py").write_bytes(source.encode())
    code, out, _ = run(capsys, "--select", "NNL001", "--output-format", "json",
                       str(tmp_path / "m.py"))  # fmt: skip
    assert code == 1
    [finding] = json.loads(out)
    assert (finding["line"], finding["column"]) == (3, 6)
    assert "null bytes" in finding["message"]


def test_diff_of_a_file_removed_after_linting_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--diff reads each fixable file again; one removed meanwhile was an internal
    error (FileNotFoundError) that stopped the diff of the others."""
    from nnlint.cli import check

    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(SOFTMAX)
    real = check.lint_paths

    def lint_then_remove(*args: object, **kwargs: object) -> object:
        findings = real(*args, **kwargs)  # type: ignore[arg-type]
        (tmp_path / "a.py").unlink()
        return findings

    monkeypatch.setattr(check, "lint_paths", lint_then_remove)
    code, out, err = run(capsys, "--diff", "--unsafe-fixes", str(tmp_path))
    assert code == 2
    assert f"nnlint: cannot read {tmp_path / 'a.py'} again: No such file" in err
    assert "internal error" not in err
    assert f"b/{tmp_path / 'b.py'}" in out
