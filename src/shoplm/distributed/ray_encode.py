"""Encode many texts with Ray Data: each actor loads the encoder once and takes batches.

The actors run the very ``TextEncoder.encode`` the in-process path runs, with the same
encoder settings, so the vectors are the same up to float rounding (batches are padded
differently).  Rows carry their position, so the result is in input order whatever order
the batches finish in.  ``encode_cached_ray`` is ``TextEncoder.encode_cached`` with the
model calls sent to Ray: only texts missing from the embedding cache leave the driver, and
fresh vectors are written to the cache as their batches arrive (an interrupted run resumes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shoplm.config import ComputeSettings, EncoderSettings
from shoplm.distributed.session import ensure_ray
from shoplm.text.cache import text_hash
from shoplm.text.encoder import TextEncoder, _checked

ROW = "row"
TEXT = "text"
VECTOR = "vector"


class _EncodeActor:
    """One Ray actor: loads the model on start, then encodes every batch it is given."""

    def __init__(self, encoder: dict[str, Any]) -> None:
        self.encoder = TextEncoder(EncoderSettings.model_validate(encoder))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(text) for text in batch[TEXT]]
        return {ROW: batch[ROW], VECTOR: self.encoder.encode(texts, progress=False)}


def encode_ray(
    texts: Sequence[str],
    encoder: EncoderSettings,
    compute: ComputeSettings,
    on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """float32 ``[len(texts), dim]`` in input order, like ``TextEncoder(encoder).encode``.

    ``on_batch(rows, vectors)`` (optional) is called as each batch comes back, rows being
    positions in ``texts``.
    """
    texts = _checked(texts)
    if not texts:
        return TextEncoder(encoder).encode([])
    ray = ensure_ray(compute)
    settings = encoder.model_dump()
    if compute.use_gpu and encoder.device is None:
        settings["device"] = "cuda"
    dataset = ray.data.from_items(
        [{ROW: i, TEXT: text} for i, text in enumerate(texts)],
        override_num_blocks=max(1, -(-len(texts) // compute.batch_size)),
    )
    vectors = dataset.map_batches(
        _EncodeActor,
        fn_constructor_kwargs={"encoder": settings},
        batch_size=compute.batch_size,
        batch_format="numpy",
        concurrency=compute.num_workers,
        num_cpus=compute.cpus_per_worker,
        num_gpus=1 if compute.use_gpu else 0,
    )
    out: np.ndarray | None = None
    done = np.zeros(len(texts), dtype=bool)
    for batch in vectors.iter_batches(batch_size=None, batch_format="numpy"):
        rows = np.asarray(batch[ROW], dtype=np.int64)
        fresh = np.ascontiguousarray(np.stack(list(batch[VECTOR])), dtype=np.float32)
        if out is None:
            out = np.zeros((len(texts), fresh.shape[1]), dtype=np.float32)
        out[rows] = fresh
        done[rows] = True
        if on_batch is not None:
            on_batch(rows, fresh)
    if out is None or not done.all():
        missing = int((~done).sum()) if out is not None else len(texts)
        raise RuntimeError(f"Ray returned no vector for {missing} of {len(texts)} texts")
    return out


def encode_cached_ray(
    encoder: TextEncoder, texts: Sequence[str], compute: ComputeSettings
) -> tuple[np.ndarray, dict[str, int]]:
    """(vectors, ``{"cached": n, "encoded": m}``) like ``encoder.encode_cached(texts)``.

    Texts already in the encoder's embedding cache are read from it; the others are
    encoded on Ray and written to the cache.  Counts are over distinct texts.
    """
    texts = _checked(texts)
    keys = [text_hash(t) for t in texts]
    unique = dict(zip(keys, texts, strict=True))
    cache = encoder.cache
    found = cache.get_many(encoder.model_id, unique) if cache is not None else {}
    if len({v.shape for v in found.values()}) > 1:
        found = {}  # an inconsistent cache: trust none of it, encode all again
    missing = [key for key in unique if key not in found]
    _encode_into(found, missing, unique, encoder, compute)
    if missing and found:
        # Cached rows of another size than the model's (a foreign cache) are encoded again.
        dim = found[missing[0]].shape
        stale = [key for key, vector in found.items() if vector.shape != dim]
        _encode_into(found, stale, unique, encoder, compute)
    stats = {"cached": len(unique) - len(missing), "encoded": len(missing)}
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), stats
    return np.stack([found[key] for key in keys]).astype(np.float32, copy=False), stats


def _encode_into(
    found: dict[str, np.ndarray],
    keys: list[str],
    texts: dict[str, str],
    encoder: TextEncoder,
    compute: ComputeSettings,
) -> None:
    """Encode ``texts[key]`` for ``keys`` on Ray; vectors go to ``found`` and the cache."""
    if not keys:
        return

    def store(rows: np.ndarray, vectors: np.ndarray) -> None:
        new = {keys[r]: v for r, v in zip(rows.tolist(), vectors, strict=True)}
        if encoder.cache is not None:
            encoder.cache.put_many(encoder.model_id, new)
        found.update(new)

    encode_ray([texts[key] for key in keys], encoder.settings, compute, on_batch=store)
