"""Health tests for the CNN classifier: one line per model, with the fixture."""

from __future__ import annotations

import pytest
from nnhealth_examples.factories import (
    make_cnn,
    make_dead_relu_cnn,
    make_softmax_tail_cnn,
)


def test_small_cnn_is_healthy(nnhealth):
    model, batch, loss_fn = make_cnn()
    report = nnhealth(model, batch, loss_fn=loss_fn)
    report.assert_healthy()
    # Single quantities can be pinned too, e.g. the worst update ratio of any layer.
    report.assert_update_ratio(1e-5, 0.5)


@pytest.mark.xfail(
    strict=True, reason="deliberately broken: Softmax (self.act) before CE"
)
def test_softmax_tail_cnn_is_healthy(nnhealth):
    model, batch, loss_fn = make_softmax_tail_cnn()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()


@pytest.mark.xfail(strict=True, reason="deliberately broken: dead ReLU units")
def test_dead_relu_cnn_is_healthy(nnhealth):
    model, batch, loss_fn = make_dead_relu_cnn()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()
