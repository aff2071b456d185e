"""Health tests for the tiny language model and its broken variants."""

from __future__ import annotations

import pytest
from nnhealth_examples.factories import (
    make_broadcast_bias_lm,
    make_lm,
    make_mismatched_residual_lm,
    make_post_ln_lm,
)


def test_tiny_lm_is_healthy(nnhealth):
    model, batch, loss_fn = make_lm()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()


def test_post_ln_lm_is_flagged(nnhealth):
    """A deep post-LN stack still trains for a few steps, so its finding is a warning
    from check()'s graph rules (assert_healthy passes): assert it explicitly."""
    model, batch, loss_fn = make_post_ln_lm()
    report = nnhealth(model, batch, loss_fn=loss_fn)
    assert "nnlint:NNL613" in {finding.check for finding in report.findings}


@pytest.mark.xfail(strict=True, reason="deliberately broken: residual widths 32 vs 48")
def test_mismatched_residual_lm_is_healthy(nnhealth):
    model, batch, loss_fn = make_mismatched_residual_lm()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()


def test_broadcast_bias_lm_is_flagged(nnhealth):
    """A (T, 1) bias broadcast over the model width trains without a dynamic symptom;
    check()'s graph rules warn about the silent broadcast (NNL611)."""
    model, batch, loss_fn = make_broadcast_bias_lm()
    report = nnhealth(model, batch, loss_fn=loss_fn)
    assert "nnlint:NNL611" in {finding.check for finding in report.findings}
