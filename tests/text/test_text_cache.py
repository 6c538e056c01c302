"""The embedding cache contract, on both kinds: a SQLite file and PostgreSQL with pgvector."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shoplm.store import open_embedding_cache
from shoplm.text.cache import EmbeddingCache, text_hash


@pytest.fixture(params=["sqlite", "postgres"])
def open_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EmbeddingCache]:
    """Opens a cache, every call on the same storage (as another process would)."""
    if request.param == "sqlite":
        where: str | Path = tmp_path / "sub" / "embeddings.sqlite"
    else:
        where = request.getfixturevalue("postgres_url")
    return lambda: open_embedding_cache(where)


def test_round_trip_and_model_separation(open_cache):
    vectors = {
        text_hash("red phone"): np.array([1.0, 0.0, 0.5], dtype=np.float32),
        text_hash("blue case"): np.array([0.0, 1.0, -0.25], dtype=np.float32),
    }
    with open_cache() as cache:
        cache.put_many("model-a", vectors)
        got = cache.get_many("model-a", [*vectors, text_hash("unknown")])
        assert set(got) == set(vectors)
        for key, vector in vectors.items():
            assert got[key].dtype == np.float32
            np.testing.assert_array_equal(got[key], vector)
        assert cache.get_many("model-b", vectors) == {}
        assert cache.count("model-a") == 2 and cache.count("model-b") == 0

    # a second opening (another process would do the same) sees the rows
    with open_cache() as again:
        assert again.count("model-a") == 2
        again.put_many("model-a", {text_hash("red phone"): np.zeros(3, dtype=np.float32)})
        replaced = again.get_many("model-a", [text_hash("red phone")])
        np.testing.assert_array_equal(replaced[text_hash("red phone")], np.zeros(3))
        assert again.count("model-a") == 2


def test_many_keys_are_chunked(open_cache):
    with open_cache() as cache:
        vectors = {text_hash(str(i)): np.full(4, i, dtype=np.float32) for i in range(1200)}
        cache.put_many("m", vectors)
        got = cache.get_many("m", list(vectors))
        assert len(got) == 1200
        assert got[text_hash("1199")][0] == 1199
        assert cache.get_many("m", []) == {}
        cache.put_many("m", {})  # nothing to store is fine
        assert cache.count("m") == 1200


def test_bad_vector_and_closed_cache(open_cache):
    cache = open_cache()
    with pytest.raises(ValueError, match="finite 1-d"):
        cache.put_many("m", {"k": np.array([np.nan, 1.0])})
    with pytest.raises(ValueError, match="finite 1-d"):
        cache.put_many("m", {"k": np.ones((2, 2))})
    assert cache.count("m") == 0
    cache.close()
    with pytest.raises(RuntimeError, match="closed"):
        cache.count("m")


def test_sqlite_cache_is_the_default_for_a_path(tmp_path):
    with open_embedding_cache(tmp_path / "e.sqlite") as cache:
        assert isinstance(cache, EmbeddingCache)
        assert cache.path == tmp_path / "e.sqlite"
