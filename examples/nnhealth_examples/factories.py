"""Factories returning ``(model, batch, loss_fn)``, for health checks and graph mode.

Batches are small, seeded and learnable (labels come from a fixed rule, not noise), so a
healthy model's loss visibly falls within a few steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nnhealth_examples.cnn import SmallCNN
from nnhealth_examples.cnn_broken import DeadReluCNN, SoftmaxTailCNN
from nnhealth_examples.lm import TinyLM
from nnhealth_examples.lm_broken import BroadcastBiasLM, MismatchedResidualLM, PostLNLM

Batch = tuple[torch.Tensor, torch.Tensor]


def image_batch(size: int = 32, num_classes: int = 10) -> Batch:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(size, 3, 16, 16, generator=generator)
    # The label is the brightest of ten fixed image regions: learnable, not noise.
    labels = images.mean(dim=1).flatten(1)[:, :160].reshape(size, 10, 16).mean(-1)
    return images, labels.argmax(dim=1) % num_classes


def token_batch(size: int = 8, length: int = 16, vocab_size: int = 64) -> Batch:
    generator = torch.Generator().manual_seed(0)
    starts = torch.randint(0, vocab_size, (size, 1), generator=generator)
    tokens = (starts + torch.arange(length + 1)) % vocab_size
    return tokens[:, :-1], tokens[:, 1:]


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every position of a (batch, length, vocab) logits tensor."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def make_cnn() -> tuple[nn.Module, Batch, nn.Module]:
    return SmallCNN(), image_batch(), nn.CrossEntropyLoss()


def make_softmax_tail_cnn() -> tuple[nn.Module, Batch, nn.Module]:
    return SoftmaxTailCNN(), image_batch(), nn.CrossEntropyLoss()


def make_dead_relu_cnn() -> tuple[nn.Module, Batch, nn.Module]:
    return DeadReluCNN(), image_batch(), nn.CrossEntropyLoss()


def make_lm() -> tuple[nn.Module, Batch, object]:
    return TinyLM(), token_batch(), token_cross_entropy


def make_post_ln_lm() -> tuple[nn.Module, Batch, object]:
    return PostLNLM(), token_batch(), token_cross_entropy


def make_mismatched_residual_lm() -> tuple[nn.Module, Batch, object]:
    return MismatchedResidualLM(mlp_out=48), token_batch(), token_cross_entropy


def make_broadcast_bias_lm() -> tuple[nn.Module, Batch, object]:
    return BroadcastBiasLM(), token_batch(), token_cross_entropy
