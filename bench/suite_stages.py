"""The suite's stages: each times shoplm's own code path and the plain library doing the
same work, in the same process, on the same data.

========================  ==========================================  ==============================
stage                     shoplm                                      raw library
========================  ==========================================  ==============================
encode_titles             ``TextEncoder.encode``                      ``SentenceTransformer.encode``
encode_query              ``TextEncoder.encode_query`` (new text)     ``SentenceTransformer.encode``
vector_build              ``VectorIndex.build``                       faiss index of the same type
lexical_build             ``LexicalIndex.build`` (tokenise, fields)   ``bm25s.tokenize`` + ``index``
search_dense              ``SearchPipeline.search(method="dense")``   faiss ``search`` (same k)
search_bm25               ``SearchPipeline.search(method="bm25")``    bm25s ``retrieve`` (same k)
search_hybrid_rerank      ``SearchPipeline.search`` (default method)  faiss + bm25s at rerank depth
recommend_als             ALS scores, seen masked, top 10             implicit ``recommend``
recommend_itemknn         ItemKNN scores, seen masked, top 10         scipy: history @ similarity
train_als                 ``ALS.fit``                                 implicit ``ALS.fit``
train_itemknn             ``ItemKNN.fit`` (100 neighbours)            implicit ``CosineRecommender``
========================  ==========================================  ==============================

Search runs on **synthetic vectors** (see ``suite_data``): the pipeline's encoder is
replaced by a lookup of each query's synthetic vector, so search latency excludes query
encoding, which ``encode_query`` measures on the real model.  The pipeline returns item
rows; ``Engine.search`` adds store lookups and reasons on top (see bench_search_latency).
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
from suite_data import DIM, Catalog, Queries, make_catalog, make_events, make_queries
from suite_measure import Measured, durations, latencies

K = 10


def record(
    stage: str,
    size: int,
    shoplm: Measured,
    raw: Measured | None,
    library: str,
    **extra: Any,
) -> dict[str, Any]:
    """One stage at one size; ``raw`` None when the raw side was not run (ratio None)."""
    mine = shoplm.summary()
    theirs = raw.summary() if raw is not None else None
    ratio = None
    if theirs is not None and theirs["median"] > 0:
        ratio = mine["median"] / theirs["median"]
    return {
        "stage": stage,
        "size": size,
        "shoplm": mine,
        "raw": theirs,
        "raw_library": library,
        "ratio": ratio,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews timings
        **extra,
    }


# -- encoding ----------------------------------------------------------------------------------
def encode_stages(titles: list[str], source: str, queries: list[str]) -> list[dict]:
    """Real model, real (or generated) titles: shoplm's encoder vs sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    from shoplm.config import EncoderSettings
    from shoplm.text.encoder import TextEncoder, resolve_model

    settings = EncoderSettings(device="cpu")
    encoder = TextEncoder(settings)
    model = SentenceTransformer(str(resolve_model(settings.model)), device="cpu")
    model.max_seq_length = settings.max_seq_length
    encoder.encode(titles[:8], progress=False)  # load and warm both before timing
    model.encode(titles[:8], batch_size=encoder.batch_size)

    shop, _ = durations(lambda: encoder.encode(titles, progress=False))
    raw, _ = durations(
        lambda: model.encode(
            titles,
            batch_size=encoder.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
    )
    for measured in (shop, raw):
        measured.info["per_second"] = round(len(titles) / statistics.median(measured.times), 1)
    out = [
        record(
            "encode_titles",
            len(titles),
            shop,
            raw,
            "sentence-transformers",
            data=f"{source} titles, batch {encoder.batch_size}, cpu",
        )
    ]
    shop_q = latencies(encoder.encode_query, queries)  # distinct texts: no query-cache hits
    raw_q = latencies(lambda q: model.encode([q], normalize_embeddings=True), queries)
    out.append(record("encode_query", len(queries), shop_q, raw_q, "sentence-transformers"))
    return out


# -- indexes and search ------------------------------------------------------------------------
class SyntheticQueryEncoder:
    """Stands in for ``TextEncoder`` in the search pipeline: each query's synthetic vector.

    Texts it was not given (a rewritten query, category names) get a vector seeded from
    the text, so the pipeline runs unchanged; no model is loaded.
    """

    model_id = "synthetic"

    def __init__(self, queries: Queries) -> None:
        self._known = dict(zip(queries.texts, queries.vectors, strict=True))
        self.dim = DIM

    def encode_query(self, text: str) -> np.ndarray:
        vector = self._known.get(text)
        if vector is None:
            rng = np.random.default_rng(zlib.crc32(text.encode("utf-8")))
            vector = rng.standard_normal(DIM).astype(np.float32)
            vector /= np.linalg.norm(vector)
        return vector.copy()

    def encode(self, texts: list[str], progress: bool = True) -> np.ndarray:
        return np.stack([self.encode_query(t) for t in texts]) if texts else np.zeros((0, DIM))

    encode_cached = encode


def raw_faiss(vectors: np.ndarray, kind: str, hnsw_m: int, ef_search: int):
    """The faiss index shoplm builds, made with faiss alone (same type and parameters)."""
    import faiss

    from shoplm.index.vector import EF_CONSTRUCTION

    if kind == "exact":
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        index = faiss.IndexHNSWFlat(vectors.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.hnsw.efSearch = ef_search
    index.add(vectors)
    return index


def raw_corpus(catalog: Catalog) -> list[str]:
    """One text per item with the title twice, as shoplm's default field weights count it."""
    return [
        f"{t} {t} {b} {c}"
        for t, b, c in zip(catalog.titles, catalog.brands, catalog.categories, strict=True)
    ]


def raw_bm25(texts: list[str]):
    import bm25s

    tokens = bm25s.tokenize(texts, stopwords=None, show_progress=False)
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index(tokens, show_progress=False)
    return retriever


def fitted_platform(
    vectors: np.ndarray,
    vector_index,
    lexical_index,
    brands: list[str] | None = None,
    categories: list[str] | None = None,
    encoder_id: str = "synthetic",
):
    """What ``SearchPipeline`` reads, around given indexes: no store, users or models.

    Item ids are the row numbers; brands and categories default to empty.  Shared with
    bench_search_latency.
    """
    from shoplm.fitted import CatalogArrays, FittedPlatform

    n = len(vectors)
    arrays = CatalogArrays(
        item_ids=[str(i) for i in range(n)],
        brands=np.array([b.lower() for b in brands] if brands else [""] * n, dtype=object),
        categories=np.array(categories if categories else [""] * n, dtype=object),
        prices=np.full(n, np.nan),
    )
    return FittedPlatform(
        platform="bench",
        catalog=arrays,
        user_ids=[],
        encoder_id=encoder_id,
        embeddings=vectors,
        vector_index=vector_index,
        lexical_index=lexical_index,
        models={},
    )


def catalog_stages(
    n: int,
    n_queries: int,
    index_settings,
    seed: int,
    build_threads: int,
    log: Callable[[str], None],
    raw_build_max: int | None = None,
) -> list[dict]:
    """Index builds and search latency over a generated catalog of ``n`` items."""
    import bm25s
    import faiss

    from shoplm.index.lexical import LexicalIndex
    from shoplm.index.vector import EF_CONSTRUCTION, VectorIndex
    from shoplm.search.pipeline import SearchPipeline

    log(f"catalog {n}: generating")
    catalog = make_catalog(n, seed)
    queries = make_queries(catalog, n_queries, seed + 1)
    repeats = 3 if n <= 20_000 else 1
    out = []

    faiss.omp_set_num_threads(build_threads)
    log(f"catalog {n}: vector index")
    shop, vindex = durations(
        lambda: VectorIndex.build(
            catalog.vectors,
            exact_below=index_settings.exact_below,
            hnsw_m=index_settings.hnsw_m,
            ef_search=index_settings.hnsw_ef_search,
        ),
        repeats,
    )
    kind = vindex.kind
    params = (
        "IndexFlatIP"
        if kind == "exact"
        else f"IndexHNSWFlat M={index_settings.hnsw_m} efConstruction={EF_CONSTRUCTION}"
    )
    if raw_build_max is None or n <= raw_build_max:
        raw, findex = durations(
            lambda: raw_faiss(
                catalog.vectors, kind, index_settings.hnsw_m, index_settings.hnsw_ef_search
            ),
            repeats,
        )
        out.append(record("vector_build", n, shop, raw, f"faiss {params}", index=kind))
    else:
        # No second build (it costs as much again): raw faiss searches shoplm's own index.
        findex = vindex._index
        out.append(record("vector_build", n, shop, None, f"faiss {params}: not run", index=kind))

    log(f"catalog {n}: lexical index")
    docs = catalog.docs()
    shop, lindex = durations(partial(LexicalIndex.build, docs), repeats)
    del docs
    texts = raw_corpus(catalog)
    raw, retriever = durations(partial(raw_bm25, texts), repeats)
    del texts
    out.append(record("lexical_build", n, shop, raw, "bm25s tokenize+index"))

    faiss.omp_set_num_threads(1)  # one query per core, as a server runs them
    fitted = fitted_platform(catalog.vectors, vindex, lindex, catalog.brands, catalog.categories)
    began = time.perf_counter()
    pipeline = SearchPipeline(fitted, SyntheticQueryEncoder(queries))
    init_s = time.perf_counter() - began
    positions = {q: i for i, q in enumerate(queries.texts)}
    depth = min(pipeline.depth, n)
    rerank_depth = min(pipeline.rerank_depth, n)

    def faiss_search(q: str, k: int) -> object:
        return findex.search(queries.vectors[positions[q]][None, :], k)

    def bm25_search(q: str, k: int) -> object:
        tokens = bm25s.tokenize([q], stopwords=None, return_ids=False, show_progress=False)
        return retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)

    notes = {"vectors": "synthetic", "index": kind, "k": K}
    log(f"catalog {n}: search")
    for stage, method, raw_call, library in (
        (
            "search_dense",
            "dense",
            lambda q: faiss_search(q, depth),
            f"faiss {kind} search k={depth}",
        ),
        ("search_bm25", "bm25", lambda q: bm25_search(q, depth), f"bm25s retrieve k={depth}"),
        (
            "search_hybrid_rerank",
            "hybrid-rerank",
            lambda q: (faiss_search(q, rerank_depth), bm25_search(q, rerank_depth)),
            f"faiss {kind} + bm25s, k={rerank_depth} each",
        ),
    ):
        shop = latencies(lambda q, m=method: pipeline.search(q, k=K, method=m), queries.texts)
        raw = latencies(raw_call, queries.texts)
        out.append(record(stage, n, shop, raw, library, **notes))
    out[-1]["pipeline_init_s"] = round(init_s, 3)
    return out


# -- recommenders ----------------------------------------------------------------------------
def interactions(matrix: sp.csr_matrix):
    """shoplm's training view of a generated log (built directly, as a fit would)."""
    from shoplm.interactions import Interactions

    n_users, n_items = matrix.shape
    return Interactions(
        item_ids=[str(i) for i in range(n_items)],
        user_ids=[f"u{u}" for u in range(n_users)],
        matrix=matrix,
        histories=[matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]] for u in range(n_users)],
        last_timestamps=np.full(n_items, np.nan),
    )


def _shoplm_recommend(model, histories: list[np.ndarray]) -> Callable[[int], np.ndarray]:
    """What ``Engine.recommend`` does for one user, minus the store read and the hits."""
    # Engine.recommend's own top-k (top_k_from_scores is the evaluator's batched path).
    from shoplm.engine import top_rows
    from shoplm.recommend.base import UserBatch

    def recommend(user: int) -> np.ndarray:
        history = histories[user]
        scores = model.score(UserBatch(np.array([user]), [history]))[0].astype(np.float64)
        scores[history] = -np.inf
        return top_rows(scores, K)

    return recommend


def recommend_stages(
    n_items: int, n_events: int, n_users: int, als_params: dict, seed: int, log
) -> list[dict]:
    """One user at a time: shoplm's ALS and ItemKNN vs implicit / scipy on the same model."""
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares

    from shoplm.recommend.als import ALS
    from shoplm.recommend.base import FitContext
    from shoplm.recommend.itemknn import ItemKNN

    log(f"recommend {n_items} items: fitting on {n_events} events")
    matrix = make_events(n_events, n_items, seed)
    data = interactions(matrix)
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(matrix.indptr) > 0)
    users = rng.choice(active, size=min(n_users, len(active)), replace=False).tolist()
    rows = {u: matrix[u] for u in users}
    notes = {"events": n_events, "k": K}
    out = []

    als = ALS(**als_params)
    als.fit(data, FitContext(seed=seed))
    raw = AlternatingLeastSquares(**als_params, random_state=seed)
    raw.user_factors, raw.item_factors = als.user_factors, als.item_factors
    with threadpoolctl.threadpool_limits(1, "blas"):
        shop_t = latencies(_shoplm_recommend(als, data.histories), users)
        raw_t = latencies(lambda u: raw.recommend(u, rows[u], N=K), users)
    out.append(record("recommend_als", n_items, shop_t, raw_t, "implicit recommend", **notes))

    knn = ItemKNN()
    knn.fit(data, FitContext(seed=seed))
    similarity = knn.similarity

    def scipy_knn(u: int) -> np.ndarray:
        row = rows[u]
        scores = np.asarray((row @ similarity).toarray()).ravel()
        scores[row.indices] = -np.inf
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])]

    shop_t = latencies(_shoplm_recommend(knn, data.histories), users)
    raw_t = latencies(scipy_knn, users)
    out.append(record("recommend_itemknn", n_items, shop_t, raw_t, "scipy.sparse product", **notes))
    return out


def train_stages(n_events: int, n_items: int, als_params: dict, seed: int, log) -> list[dict]:
    """Fit time: shoplm's ALS and ItemKNN vs implicit's ALS and item-item cosine."""
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender

    from shoplm.recommend.als import ALS
    from shoplm.recommend.base import FitContext
    from shoplm.recommend.itemknn import ItemKNN

    log(f"training on {n_events} events over {n_items} items")
    matrix = make_events(n_events, n_items, seed)
    data = interactions(matrix)
    repeats = 3 if n_events <= 200_000 else 1
    notes = {"items": n_items, "users": matrix.shape[0], "nnz": int(matrix.nnz)}
    out = []

    def shop_als() -> object:
        model = ALS(**als_params)
        model.fit(data, FitContext(seed=seed))
        return model

    def raw_als() -> object:
        with threadpoolctl.threadpool_limits(1, "blas"):  # as shoplm does, and implicit asks
            model = AlternatingLeastSquares(**als_params, random_state=seed)
            model.fit(matrix, show_progress=False)
        return model

    shop, _ = durations(shop_als, repeats)
    raw, _ = durations(raw_als, repeats)
    out.append(record("train_als", n_events, shop, raw, "implicit ALS", **notes, **als_params))

    def shop_knn() -> object:
        model = ItemKNN(neighbours=100)
        model.fit(data, FitContext(seed=seed))
        return model

    def raw_knn() -> object:
        model = CosineRecommender(K=100)
        with warnings.catch_warnings():  # implicit warns about its own internal COO matrix
            warnings.simplefilter("ignore")
            model.fit(matrix, show_progress=False)
        return model

    shop, _ = durations(shop_knn, repeats)
    raw, _ = durations(raw_knn, repeats)
    out.append(record("train_itemknn", n_events, shop, raw, "implicit CosineRecommender", **notes))
    return out
