"""PostgresEmbeddingCache only: typed vector columns, nearest neighbours from an HNSW index."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from shoplm.store.vectors_pg import REGISTRY_TABLE, PostgresEmbeddingCache
from shoplm.text.cache import text_hash


def _unit_rows(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _brute_force(rows: np.ndarray, query: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    similarity = rows @ query / (np.linalg.norm(rows, axis=1) * np.linalg.norm(query))
    order = np.argsort(-similarity, kind="stable")[:k]
    return order.tolist(), similarity[order]


def test_each_model_has_a_typed_vector_table(postgres_url: str) -> None:
    with PostgresEmbeddingCache(postgres_url) as cache:
        cache.put_many("mini", {text_hash("a"): np.ones(8, dtype=np.float32)})
        cache.put_many("big", {text_hash("a"): np.ones(16, dtype=np.float32)})
        with psycopg.connect(postgres_url) as conn:
            rows = conn.execute(
                f"SELECT model_id, table_name, dim FROM {REGISTRY_TABLE} ORDER BY model_id"
            ).fetchall()
            assert [(m, d) for m, _, d in rows] == [("big", 16), ("mini", 8)]
            column_type = conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attname = 'vector'",
                (rows[1][1],),
            ).fetchone()[0]
            assert column_type == "vector(8)"
        with pytest.raises(ValueError, match="stores 8-dimensional vectors"):
            cache.put_many("mini", {text_hash("b"): np.ones(4, dtype=np.float32)})
        with pytest.raises(ValueError, match="has 3 dimensions"):
            cache.put_many("m", {"x": np.ones(2), "y": np.ones(3)})
        assert cache.count("mini") == 1 and cache.count("big") == 1


def test_nearest_matches_brute_force(postgres_url: str) -> None:
    rows = _unit_rows(60, 12)
    keys = [text_hash(f"text {n}") for n in range(len(rows))]
    with PostgresEmbeddingCache(postgres_url) as cache:
        cache.put_many("m", dict(zip(keys, rows, strict=True)))
        for seed in range(5):
            query = np.random.default_rng(100 + seed).normal(size=12).astype(np.float32) * 3
            expected, similarity = _brute_force(rows, query, 7)
            found = cache.nearest("m", query, k=7)
            assert [key for key, _ in found] == [keys[n] for n in expected]
            np.testing.assert_allclose([s for _, s in found], similarity, atol=1e-5)
        assert len(cache.nearest("m", rows[0], k=100)) == 60  # k beyond the cache: all of it
        assert cache.nearest("m", rows[0], k=1)[0][0] == keys[0]
        assert cache.nearest("unknown-model", rows[0], k=3) == []


def test_nearest_is_served_by_the_hnsw_index(postgres_url: str) -> None:
    rows = _unit_rows(30, 6, seed=1)
    with PostgresEmbeddingCache(postgres_url) as cache:
        cache.put_many("m", {text_hash(str(n)): row for n, row in enumerate(rows)})
        cache.nearest("m", rows[0], k=3)  # builds the index on first use
        index = cache.index_name("m")
        table = cache._table("m")[0]
        with psycopg.connect(postgres_url) as conn:
            definition = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (index,)
            ).fetchone()[0]
            assert "USING hnsw" in definition and "vector_cosine_ops" in definition
            conn.execute("SET enable_seqscan = off")
            plan = conn.execute(
                f"EXPLAIN SELECT text_hash FROM {table} ORDER BY vector <=> %s::vector LIMIT 3",
                (str(rows[0].tolist()),),
            ).fetchall()
            assert any(index in line[0] for line in plan), plan
        # Rows added after the index exists are found through it too.
        fresh = np.zeros(6, dtype=np.float32)
        fresh[0] = 1.0
        cache.put_many("m", {text_hash("fresh"): fresh})
        assert cache.nearest("m", fresh, k=1)[0] == (text_hash("fresh"), pytest.approx(1.0))


def test_bad_queries_are_refused(postgres_url: str) -> None:
    with PostgresEmbeddingCache(postgres_url) as cache:
        cache.put_many("m", {"a": np.ones(4, dtype=np.float32)})
        with pytest.raises(ValueError, match="query has 3"):
            cache.nearest("m", np.ones(3), k=1)
        with pytest.raises(ValueError, match="finite 1-d"):
            cache.nearest("m", np.array([np.inf, 1, 1, 1]), k=1)
        with pytest.raises(ValueError, match="k must be at least 1"):
            cache.nearest("m", np.ones(4), k=0)


def test_two_caches_share_the_vectors(postgres_url: str) -> None:
    first, second = PostgresEmbeddingCache(postgres_url), PostgresEmbeddingCache(postgres_url)
    first.put_many("m", {"a": np.arange(3, dtype=np.float32)})
    np.testing.assert_array_equal(second.get_many("m", ["a"])["a"], [0, 1, 2])
    second.put_many("m", {"b": np.ones(3, dtype=np.float32)})
    assert first.count("m") == 2
    first.close()
    second.close()
