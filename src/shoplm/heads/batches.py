"""Tokenise once, then cut batches of similar length so little compute goes to padding.

On a CPU most of a transformer step is spent on tokens, so grouping texts of similar
length (within a shuffled window, to keep batches random) makes an epoch much shorter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

WINDOW_BATCHES = 50  # batches per shuffled window inside which texts are sorted by length


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of every text, truncated to ``max_length`` (special tokens included)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [list(ids) for ids in encoded["input_ids"]]


def collate(
    tokenizer: Any, ids: Sequence[list[int]], device: torch.device
) -> dict[str, torch.Tensor]:
    """Pad one batch to its longest text: ``input_ids`` and ``attention_mask`` tensors."""
    width = max(len(row) for row in ids)
    pad = tokenizer.pad_token_id or 0
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


def training_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Row indexes per batch for one epoch: shuffled, length-grouped within windows."""
    order = rng.permutation(len(lengths))
    window = batch_size * WINDOW_BATCHES
    batches: list[np.ndarray] = []
    lens = np.asarray(lengths)
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lens[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def inference_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indexes per batch, shortest texts first (the caller puts rows back in order)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
