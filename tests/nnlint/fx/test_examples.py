"""On the example package, graph mode finds the defects source mode cannot see (a
Softmax held as ``self.act`` before CrossEntropyLoss, a residual whose width depends on
constructor arguments, a silent broadcast in an add), each at the right line."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("torch")

from nnlint.engine.lint_source import lint_source  # noqa: E402
from nnlint.fx import analyze_model, run_graph_mode  # noqa: E402
from nnlint.rules import all_rules  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PACKAGE = EXAMPLES / "nnhealth_examples"
pytestmark = pytest.mark.skipif(
    not (PACKAGE / "factories.py").is_file(), reason="examples/ not present"
)
# (factory, file, text of the line the finding must point at, code, severity)
MUST_SHOW = [
    (
        "make_softmax_tail_cnn",
        "cnn_broken.py",
        "return self.act(logits)",
        "NNL610",
        "error",
    ),
    (
        "make_mismatched_residual_lm",
        "lm_broken.py",
        "return x + self.mlp(self.norm2(x))",
        "NNL611",
        "error",
    ),
    (
        "make_broadcast_bias_lm",
        "lm_broken.py",
        "x = self.tokens(token_ids) + self.position_bias[:length]",
        "NNL611",
        "warning",
    ),
]


def line_of(file: str, text: str) -> int:
    lines = (PACKAGE / file).read_text(encoding="utf-8").splitlines()
    matches = [number for number, line in enumerate(lines, 1) if line.strip() == text]
    assert len(matches) == 1, f"{text!r} not found once in {file}"
    return matches[0]


@pytest.mark.parametrize(("factory", "file", "text", "code", "severity"), MUST_SHOW)
def test_graph_mode_finds_it_at_the_right_line(
    factories: ModuleType, factory: str, file: str, text: str, code: str, severity: str
) -> None:
    model, batch, loss_fn = getattr(factories, factory)()
    findings = analyze_model(model, (batch[0],), loss_fn)
    hits = [(Path(f.path).name, f.line, f.severity) for f in findings if f.code == code]
    assert (file, line_of(file, text), severity) in hits


@pytest.mark.parametrize(("factory", "file", "text", "code", "severity"), MUST_SHOW)
def test_source_mode_does_not(
    factory: str, file: str, text: str, code: str, severity: str
) -> None:
    source = (PACKAGE / file).read_text(encoding="utf-8")
    findings = lint_source(source, str(PACKAGE / file), all_rules())
    assert line_of(file, text) not in {f.line for f in findings}


@pytest.mark.parametrize("factory", ["make_cnn", "make_lm"])
def test_healthy_examples_are_clean(factories: ModuleType, factory: str) -> None:
    model, batch, loss_fn = getattr(factories, factory)()
    assert analyze_model(model, (batch[0],), loss_fn) == []


def test_nnlint_fx_on_the_examples_directory() -> None:
    """End to end: the subprocess runner with ``[tool.nnlint.fx]`` factories."""
    from nnlint.engine.config import load_config

    config = load_config(EXAMPLES)
    fx = dict(config.fx)
    if not fx.get("models"):  # until examples/pyproject.toml lists them
        fx["models"] = [f"nnhealth_examples.factories:{f}" for f, *_ in MUST_SHOW]
    found = run_graph_mode([str(EXAMPLES)], {"fx": fx, "root": EXAMPLES})
    located = {(Path(f.path).name, f.line, f.code) for f in found}
    for _, file, text, code, _ in MUST_SHOW:
        assert (file, line_of(file, text), code) in located
