"""Health tests for ecosystem-native models: transformers models that compute their
own loss from ``labels`` in a dict batch, and a LightningModule trained by its own
``training_step`` and ``configure_optimizers``. No loss_fn, no step_fn."""

from __future__ import annotations

import pytest


def test_tiny_bert_is_healthy(nnhealth):
    pytest.importorskip("transformers")
    from nnhealth_examples.hf import tiny_bert

    model, batch = tiny_bert()
    nnhealth(model, batch, name="TinyBERT").assert_healthy()


def test_tiny_gpt2_is_healthy(nnhealth):
    pytest.importorskip("transformers")
    from nnhealth_examples.hf import tiny_gpt2

    model, batch = tiny_gpt2()
    report = nnhealth(model, batch, name="TinyGPT2")
    report.assert_healthy()
    assert report.meta["graph"].startswith("ran: 0 finding(s)")


def test_lightning_module_is_healthy(nnhealth):
    pytest.importorskip("lightning")
    from nnhealth_examples.lit import LitClassifier, make_loader

    report = nnhealth(LitClassifier(), make_loader())
    report.assert_healthy()
    assert report.meta["optimizer"].startswith("AdamW(lr=0.05")
