import numpy as np
import pytest

from shoplm.text.cache import EmbeddingCache, text_hash


def test_round_trip_and_model_separation(tmp_path):
    path = tmp_path / "sub" / "embeddings.sqlite"
    vectors = {
        text_hash("red phone"): np.array([1.0, 0.0, 0.5], dtype=np.float32),
        text_hash("blue case"): np.array([0.0, 1.0, -0.25], dtype=np.float32),
    }
    with EmbeddingCache(path) as cache:
        cache.put_many("model-a", vectors)
        got = cache.get_many("model-a", [*vectors, text_hash("unknown")])
        assert set(got) == set(vectors)
        for key, vector in vectors.items():
            assert got[key].dtype == np.float32
            np.testing.assert_array_equal(got[key], vector)
        assert cache.get_many("model-b", vectors) == {}
        assert cache.count("model-a") == 2 and cache.count("model-b") == 0

    # a second opening (another process would do the same) sees the rows
    with EmbeddingCache(path) as again:
        assert again.count("model-a") == 2
        again.put_many("model-a", {text_hash("red phone"): np.zeros(3, dtype=np.float32)})
        replaced = again.get_many("model-a", [text_hash("red phone")])
        np.testing.assert_array_equal(replaced[text_hash("red phone")], np.zeros(3))
        assert again.count("model-a") == 2


def test_many_keys_are_chunked(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        vectors = {text_hash(str(i)): np.full(4, i, dtype=np.float32) for i in range(1200)}
        cache.put_many("m", vectors)
        got = cache.get_many("m", list(vectors))
        assert len(got) == 1200
        assert got[text_hash("1199")][0] == 1199


def test_bad_vector_and_closed_cache(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    with pytest.raises(ValueError, match="finite 1-d"):
        cache.put_many("m", {"k": np.array([np.nan, 1.0])})
    cache.close()
    with pytest.raises(RuntimeError, match="closed"):
        cache.count("m")
