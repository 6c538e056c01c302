"""Running the transformer over many texts without gradients, in length-sorted batches.

The probe baseline embeds every text once with the frozen encoder; those vectors may come
from (and go to) shoplm's embedding cache under a model id of their own, which names the
pooling and the token limit, so they never mix with the search encoder's vectors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from shoplm.heads.batches import collate, inference_batches, tokenize
from shoplm.text.cache import EmbeddingCache, text_hash

PROGRESS_ABOVE = 256


def run_batches(
    fn: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
    desc: str = "embedding",
) -> np.ndarray:
    """``fn(input_ids, attention_mask)`` over all texts, rows returned in input order."""
    ids = tokenize(tokenizer, texts, max_length)
    rows: list[np.ndarray] = [np.empty(0)] * len(ids)
    bar = tqdm(
        total=len(ids),
        desc=desc,
        unit="text",
        file=sys.stderr,
        disable=not (progress and len(ids) > PROGRESS_ABOVE),
    )
    with torch.inference_mode():
        for batch in inference_batches([len(r) for r in ids], batch_size):
            out = fn(**collate(tokenizer, [ids[i] for i in batch], device))
            out = out.float().cpu().numpy()
            for i, row in zip(batch, out, strict=True):
                rows[i] = row
            bar.update(len(batch))
    bar.close()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


def embed(
    net: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
    cache: EmbeddingCache | None = None,
    cache_key: str | None = None,
) -> np.ndarray:
    """Pooled vectors ``[n, dim]`` of ``net.embed``; cached ones are reused."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, net.head.in_features), dtype=np.float32)
    if cache is None or cache_key is None:
        return run_batches(net.embed, tokenizer, texts, max_length, batch_size, device, progress)
    keys = [text_hash(t) for t in texts]
    unique = dict(zip(keys, texts, strict=True))
    found = cache.get_many(cache_key, unique)
    missing = [k for k in unique if k not in found]
    if missing:
        fresh = run_batches(
            net.embed,
            tokenizer,
            [unique[k] for k in missing],
            max_length,
            batch_size,
            device,
            progress,
        )
        new = dict(zip(missing, fresh, strict=True))
        cache.put_many(cache_key, new)
        found.update(new)
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def cache_model_id(base_model_id: str, max_length: int, pooling: str = "normalised") -> str:
    """Names what a cached probe vector is: base model, pooling and token limit."""
    kind = "norm" if pooling == "normalised" else "raw"
    return f"{base_model_id}|heads-meanpool-{kind}|max{max_length}"
