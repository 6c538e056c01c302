import numpy as np
import pytest

from shoplm.index.vector import VectorIndex


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(vectors, queries, k, allowed=None):
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_exact_index_finds_the_true_neighbours():
    vectors = unit_vectors(500)
    queries = unit_vectors(5, seed=1)
    index = VectorIndex.build(vectors)
    assert index.kind == "exact" and index.size == 500 and index.dim == 32
    scores, rows = index.search(queries, 10)
    assert scores.dtype == np.float32 and rows.dtype == np.int64 and rows.shape == (5, 10)
    np.testing.assert_array_equal(rows, brute_force(vectors, queries, 10))
    np.testing.assert_allclose(scores[:, 0], (queries @ vectors.T).max(axis=1), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    # one query as a 1-d vector is one row of results
    assert index.search(queries[0], 3)[1].shape == (1, 3)


def test_hnsw_agrees_with_exact():
    vectors = unit_vectors(3000)
    queries = unit_vectors(20, seed=2)
    exact = VectorIndex.build(vectors)
    hnsw = VectorIndex.build(vectors, exact_below=1000, hnsw_m=16, ef_search=128)
    assert hnsw.kind == "hnsw"
    _, exact_rows = exact.search(queries, 10)
    _, hnsw_rows = hnsw.search(queries, 10)
    pairs = zip(exact_rows, hnsw_rows, strict=True)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in pairs])
    assert recall >= 0.95
    np.testing.assert_array_equal(hnsw_rows[:, 0], exact_rows[:, 0])


@pytest.mark.parametrize("exact_below", [200_000, 1000])
@pytest.mark.parametrize("fraction", [0.5, 0.02])
def test_allowed_mask_is_respected(exact_below, fraction):
    vectors = unit_vectors(3000)
    queries = unit_vectors(4, seed=3)
    allowed = np.random.default_rng(4).random(3000) < fraction
    index = VectorIndex.build(vectors, exact_below=exact_below)
    _, rows = index.search(queries, 20, allowed=allowed)
    assert (rows >= 0).all() and allowed[rows].all()
    truth = brute_force(vectors, queries, 20, allowed)
    overlap = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(rows, truth, strict=True)])
    assert overlap >= 0.9


def test_padding_when_fewer_rows_than_k():
    vectors = unit_vectors(5)
    index = VectorIndex.build(vectors)
    scores, rows = index.search(vectors[:1], 8)
    assert (rows[0, :5] >= 0).all() and (rows[0, 5:] == -1).all()
    assert np.isneginf(scores[0, 5:]).all() and np.isfinite(scores[0, :5]).all()
    allowed = np.zeros(5, dtype=bool)
    allowed[3] = True
    scores, rows = index.search(vectors[:1], 3, allowed=allowed)
    assert rows.tolist() == [[3, -1, -1]]
    scores, rows = index.search(vectors[:1], 3, allowed=np.zeros(5, dtype=bool))
    assert (rows == -1).all() and np.isneginf(scores).all()


@pytest.mark.parametrize("exact_below", [200_000, 100])
def test_save_load_and_add(tmp_path, exact_below):
    vectors = unit_vectors(300)
    queries = unit_vectors(3, seed=5)
    index = VectorIndex.build(vectors[:250], exact_below=exact_below, ef_search=64)
    new_rows = index.add(vectors[250:])
    np.testing.assert_array_equal(new_rows, np.arange(250, 300))
    assert index.size == 300
    # a vector added later is found as its own nearest neighbour
    assert index.search(vectors[299], 1)[1][0, 0] == 299
    index.save(tmp_path / "vec")
    loaded = VectorIndex.load(tmp_path / "vec")
    assert (loaded.kind, loaded.size, loaded.dim, loaded.ef_search) == (index.kind, 300, 32, 64)
    for a, b in zip(index.search(queries, 10), loaded.search(queries, 10), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_input_is_named(tmp_path):
    index = VectorIndex.build(unit_vectors(10))
    with pytest.raises(ValueError, match="16 columns"):
        index.search(unit_vectors(1, dim=16), 3)
    with pytest.raises(ValueError, match="bool mask"):
        index.search(unit_vectors(1), 3, allowed=np.ones(4, dtype=bool))
    bad = unit_vectors(3)
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="row 1"):
        VectorIndex.build(bad)
    with pytest.raises(FileNotFoundError, match="no vector index"):
        VectorIndex.load(tmp_path / "missing")
