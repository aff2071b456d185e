"""Real architectures (config-built, no weights) as a CI test, seed 0: one model per
once-false-alarm family is healthy under ``check()``'s defaults, and broken variants
report their root cause first with the rest marked as its consequences.
``bench/real_zoo.py`` runs all of them over 3 seeds (docs/calibration.md).

Needs timm and transformers (``make setup`` installs them, with torchvision 0.28 and
``bench/torchvision_shim.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm", reason="timm missing: run `make setup` (extra zoo)")
pytest.importorskip("transformers", reason="transformers missing: run `make setup`")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.real_zoo import BY_KEY  # noqa: E402
from pytest_nnhealth.judge.records import HealthReport  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402

# One per false alarm the judge once raised on real models, plus plain references.
HEALTHY = [
    "timm:convnext_atto",  # layer scale 1e-6: update ratio against the scale floor
    "timm:cait_tiny_config",  # class token behind layer scale 1e-5: rank, depth
    "torchvision:mobilenet_v3_small",  # squeeze-excitation: pooled 1x1 rows
    "transformers:bert",  # token-type ids all 0: constant input rows
    "transformers:gpt2",
    "torch.nn:lstm_tagger",
    "written here:dit_adaln_zero",  # zero-initialised modulation
    "timm:coatnet_pico",  # rel-pos tables read by a method: no place in depth order
    "transformers:switch_transformers",  # top-1 MoE; router .to() inside forward
]


def run(key: str) -> HealthReport:
    model, batch, loss_fn, optimizer = BY_KEY[key].build(0)
    return check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=0)


def errors(report: HealthReport) -> list[str]:
    return [f.message for f in report.findings if f.severity == "error"]


@pytest.mark.parametrize("key", HEALTHY)
def test_healthy_real_architecture_has_no_error_finding(key: str):
    report = run(key)
    assert errors(report) == []
    assert report.steps == 25


def test_gain3_stack_reports_the_growth_before_the_overflow():
    """48 Linear+ReLU layers at 3x Kaiming: the std grows 3x per layer and overflows.
    The first finding names the layer where the growth leaves [1e-3, 1e3] (the 7th
    Linear, 3**7 > 1e3); the NaN and the dead layers after it are its consequences."""
    report = run("written here:deep_mlp_gain3")
    first, *rest = report.findings
    assert (first.check, first.module, first.step) == ("exploding_activations", "13", 0)
    assert first.consequence_of is None
    assert rest
    assert {f.consequence_of for f in rest} == {"exploding_activations in `13`"}
    assert "nonfinite" in {f.check for f in rest}


def test_zeroed_last_projections_report_where_the_signal_stops():
    """MobileNetV3's two classifier projections zeroed: the signal stops at
    ``classifier.0`` (its output is 0), every zero gradient follows from it."""
    report = run("torchvision:mobilenet_v3_zero_last_two")
    first = report.findings[0]
    assert (first.check, first.module) == ("vanishing_activations", "classifier.0")
    dynamic = [f for f in report.findings[1:] if not f.check.startswith("nnlint:")]
    assert all(f.consequence_of for f in dynamic)
    # The graph analysis names the same cause statically: two zeroed layers in a row.
    assert "nnlint:NNL612" in {f.check for f in report.findings}
    zero = report.by_check("zero_gradients")
    assert zero
    assert zero[0].module == "classifier.3"


def test_torchvision_imports_in_a_fresh_interpreter():
    """bench/torchvision_shim.py's .pth hook declares torchvision's op schemas before
    torchvision is first imported, also in processes pytest did not set up."""
    import subprocess

    code = (
        "import torch, torchvision; print(torch.__version__, torchvision.__version__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    torch_version, vision_version = done.stdout.split()
    assert torch_version.startswith("2.13.0")
    assert vision_version.startswith("0.28.0")
