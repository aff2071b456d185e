"""Loss-wiring rules (NNL101-NNL108): data flow and fixes beyond the rules' examples."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from nnlint.analysis import dataflow
from nnlint.engine.fixer import apply_fixes
from nnlint.engine.lint_source import lint_module
from nnlint.rules import Rule, all_rules, rule_by_code

LOSS_RULES = [rule for rule in all_rules() if rule.CODE.startswith("NNL1")]


def _rules(codes: tuple[str, ...]) -> list[type[Rule]]:
    found = [rule_by_code(code) for code in codes]
    assert all(found), codes
    return [rule for rule in found if rule is not None]


def positions(source: str, *codes: str) -> list[tuple[str, int, int]]:
    """(code, line, column) of every finding of ``codes`` (all NNL1xx if none given)."""
    module = cst.parse_module(textwrap.dedent(source))
    rules = _rules(codes) if codes else LOSS_RULES
    return [(f.code, f.line, f.column) for f in lint_module(module, "t.py", rules)]


def fixed(source: str, code: str) -> str:
    """``source`` with ``code``'s fixes applied (unsafe too), checked idempotent."""
    module = cst.parse_module(textwrap.dedent(source))
    rules = _rules((code,))
    result = apply_fixes(module, lint_module(module, "t.py", rules), unsafe=True)
    again = lint_module(cst.parse_module(result), "t.py", rules)
    assert all(finding.fix is None for finding in again)
    return result


# -- data-flow paths -------------------------------------------------------------------
def test_nnl1_local_variable_chain_with_reshapes_reaches_the_loss() -> None:
    source = """\
        import torch
        from torch.nn.functional import cross_entropy

        def step(scores, labels):
            dist = torch.softmax(scores, dim=-1)
            flat = dist.view(-1, 7).float()
            return cross_entropy(flat, labels.view(-1))
        """
    assert positions(source) == [("NNL101", 5, 12)]


def test_nnl1_sequential_tail_held_on_self_reaches_a_loss_in_another_method() -> None:
    source = """\
        import torch.nn as tnn

        class Lit(tnn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = tnn.Sequential(
                    tnn.Linear(4, 4),
                    tnn.Softmax(dim=-1),
                    tnn.Dropout(0.2),
                )
                self.crit = tnn.CrossEntropyLoss()

            def forward(self, x):
                return self.backbone(x)

            def training_step(self, batch):
                x, y = batch
                return self.crit(self(x), y)
        """
    assert positions(source) == [("NNL101", 8, 13)]


def test_nnl1_self_attribute_modules_feed_cross_entropy_and_nll() -> None:
    source = """\
        from torch import nn
        from torch.nn import functional as fn

        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(3, 3)
                self.soft = nn.Softmax(dim=1)
                self.logsoft = nn.LogSoftmax(dim=1)

            def loss_a(self, x, y):
                return fn.cross_entropy(self.soft(self.lin(x)), y)

            def loss_b(self, x, y):
                return fn.cross_entropy(self.logsoft(self.lin(x)), y)
        """
    assert positions(source) == [("NNL101", 12, 33), ("NNL102", 15, 33)]


def test_nnl1_returned_tuple_unpacked_and_indexed_and_dict_returns() -> None:
    source = """\
        import torch
        import torch.nn.functional as F

        class Pair(torch.nn.Module):
            def forward(self, x):
                z = x + 1
                return z, F.softmax(z, dim=1)

        class Keyed(torch.nn.Module):
            def forward(self, x):
                return {"logits": x * 2, "probs": x.sigmoid()}

        pair = Pair()

        def step(x, y):
            logits, probs = pair(x)
            ok = F.cross_entropy(logits, y)
            bad = F.cross_entropy(pair(x)[1], y)
            out = Keyed()(x)
            worse = F.binary_cross_entropy_with_logits(out["probs"], y)
            fine = F.binary_cross_entropy_with_logits(out["logits"], y)
            return ok + bad + worse + fine
        """
    assert positions(source) == [("NNL101", 7, 19), ("NNL105", 11, 43)]


def test_nnl1_model_defined_in_file_reaches_criterion_in_a_training_loop() -> None:
    source = """\
        import torch
        import torch.nn as tnn

        class Mlp(tnn.Module):
            def __init__(self):
                super().__init__()
                self.fc = tnn.Linear(2, 2)

            def forward(self, x):
                return torch.softmax(self.fc(x), 1)

        if __name__ == "__main__":
            net = Mlp()
            loss_fn = tnn.CrossEntropyLoss()
            for x, y in []:
                out = net(x)
                loss = loss_fn(out, y)
        """
    assert positions(source) == [("NNL101", 10, 16)]


def test_nnl1_trainer_holding_model_and_criterion_as_attributes() -> None:
    source = """\
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

            def forward(self, x):
                return self.fc(x).log_softmax(-1)

        class Trainer:
            def __init__(self):
                self.model = Net()
                self.criterion = nn.CrossEntropyLoss()

            def step(self, x, y):
                out = self.model(x)
                return self.criterion(out, y)
        """
    assert positions(source) == [("NNL102", 9, 16)]


def test_nnl1_loss_helpers_are_checked_at_their_call_sites() -> None:
    source = """\
        import torch
        import torch.nn.functional as F
        from torch import nn

        def objective(pred, gold):
            return F.cross_entropy(pred, gold)

        def wrapped(pred, gold, weight=1.0):
            return weight * objective(pred, gold)

        class Trainer:
            criterion = None

            def compute(self, pred, gold):
                return nn.BCEWithLogitsLoss()(pred, gold)

            @staticmethod
            def nll(gold, pred):
                return F.nll_loss(pred, gold)

            def step(self, z, gold):
                a = wrapped(F.softmax(z, 1), gold)
                b = self.compute(gold=gold, pred=torch.sigmoid(z))
                c = Trainer.nll(gold, z.softmax(1))
                d = objective(z, gold) + self.compute(z, gold)
                return a + b + c + d
        """
    assert positions(source) == [
        ("NNL101", 22, 21),
        ("NNL105", 23, 42),
        ("NNL103", 24, 31),
    ]


def test_nnl1_recursive_helpers_terminate() -> None:
    source = """\
        import torch.nn.functional as F

        def deep(pred, gold, n):
            loss = F.cross_entropy(pred, gold)
            return loss if n == 0 else loss + deep(pred, gold, n - 1)

        def ping(pred, gold):
            return pong(pred, gold) + F.nll_loss(pred, gold)

        def pong(pred, gold):
            return ping(pred, gold)

        total = deep(F.softmax(z, 1), y, 3) + pong(F.softmax(z, 1), y)
        """
    assert positions(source) == [("NNL101", 13, 14), ("NNL103", 13, 44)]


def test_nnl1_inherited_forward_and_super_calls_are_followed() -> None:
    source = """\
        from torch import nn

        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())

            def forward(self, x):
                return self.head(x)

        class Child(Base):
            def scores(self, x):
                return super().forward(x)

        def step(x, y):
            a = nn.BCELoss()(Child()(x), y)
            b = nn.BCEWithLogitsLoss()(Child().scores(x), y)
            return a + b
        """
    assert positions(source) == [("NNL105", 6, 52), ("NNL106", 6, 52)]


def test_nnl1_nested_function_and_function_local_imports() -> None:
    source = """\
        def train(xs, ys):
            import torch.nn.functional as F

            def head(z):
                return F.relu(z)

            return F.cross_entropy(head(xs), ys)
        """
    assert positions(source) == [("NNL107", 5, 16)]


@pytest.mark.parametrize(
    "imports",
    [
        "import torch.nn.functional as F",
        "from torch.nn import functional as F",
        "import torch.nn as nn\nF = None\nimport torch.nn.functional as F",
    ],
)
def test_nnl1_import_spellings_resolve_to_torch(imports: str) -> None:
    source = (
        f"{imports}\n\ndef f(a, y):\n    return F.cross_entropy(F.softmax(a, 1), y)\n"
    )
    assert positions(source, "NNL101")[0][0] == "NNL101"


def test_nnl1_fully_qualified_torch_spelling() -> None:
    source = """\
        import torch

        def f(a, y):
            return torch.nn.functional.nll_loss(torch.nn.functional.softmax(a, 1), y)
        """
    assert positions(source) == [("NNL103", 4, 41)]


# -- must-not-flag traps ---------------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        # Branches disagree: logits in training, probabilities in eval.
        """\
        import torch.nn.functional as F

        def out(self, z, y):
            p = F.softmax(z, -1) if not self.training else z
            return F.cross_entropy(p, y)
        """,
        """\
        import torch.nn.functional as F

        def out(z, y, eval_mode):
            if eval_mode:
                z = F.softmax(z, dim=-1)
            return F.cross_entropy(z, y)
        """,
        # A user function called ``softmax`` that is not a softmax.
        """\
        import torch.nn.functional as F

        def softmax(z):
            return z - z.max()

        def out(z, y):
            return F.cross_entropy(softmax(z), y)
        """,
        # A local variable shadowing the functional module.
        """\
        import torch.nn.functional as F

        def out(z, y, F):
            return F.cross_entropy(F.softmax(z, 1), y)
        """,
        # Probabilities computed under no_grad for a metric only.
        """\
        import torch
        import torch.nn.functional as F

        def evaluate(model, x, y):
            logits = model(x)
            with torch.no_grad():
                probs = F.softmax(logits, dim=1)
                conf = probs.max(1).values
            return F.cross_entropy(logits, y), conf
        """,
        # An nn.Softmax module inside attention, in a model trained with cross-entropy.
        """\
        from torch import nn

        class Attention(nn.Module):
            def __init__(self):
                super().__init__()
                self.softmax = nn.Softmax(dim=-1)

            def forward(self, q, k, v):
                return self.softmax(q @ k.transpose(-2, -1)) @ v

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = Attention()
                self.head = nn.Linear(8, 4)

            def forward(self, x):
                return self.head(self.attn(x, x, x))

        def step(x, y):
            return nn.CrossEntropyLoss()(Model()(x), y)
        """,
        # TensorFlow and JAX functions with the same names are not torch's.
        """\
        import tensorflow as tf
        import torch.nn.functional as F

        def out(z, y):
            return F.cross_entropy(tf.nn.softmax(z), y)
        """,
    ],
)
def test_nnl1_traps_are_not_flagged(source: str) -> None:
    assert positions(source) == []


# -- fixes, with names unlike the rules' examples --------------------------------------
def test_nnl1_fix_removes_softmax_line_and_keeps_the_rest() -> None:
    source = """\
        from torch import nn
        import torch.nn.functional as Fn

        class Scorer(nn.Module):
            def forward(self, feats):
                feats = Fn.softmax(feats, 1)
                return feats

        def objective(feats, gold):
            return Fn.cross_entropy(Scorer()(feats), gold)
        """
    expected = textwrap.dedent(source).replace(
        "        feats = Fn.softmax(feats, 1)\n", ""
    )
    assert fixed(source, "NNL101") == expected


def test_nnl1_fix_parenthesises_a_compound_softmax_input() -> None:
    source = """\
        import torch.nn.functional as Fn

        def objective(emb, bias, gold):
            return Fn.cross_entropy(Fn.softmax(emb + bias, dim=1).float(), gold)
        """
    assert "Fn.cross_entropy((emb + bias).float(), gold)" in fixed(source, "NNL101")


def test_nnl1_fix_drops_a_middle_sequential_element() -> None:
    source = """\
        import torch.nn as tnn

        clf = tnn.Sequential(tnn.Linear(5, 2), tnn.Softmax(dim=1), tnn.Identity())
        objective = tnn.CrossEntropyLoss()
        total = objective(clf(inputs), gold)
        """
    expected = "clf = tnn.Sequential(tnn.Linear(5, 2), tnn.Identity())"
    assert expected in fixed(source, "NNL101")


def test_nnl1_log_softmax_fix_is_safe_only_over_the_class_dimension() -> None:
    inline_dim1 = """\
        import torch.nn.functional as Fn

        def objective(emb, gold):
            return Fn.cross_entropy(Fn.log_softmax(emb, 1), gold)
        """
    last_dim = inline_dim1.replace("Fn.log_softmax(emb, 1)", "Fn.log_softmax(emb, -1)")
    module = cst.parse_module(textwrap.dedent(inline_dim1))
    (finding,) = lint_module(module, "t.py", _rules(("NNL102",)))
    assert finding.fix is not None
    assert finding.fix.safe
    assert "Fn.cross_entropy(emb, gold)" in apply_fixes(module, [finding], unsafe=False)
    module = cst.parse_module(textwrap.dedent(last_dim))
    (finding,) = lint_module(module, "t.py", _rules(("NNL102",)))
    assert (
        finding.fix is None
    )  # over the last axis of a maybe-3-D tensor: not equivalent


def test_nnl1_log_softmax_read_twice_gets_no_fix() -> None:
    source = """\
        import torch.nn.functional as Fn

        def objective(emb, gold):
            lp = Fn.log_softmax(emb, dim=1)
            return Fn.cross_entropy(lp, gold), lp.exp()
        """
    module = cst.parse_module(textwrap.dedent(source))
    (finding,) = lint_module(module, "t.py", _rules(("NNL102",)))
    assert (finding.line, finding.column, finding.fix) == (4, 10, None)


def test_nnl1_softmax_to_log_softmax_fix_on_torch_function_and_module() -> None:
    source = """\
        import torch

        crit = torch.nn.NLLLoss()
        head = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Softmax(1))

        def objective(emb, gold):
            return crit(torch.softmax(emb, 1), gold) + crit(head(emb), gold)
        """
    result = fixed(source, "NNL103")
    assert "crit(torch.log_softmax(emb, 1), gold)" in result
    assert "torch.nn.LogSoftmax(1))" in result


def test_nnl1_sigmoid_bce_fix_leaves_a_shared_criterion_alone() -> None:
    source = """\
        import torch
        from torch import nn

        crit = nn.BCELoss()

        def objective(emb, gold, other_probs):
            return crit(torch.sigmoid(emb), gold) + crit(other_probs, gold)
        """
    module = cst.parse_module(textwrap.dedent(source))
    (finding,) = lint_module(module, "t.py", _rules(("NNL106",)))
    assert (finding.line, finding.column, finding.fix) == (7, 17, None)


def test_nnl1_activation_fix_on_tensor_method() -> None:
    source = """\
        import torch.nn.functional as Fn

        def objective(emb, gold):
            return Fn.cross_entropy(emb.relu(), gold)
        """
    assert "Fn.cross_entropy(emb, gold)" in fixed(source, "NNL107")


def test_nnl1_nll_fix_renames_a_criterion_built_inline() -> None:
    source = """\
        from torch import nn

        proj = nn.Linear(3, 3)

        def objective(emb, gold):
            return nn.NLLLoss(reduction="sum")(proj(emb), gold)
        """
    result = fixed(source, "NNL104")
    assert 'nn.CrossEntropyLoss(reduction="sum")(proj(emb), gold)' in result


# -- NNL108 ----------------------------------------------------------------------------
def test_nnl1_softmax_without_dim_forms_and_positions() -> None:
    source = """\
        import torch
        from torch import nn
        import torch.nn.functional as Fn

        a = Fn.softmax(z, None)
        b = torch.log_softmax(z)
        c = nn.Softmax()
        d = nn.LogSoftmax(1)
        e = Fn.softmax(z, dtype=torch.float32)
        f = Fn.softmax(*args)
        """
    assert positions(source, "NNL108") == [
        ("NNL108", 5, 5),
        ("NNL108", 6, 5),
        ("NNL108", 7, 5),
        ("NNL108", 9, 5),
    ]
    result = fixed(source, "NNL108")
    assert "Fn.softmax(z, -1)" in result
    assert "Fn.softmax(z, dtype=torch.float32, dim=-1)" in result


# -- the shared pre-pass ---------------------------------------------------------------
def test_nnl1_analysis_runs_once_per_file_for_all_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    real = dataflow._Walker.run

    def counting(self: dataflow._Walker) -> dataflow.Analysis:
        calls.append(self.module)
        return real(self)

    monkeypatch.setattr(dataflow._Walker, "run", counting)
    source = "import torch.nn.functional as F\nF.cross_entropy(F.softmax(x, 1), y)\n"
    module = cst.parse_module(source)
    findings = lint_module(module, "t.py", LOSS_RULES)
    assert [f.code for f in findings] == ["NNL101"]
    assert calls == [module]


def test_nnl1_flows_across_top_level_statements_survive_pruning() -> None:
    from nnlint.engine.lint_source import check_source

    rule = _rules(("NNL101",))[0]
    for example in rule.INVALID:
        findings, _ = check_source(example.code, "t.py", [rule], prune=True)
        assert [f.line for f in findings] == [example.line]


def test_nnl1_triggers_skip_files_without_the_loss() -> None:
    from nnlint.engine.lint_source import should_parse

    no_loss = "import torch\ny = torch.softmax(x, 1)\n"
    rules = [rule for rule in LOSS_RULES if rule.CODE != "NNL108"]
    assert not should_parse(no_loss, rules)
    assert should_parse(no_loss + "l = torch.nn.CrossEntropyLoss()\n", rules)


def test_nnl1_rules_share_one_data_flow_through_the_context_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nnlint.analysis.names import ImportMap
    from nnlint.rules.base import RuleContext

    module = cst.parse_module(
        "import torch\nloss = torch.nn.NLLLoss()(torch.softmax(x, 1), y)\n"
    )
    walked: list[cst.Module] = []
    real = dataflow.analyse

    def counting(tree: cst.Module) -> dataflow.Analysis:
        walked.append(tree)
        return real(tree)

    monkeypatch.setattr(dataflow, "analyse", counting)
    context = RuleContext("t.py", module, ImportMap.from_module(module))
    first, second = (rule(context) for rule in _rules(("NNL103", "NNL101")))
    first.visit_Module(module)  # type: ignore[attr-defined]
    second.visit_Module(module)  # type: ignore[attr-defined]
    assert walked == [module]
    assert [report.node for report in first.reports] == [
        module.body[1].body[0].value.args[0].value  # type: ignore[attr-defined]
    ]
    assert second.reports == []


# -- every producer x reshaping x loss combination -----------------------------------
PRODUCERS = {
    "F.softmax(z, dim=1)": "probs",
    "torch.softmax(z, 1)": "probs",
    "z.softmax(1)": "probs",
    "nn.Softmax(dim=1)(z)": "probs",
    "F.log_softmax(z, 1)": "log_probs",
    "z.log_softmax(dim=1)": "log_probs",
    "torch.sigmoid(z)": "sigmoid",
    "z.sigmoid()": "sigmoid",
    "F.relu(z)": "activated",
    "nn.GELU()(z)": "activated",
    "F.linear(z, w)": "logits",
    "nn.Linear(3, 3)(z)": "logits",
}
LOSSES = {
    "F.cross_entropy({}, y)": "ce",
    "nn.CrossEntropyLoss()({}, y)": "ce",
    "F.nll_loss({}, y)": "nll",
    "nn.NLLLoss()({}, y)": "nll",
    "F.binary_cross_entropy_with_logits({}, y)": "bce_logits",
    "nn.BCEWithLogitsLoss()({}, y)": "bce_logits",
    "F.binary_cross_entropy({}, y)": "bce",
    "nn.BCELoss()({}, y)": "bce",
}
EXPECTED = {
    ("probs", "ce"): "NNL101",
    ("log_probs", "ce"): "NNL102",
    ("probs", "nll"): "NNL103",
    ("logits", "nll"): "NNL104",
    ("sigmoid", "bce_logits"): "NNL105",
    ("sigmoid", "bce"): "NNL106",
    ("activated", "ce"): "NNL107",
    ("activated", "bce_logits"): "NNL107",
    ("sigmoid", "ce"): "NNL107",
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("producer", sorted(PRODUCERS))
@pytest.mark.parametrize("through", ["inline", "local", "reshaped"])
def test_nnl1_producer_loss_matrix(producer: str, loss: str, through: str) -> None:
    if through == "inline":
        body = f"    return {loss.format(producer)}\n"
    else:
        tail = ".view(-1, 3)" if through == "reshaped" else ""
        body = f"    out = {producer}\n    return {loss.format('out' + tail)}\n"
    source = (
        "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
        f"def step(z, w, y):\n{body}"
    )
    expected = EXPECTED.get((PRODUCERS[producer], LOSSES[loss]))
    module = cst.parse_module(source)
    findings = lint_module(module, "t.py", LOSS_RULES)
    assert [f.code for f in findings] == ([expected] if expected else [])
    if not findings:
        return
    # The producer is on line 6; NNL104 reports the loss call (line 6 or 7).
    loss_line = 6 if through == "inline" else 7
    assert findings[0].line == (loss_line if expected == "NNL104" else 6)
    # Fixes re-parse, and leave nothing for the same rule to fix.
    result = apply_fixes(module, findings, unsafe=True)
    again = lint_module(cst.parse_module(result), "t.py", _rules((expected,)))
    assert all(finding.fix is None for finding in again)
