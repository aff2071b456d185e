"""Pre-filter: every rule's bad examples survive it; untriggered statements do not."""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from nnlint.api import lint_text
from nnlint.engine import prefilter
from nnlint.engine.config import LintConfig
from nnlint.engine.lint_source import check_source
from nnlint.engine.pipeline import all_rules
from nnlint.engine.prefilter import select
from nnlint.rules import Rule
from nnlint.rules.engine_rules import is_engine_rule
from nnlint.rules.needs import Needs, construction_calls
from nnlint.rules.nnl201_zero_init_stacked_layers import ZeroInitStackedLayers
from nnlint.rules.nnl202_uninitialised_parameter import UninitialisedParameter
from nnlint.rules.nnl302_self_add_skip import SelfAddSkip
from nnlint.rules.nnl305_inplace_activation_on_skip import InplaceActivationOnSkip

SOURCE_RULES = [rule for rule in all_rules() if not is_engine_rule(rule)]
EXAMPLES = [
    pytest.param(rule, index, id=f"{rule.CODE}-{index}")
    for rule in SOURCE_RULES
    for index in range(len(rule.INVALID))
]


@pytest.mark.parametrize(("rule", "index"), EXAMPLES)
def test_invalid_examples_are_flagged_through_the_full_pruning_path(
    rule: type[Rule], index: int
) -> None:
    example = rule.INVALID[index]
    config = LintConfig(select=(rule.CODE,))
    findings = [
        f for f in lint_text(example.code, "t.py", config) if f.code == rule.CODE
    ]
    assert findings, f"{rule.CODE} example {index} was filtered out"
    if example.line is not None:
        assert (findings[0].line, findings[0].column) == (example.line, example.column)


EVERY_EXAMPLE = [
    pytest.param(rule, code, id=f"{rule.CODE}-{kind}-{index}")
    for rule in SOURCE_RULES
    for kind, codes in (
        ("valid", rule.VALID),
        ("invalid", [example.code for example in rule.INVALID]),
    )
    for index, code in enumerate(codes)
]


@pytest.mark.parametrize(("rule", "source"), EVERY_EXAMPLE)
def test_pruning_changes_no_finding_of_any_example(
    rule: type[Rule], source: str
) -> None:
    # Neither lost findings nor new ones: a rule judging absence ("nothing
    # initialises it") would report more on a pruned file.
    pruned, _ = check_source(source, "t.py", [rule], prune=True)
    whole, _ = check_source(source, "t.py", [rule], prune=False)
    assert pruned == whole


def _needs(rule: type[Rule]) -> Needs:
    assert rule.NEEDS is not None
    return rule.NEEDS


def _hit(rule: type[Rule], source: str) -> bool:
    """Whether the rule's pattern (not its screen, tested apart) picks ``source``."""
    assert rule.NEEDS is not None
    assert rule.NEEDS.pattern is not None
    return bool(select(source, [replace(rule.NEEDS, screen=None)])[1][0])


def _forward(body: str) -> str:
    return "class B(nn.Module):\n    def forward(self, x):\n" + body


@pytest.mark.parametrize(
    "body",
    [
        "        return h + h\n",
        "        h += h\n",
        "        return (h) + (h)\n",
        "        return (h  # the branch\n                + h)\n",
        "        return h \\\n            + h\n",
        "        return torch.relu(x+x)\n",
    ],
)
def test_nnl302_pattern_keeps_a_name_added_to_itself(body: str) -> None:
    assert _hit(SelfAddSkip, _forward(body))


@pytest.mark.parametrize(
    "body",
    [
        "        return x + h\n",
        "        return self.h + h\n",
        "        return h + hh\n",
        "        return 2 * h\n",
    ],
)
def test_nnl302_pattern_drops_other_adds(body: str) -> None:
    assert not _hit(SelfAddSkip, _forward(body))


@pytest.mark.parametrize(
    "body",
    [
        "        self.act = nn.ReLU(inplace = True)\n",
        "        self.act = nn.LeakyReLU(0.2, True)\n",
        "        self.act = nn.ReLU((True))\n",
        "        return F.relu(x, inplace=\\\n            True)\n",
        "        x.relu_ ()\n",
        "        return torch.relu_(x)\n",
        "        x |= y\n",
        "        x @= w\n",
        "        x //= 2\n",
    ],
)
def test_nnl305_pattern_keeps_every_kind_of_inplace_operation(body: str) -> None:
    assert _hit(InplaceActivationOnSkip, _forward(body))


@pytest.mark.parametrize(
    "body",
    [
        "        self.fc = nn.Linear(4, 4, bias=True)\n",
        "        super().__init__()\n",
        "        return x + self.fc(x) if x != y else x <= y\n",
    ],
)
def test_nnl305_pattern_drops_statements_without_inplace_operations(body: str) -> None:
    assert not _hit(InplaceActivationOnSkip, _forward(body))


def test_patterns_are_linear_on_pathological_comments() -> None:
    # Without possessive gaps, comment text made of spaces and ")" backtracks
    # exponentially (one timm file took 37 s).
    source = _forward("        h = x  # " + ") " * 40 + "\n        return y\n") * 50
    start = time.perf_counter()
    assert not _hit(SelfAddSkip, source)
    assert time.perf_counter() - start < 1.0


SOURCE = """import torch
from torch import nn


class Helper(nn.Module):
    def forward(self, x):
        return x * 2


class Block(Helper):
    def forward(self, x):
        h = self.body(x)
        return h + h


class Plain(nn.Module):
    def forward(self, x):
        return x + self.body(x)


def unrelated():
    return 1 + 1
"""


def test_select_drops_unmatched_statements_and_keeps_named_classes() -> None:
    rule = SelfAddSkip
    pruned, hits = select(SOURCE, [_needs(rule)])
    assert hits == [True]
    assert pruned is not None
    assert "class Block(Helper)" in pruned.text
    # Named by the matched statement (its base class): kept for the rule's lookups.
    assert "class Helper(nn.Module)" in pruned.text
    assert "class Plain" not in pruned.text
    assert "def unrelated" not in pruned.text
    assert "from torch import nn" in pruned.text
    # Every kept line maps back to the same text in the source.
    source_lines = SOURCE.splitlines()
    for number, line in enumerate(pruned.text.splitlines(), start=1):
        assert source_lines[pruned.source_line(number) - 1] == line


def test_pruned_and_whole_file_findings_agree() -> None:
    rules = [SelfAddSkip, InplaceActivationOnSkip]
    pruned, _ = check_source(SOURCE, "m.py", rules, prune=True)
    whole, _ = check_source(SOURCE, "m.py", rules, prune=False)
    assert [(f.code, f.line, f.column) for f in pruned] == [("NNL302", 13, 16)]
    assert pruned == whole


class _NeverMatches(Rule):
    CODE = "NNL999"
    NAME = "never-matches"
    MESSAGE = "test rule"
    NEEDS = Needs(("forward",), pattern=re.compile(r"no such text"))
    created = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).created += 1
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def test_rule_whose_pattern_matches_nothing_does_not_run() -> None:
    _NeverMatches.created = 0
    findings, module = check_source(SOURCE, "m.py", [_NeverMatches], prune=True)
    assert (findings, module, _NeverMatches.created) == ([], None, 0)
    check_source(SOURCE, "m.py", [_NeverMatches, SelfAddSkip], prune=True)
    assert _NeverMatches.created == 0


def test_construction_calls_keep_the_statements_building_a_hit_class() -> None:
    source = (
        "class Block:\n"
        "    layer = Linear(1, 2)\n"
        "head = Block(32, 64)\n"
        "other = Thing(1)\n"
        "tail = my.Block(1)\n"
    )
    wanted = Needs(("Linear",), evidence=construction_calls)
    kept, flags = select(source, [wanted])
    assert flags == [True]
    assert kept is not None
    assert kept.text.splitlines() == [
        "class Block:",
        "    layer = Linear(1, 2)",
        "head = Block(32, 64)",
    ]
    # Without the evidence, the construction is not parsed.
    without = select(source, [Needs(("Linear",))])[0]
    assert without is not None
    assert without.text == "class Block:\n    layer = Linear(1, 2)\n"


FACTORIES = """\
from torch import nn
def build(width):
    return nn.Sequential(nn.Linear(width, width), nn.ReLU())
def nested(width):
    class Local(nn.Module):
        pass
    return Local()
class Net(nn.Module):
    pass
"""


def test_classes_only_filter_skips_statements_without_a_class() -> None:
    pruned, hits = select(FACTORIES, [Needs(("nn.",), scope="classes")])
    assert hits == [True]
    assert pruned is not None
    assert pruned.runs == [(1, 1), (2, 4)]  # line 1 is line 1, line 2 is line 4
    assert pruned.text.splitlines() == [
        "from torch import nn",
        "def nested(width):",
        "    class Local(nn.Module):",
        "        pass",
        "    return Local()",
        "class Net(nn.Module):",
        "    pass",
    ]


def test_classes_only_filter_hits_nothing_in_a_file_without_classes() -> None:
    source = "from torch import nn\ndef build():\n    return nn.Linear(1, 1)\n"
    assert select(source, [Needs(("nn.",), scope="classes")]) == (None, [False])


def test_a_backslash_continued_signature_is_one_statement() -> None:
    source = (
        "def cfg(d: int = 1) -> \\\n"
        "Tuple[int, ...]:\n"
        '    """Doc."""\n'
        "    return nn.Linear(d, d)\n"
    )
    pruned, _ = select(source, [Needs(("nn.",))])
    assert pruned is not None
    assert pruned.text == source


APPLIED_INIT = """\
import torch
from torch import nn


def _constant_linears(module):
    if isinstance(module, nn.Linear):
        nn.init.constant_(module.weight, 0.1)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.apply(_constant_linears)


def unrelated_helper():
    return torch.zeros(3)
"""


def test_nnl201_keeps_the_module_level_function_a_class_applies() -> None:
    rules = [ZeroInitStackedLayers]
    pruned, _ = select(APPLIED_INIT, [_needs(rule) for rule in rules])
    assert pruned is not None
    assert "def _constant_linears(module):" in pruned.text
    assert "def unrelated_helper" not in pruned.text
    findings, _ = check_source(APPLIED_INIT, "m.py", rules, prune=True)
    assert [(f.code, f.line, f.column) for f in findings] == [("NNL201", 7, 9)]
    assert findings == check_source(APPLIED_INIT, "m.py", rules, prune=False)[0]


EXPERTS = """\
import torch
from torch import nn


class Experts(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.gate_up = nn.Parameter(torch.empty(n, d, 2 * d))
        self.down = nn.Parameter(
            torch.empty(n, d, d)  # filled by init_experts
        )


def init_experts(model, std):
    nn.init.normal_(model.gate_up, std=std)
"""


def test_nnl202_reads_the_statements_naming_a_created_parameter() -> None:
    # init_experts has no NNL202 trigger; pruning it away used to turn its
    # initialisation into a false alarm on `gate_up`.
    rules = [UninitialisedParameter]
    pruned, _ = select(EXPERTS, [_needs(rule) for rule in rules])
    assert pruned is not None
    assert "def init_experts" in pruned.text
    findings, _ = check_source(EXPERTS, "m.py", rules, prune=True)
    assert [(f.code, f.line, f.column) for f in findings] == [("NNL202", 10, 13)]
    assert findings == check_source(EXPERTS, "m.py", rules, prune=False)[0]


def test_nnl202_reads_everything_when_parameter_is_imported_renamed() -> None:
    source = (
        EXPERTS.replace(
            "from torch import nn\n",
            "from torch import nn\nfrom torch import empty as E\n",
        )
        + "\n\ndef elsewhere(model):\n    model.down.data.normal_()\n"
    )
    rules = [UninitialisedParameter]
    pruned, _ = select(source, [_needs(rule) for rule in rules])
    assert pruned is not None
    assert "def elsewhere" in pruned.text
    assert check_source(source, "m.py", rules, prune=True)[0] == []


SCREENED = """\
from torch import nn


class Base(nn.Module):
    def forward(self, x):
        return x


class Block(Base):
    def forward(self, x):
        return x + x


WIDTHS = [
1, 2]
"""


def _adds(statement: ast.stmt) -> bool:
    return any(isinstance(node, ast.Add) for node in ast.walk(statement))


def test_a_screen_drops_statements_but_keeps_the_classes_the_kept_ones_name() -> None:
    pruned, hits = select(SCREENED, [Needs(("forward",), screen=_adds)])
    assert hits == [True]
    assert pruned is not None
    # Base has no addition, but Block, which the screen keeps, names it as its base.
    assert "class Base(nn.Module)" in pruned.text
    assert "class Block(Base)" in pruned.text
    assert select(SCREENED, [Needs(("Base",), screen=_adds)])[0] is not None
    assert select(SCREENED, [Needs(("return x\n",), screen=_adds)]) == (None, [False])


def test_a_statement_that_does_not_parse_alone_is_kept() -> None:
    # The statement scan splits the list at its column-0 line: neither half parses.
    pruned, hits = select(SCREENED, [Needs(("WIDTHS", "1, 2"), screen=lambda _: False)])
    assert hits == [True]
    assert pruned is not None
    assert "WIDTHS = [\n1, 2]\n" in pruned.text


def test_each_statement_is_parsed_by_ast_once_whichever_rules_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []

    def counting_parse(text: str) -> list[ast.stmt] | None:
        parsed.append(text)
        return ast.parse(text).body

    monkeypatch.setattr(prefilter, "parse_statement", counting_parse)
    asked: list[tuple[str, str]] = []

    def screen(name: str, answer: bool) -> Callable[[ast.stmt], bool]:
        def ask(statement: ast.stmt) -> bool:
            asked.append((name, type(statement).__name__))
            return answer

        return ask

    filters = [
        Needs(("forward",), screen=screen("rejects", False)),
        Needs(("nn", "forward"), screen=screen("keeps", True)),
    ]
    assert select(SCREENED, filters)[1] == [False, True]
    assert sorted(parsed) == sorted(set(parsed))
    # The two classes; the import is kept whatever, so it is neither parsed nor
    # screened.
    assert len(parsed) == 2
    assert sorted(asked) == [
        ("keeps", "ClassDef"),
        ("keeps", "ClassDef"),
        ("rejects", "ClassDef"),
        ("rejects", "ClassDef"),
    ]


def test_a_statement_kept_already_is_not_screened_again() -> None:
    asked: list[str] = []

    def screen(statement: ast.stmt) -> bool:
        asked.append(type(statement).__name__)
        return False

    # The unscreened declaration is applied first, whatever the order given.
    filters = [Needs(("nn",), screen=screen), Needs(("nn",))]
    pruned, flags = select(SCREENED, filters)
    assert flags == [True, True]
    assert asked == []
    assert pruned is not None
    assert "class Base(nn.Module)" in pruned.text
