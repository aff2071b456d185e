"""Suppression comments: parsing, application, unused-suppression bookkeeping."""

from __future__ import annotations

from nnlint.engine.noqa import apply_suppressions, parse_suppressions, unused_codes
from nnlint.findings import Finding


def _finding(line: int, code: str = "NNL101") -> Finding:
    return Finding("m.py", line, 1, line, 5, code, "name", "message")


def test_codes_bare_and_lists_are_parsed() -> None:
    source = (
        "a = 1  # noqa: NNL101\n"
        "b = 2  # noqa\n"
        "c = 3  # NOQA:NNL101,NNL2 E501\n"
        "d = 4  # noqa: nnl1\n"
    )
    found = parse_suppressions(source)
    assert found.by_line[1].codes == ("NNL101",)
    assert found.by_line[1].column == 8
    assert found.by_line[2].codes is None
    assert found.by_line[3].codes == ("NNL101", "NNL2", "E501")
    assert found.by_line[4].codes == ("NNL1",)


def test_noqa_inside_a_string_is_not_a_comment() -> None:
    source = 'doc = """\nx = 1  # noqa: NNL101\n"""\ny = "# noqa"\n'
    assert parse_suppressions(source).by_line == {}


def test_file_level_directives() -> None:
    found = parse_suppressions("import torch\n# nnlint: noqa: NNL101\nx = 1\n")
    assert [d.codes for d in found.file_level] == [("NNL101",)]
    assert not found.skip_file
    assert parse_suppressions("# nnlint: noqa\n").skip_file
    # Not on its own line: not a file-level directive.
    assert parse_suppressions("x = 1  # nnlint: noqa\n").file_level == []


def test_apply_suppressions_by_line_code_and_prefix() -> None:
    source = (
        "a = 1  # noqa: NNL101\nb = 2  # noqa: NNL1\n"
        "c = 3  # noqa: E501\nd = 4  # noqa\n"
    )
    found = parse_suppressions(source)
    findings = [
        _finding(1),
        _finding(1, "NNL102"),
        _finding(2, "NNL104"),
        _finding(3),
        _finding(4),
    ]
    kept = apply_suppressions(findings, found)
    assert [(f.line, f.code) for f in kept] == [(1, "NNL102"), (3, "NNL101")]
    assert found.by_line[1].used == {"NNL101"}
    assert found.by_line[2].used == {"NNL1"}


def test_file_level_codes_and_skip() -> None:
    found = parse_suppressions("# nnlint: noqa: NNL2\nx = 1\n")
    kept = apply_suppressions([_finding(2, "NNL201"), _finding(2, "NNL101")], found)
    assert [f.code for f in kept] == ["NNL101"]
    skip = parse_suppressions("x = 1\n# nnlint: noqa\n")
    assert apply_suppressions([_finding(1)], skip) == []


def test_unused_codes_only_reports_checked_nnl_codes() -> None:
    found = parse_suppressions("a = 1  # noqa: NNL101, E501, NNL601, NNL102\n")
    apply_suppressions([_finding(1, "NNL102")], found)
    directive = found.by_line[1]
    assert unused_codes(directive, lambda code: not code.startswith("NNL6")) == [
        "NNL101"
    ]
    bare = parse_suppressions("a = 1  # noqa\n").by_line[1]
    assert unused_codes(bare, lambda code: True) == []


def test_comments_before_a_later_tokenizer_error_are_kept() -> None:
    # Tokenizing stops after the last candidate line; what follows (here an
    # unterminated triple-quoted string, a tokenizer error) cannot change the result.
    source = 'a = 1  # noqa: NNL101\nb = """\n# noqa: NNL102\n'
    found = parse_suppressions(source)
    assert list(found.by_line) == [1]
    assert found.by_line[1].codes == ("NNL101",)


def test_a_string_opened_before_the_candidate_line_still_hides_it() -> None:
    source = 'a = """\n# noqa: NNL101\n"""  # noqa: NNL102\n'
    found = parse_suppressions(source)
    assert list(found.by_line) == [3]
    assert found.by_line[3].codes == ("NNL102",)
