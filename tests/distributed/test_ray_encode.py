"""Ray Data encoding gives the in-process vectors, in input order; fit selects it by config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shoplm.config import ComputeSettings, EncoderSettings
from shoplm.distributed.ray_encode import encode_cached_ray, encode_ray
from shoplm.engine import Engine
from shoplm.text.cache import EmbeddingCache
from shoplm.text.encoder import TextEncoder

RAY = ComputeSettings(backend="ray", num_workers=2, batch_size=8)
# Three quick SASRec epochs: the engine test checks where training runs, not how well.
TINY_SASREC = {"dim": 16, "layers": 1, "heads": 2, "max_len": 6, "max_epochs": 3, "patience": 3}
ADJECTIVES = ["red", "wireless", "steel", "organic", "compact"]
NOUNS = ["kettle", "headphones", "backpack", "coffee beans", "desk lamp"]


def titles() -> list[str]:
    """50 short product titles, of different lengths (so batches pad differently)."""
    out = [f"{a} {n}" for a in ADJECTIVES for n in NOUNS]
    out += [
        f"{a} {n} with extra long description number {i}"
        for i, (a, n) in enumerate(zip(ADJECTIVES * 5, NOUNS * 5, strict=True))
    ]
    return out


@pytest.fixture(scope="module")
def local_vectors() -> np.ndarray:
    return TextEncoder(EncoderSettings()).encode(titles())


def test_ray_vectors_equal_in_process_in_input_order(
    ray_local: Any, local_vectors: np.ndarray
) -> None:
    order = np.random.default_rng(0).permutation(50)
    vectors = encode_ray([titles()[i] for i in order], EncoderSettings(), RAY)
    assert vectors.shape == (50, 384)
    assert vectors.dtype == np.float32
    assert np.abs(vectors - local_vectors[order]).max() < 1e-5
    # Each row is nearest to its own text's in-process vector, not a neighbour's.
    assert (np.argmax(vectors @ local_vectors.T, axis=1) == order).all()


def test_cached_texts_are_not_sent_again(
    ray_local: Any, local_vectors: np.ndarray, tmp_path: Path
) -> None:
    texts = titles()
    encoder = TextEncoder(EncoderSettings(), cache=EmbeddingCache(tmp_path / "cache.sqlite"))
    encoder.encode_cached(texts[:20])
    vectors, stats = encode_cached_ray(encoder, texts + texts[:5], RAY)
    assert stats == {"cached": 20, "encoded": 30}
    assert np.abs(vectors[:50] - local_vectors).max() < 1e-5
    assert np.array_equal(vectors[50:], vectors[:5])
    # Everything is cached now: a second call sends nothing to Ray.
    again, stats = encode_cached_ray(encoder, texts, RAY)
    assert stats == {"cached": 50, "encoded": 0}
    assert np.array_equal(again, vectors[:50])


def test_bad_text_is_named(ray_local: Any) -> None:
    with pytest.raises(TypeError, match="text #1"):
        encode_ray(["fine", 3], EncoderSettings(), RAY)  # type: ignore[list-item]


def test_engine_fit_with_ray_backend_gives_local_vectors(
    ray_local: Any, tmp_path: Path, tiny_items: list[dict], tiny_events: list[dict]
) -> None:
    """compute.backend selects the path (Ray Data encoding, Ray Train for SASRec); the item
    vectors do not depend on it."""
    vectors, sasrec = {}, {}
    for backend in ("local", "ray"):
        with Engine.open(
            tmp_path / backend,
            compute={"backend": backend, "num_workers": 2, "batch_size": 4},
            recommend={"params": {"sasrec": TINY_SASREC}},
        ) as engine:
            engine.ingest_records(tiny_items, kind="items")
            engine.ingest_records(tiny_events, kind="events")
            report = engine.fit(models=["sasrec"])
            assert report["encoded"] == {"cached": 0, "encoded": len(tiny_items)}
            vectors[backend] = engine.fitted().embeddings
            sasrec[backend] = engine.fitted().models["sasrec"]
            assert len(engine.recommend(user_id="u1", k=3, model="sasrec")) == 3
    assert vectors["ray"].shape == (len(tiny_items), 384)
    assert np.abs(vectors["ray"] - vectors["local"]).max() < 1e-5
    assert [h.get("workers") for h in sasrec["ray"].history] == [2, 2, 2]
    assert [h.get("workers") for h in sasrec["local"].history] == [None, None, None]
