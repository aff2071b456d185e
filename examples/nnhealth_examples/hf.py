"""Tiny Hugging Face transformers built from a config: no weights, no download.

Each factory returns ``(model, batch)``: the batch is a dict of keyword inputs with the
``labels`` inside, as a transformers data collator makes it. ``check(model, batch)``
(``loss_fn=None``) trains on the loss the model computes itself (``output.loss``) and
traces the graph with the same keyword inputs.
"""

from __future__ import annotations

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
)

Batch = dict[str, torch.Tensor]


def tiny_bert(vocab_size: int = 128) -> tuple[BertForSequenceClassification, Batch]:
    """A 2-layer BERT classifier on sentence pairs (segment ids 0 and 1, as for a
    pair task), labelled by a fixed rule on the first token."""
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=3,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab_size, (16, 12), generator=generator)
    segments = torch.zeros_like(ids)
    segments[:, 6:] = 1
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": segments,
        "labels": ids[:, 0] % 3,
    }
    return model, batch


def tiny_gpt2(vocab_size: int = 128) -> tuple[GPT2LMHeadModel, Batch]:
    """A 2-layer GPT-2 language model; the labels are the inputs (the model shifts
    them). ``use_cache=False``: a training step needs no key/value cache, and the
    cache object in the output is not something torch.export can return."""
    config = GPT2Config(
        vocab_size=vocab_size,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=32,
        bos_token_id=0,
        eos_token_id=0,
        use_cache=False,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    generator = torch.Generator().manual_seed(0)
    starts = torch.randint(0, vocab_size, (16, 1), generator=generator)
    ids = (starts + torch.arange(12)) % vocab_size  # learnable: counting sequences
    return model, {"input_ids": ids, "labels": ids}
