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


@pytest.mark.xfail(strict=True, reason="deliberately broken: deep post-LN stack")
def test_post_ln_lm_is_healthy(nnhealth):
    model, batch, loss_fn = make_post_ln_lm()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()


@pytest.mark.xfail(strict=True, reason="deliberately broken: residual widths 32 vs 48")
def test_mismatched_residual_lm_is_healthy(nnhealth):
    model, batch, loss_fn = make_mismatched_residual_lm()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()


@pytest.mark.xfail(strict=True, reason="deliberately broken: (T, 1) bias broadcast over D")
def test_broadcast_bias_lm_is_healthy(nnhealth):
    model, batch, loss_fn = make_broadcast_bias_lm()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()
