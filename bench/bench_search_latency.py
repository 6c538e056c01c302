"""Search latency vs catalog size: each method, one query at a time, on two cores.

For each catalog size the bench builds the lexical and vector indexes a fit would build and
times ``SearchPipeline.search`` (k=10) for every method over the same queries, each query
encoded fresh (the query cache is emptied per method).  Next to the pipeline it times the
raw libraries it stands on, so the overhead of shoplm's own code shows as a ratio:
the encoder on one query, a faiss search, a BM25 (bm25s matrix) search.  At the real
catalog size it also times ``Engine.search`` (hits with item fields and reasons).

Catalogs: with ``--data`` pointing at ``homedepot_search`` the items are its 54,667 real
titles (vectors from the shared embedding cache, encoded once if missing) and the queries
its real queries.  Smaller sizes take a seeded subset; larger ones add copies of real
titles with their words shuffled and their vectors jittered, so vocabulary and vector
statistics stay realistic without encoding new text.  Without ``--data`` everything is
synthetic (random word titles, random vectors) so the bench runs anywhere.

Two cores: the process pins itself to CPUs 0-1 when the machine has more, and runs torch
and faiss on one thread each, as one request per core does in a server.

    .venv/bin/python bench/bench_search_latency.py --data ../shared/data/homedepot_search \\
        --sizes 10000,54667,100000 --queries 300 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

K = 10


def pin_two_cores() -> list[int]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 2:
        os.sched_setaffinity(0, cores[:2])
    return sorted(os.sched_getaffinity(0))


def one_thread() -> None:
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


# -- catalogs --------------------------------------------------------------------------------
def real_catalog(data: Path, encoder) -> tuple[list[str], np.ndarray, list[str]]:
    from shoplm.datasets import load_dataset

    dataset = load_dataset(data)
    titles = [item.title for item in dataset.items]
    vectors = encoder.encode_cached([item.text() for item in dataset.items])
    queries = [q.text for q in dataset.queries]
    return titles, vectors, queries


def synthetic_catalog(n: int, dim: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(20_000)]
    weights = [1 / (i + 1) for i in range(len(words))]  # Zipf-like word frequencies
    titles = [" ".join(rng.choices(words, weights, k=rng.randint(5, 14))) for _ in range(n)]
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = [" ".join(rng.choices(words, weights, k=rng.randint(1, 4))) for _ in range(2000)]
    return titles, vectors, queries


def resize(
    titles: list[str], vectors: np.ndarray, n: int, seed: int
) -> tuple[list[str], np.ndarray]:
    """A seeded subset, or the catalog plus shuffled-word, jittered-vector copies."""
    rng = np.random.default_rng(seed)
    if n <= len(titles):
        keep = np.sort(rng.choice(len(titles), n, replace=False))
        return [titles[i] for i in keep], vectors[keep]
    extra = rng.integers(0, len(titles), n - len(titles))
    shuffler = random.Random(seed)
    new_titles = list(titles)
    for i in extra.tolist():
        words = titles[i].split()
        shuffler.shuffle(words)
        new_titles.append(" ".join(words))
    jitter = vectors[extra] + 0.05 * rng.standard_normal((len(extra), vectors.shape[1]))
    jitter = (jitter / np.linalg.norm(jitter, axis=1, keepdims=True)).astype(np.float32)
    return new_titles, np.concatenate([vectors, jitter])


def fitted_platform(titles: list[str], vectors: np.ndarray):
    """Both indexes built from titles alone (the suite's bare fitted platform)."""
    from suite_stages import fitted_platform as bare_platform  # bench/ is the script's folder

    from shoplm.index.lexical import LexicalIndex
    from shoplm.index.vector import VectorIndex

    return bare_platform(
        vectors,
        VectorIndex.build(vectors),
        LexicalIndex.build([{"title": t} for t in titles]),
        encoder_id="bench",
    )


# -- timing ----------------------------------------------------------------------------------
def timed(run: Callable[[str], object], queries: Sequence[str]) -> dict[str, float]:
    took = []
    for query in queries:
        began = time.perf_counter()
        run(query)
        took.append((time.perf_counter() - began) * 1000)
    millis = np.array(took)
    return {
        "median": round(float(np.median(millis)), 2),
        "p90": round(float(np.percentile(millis, 90)), 2),
        "p99": round(float(np.percentile(millis, 99)), 2),
    }


def forget(encoder) -> None:
    clear = getattr(getattr(encoder, "_query_cache", None), "cache_clear", None)
    if clear is not None:
        clear()


def bench_size(
    titles: list[str],
    vectors: np.ndarray,
    queries: Sequence[str],
    encoder,
) -> dict:
    from shoplm.search.pipeline import SEARCH_METHODS, SearchPipeline

    started = time.perf_counter()
    fitted = fitted_platform(titles, vectors)
    build_s = time.perf_counter() - started
    pipeline = SearchPipeline(fitted, encoder)
    pipeline.search(queries[0], k=K)  # warm-up: analyzer caches, faiss, encoder
    out: dict = {"items": len(titles), "index_build_s": round(build_s, 1), "methods": {}}
    for method in SEARCH_METHODS:
        forget(encoder)
        out["methods"][method] = timed(
            lambda q, m=method: pipeline.search(q, k=K, method=m), queries
        )
    vectors_q = encoder.encode(list(queries))
    position = {q: i for i, q in enumerate(queries)}
    forget(encoder)
    out["raw"] = {
        "encode_one_query": timed(encoder.encode_query, queries),
        "faiss_search": timed(
            lambda q: fitted.vector_index.search(vectors_q[position[q]][None, :], 100), queries
        ),
        "bm25_search": timed(lambda q: fitted.lexical_index.search(q, 100), queries),
    }
    full = out["methods"]["hybrid-rerank"]["median"]
    raw = sum(out["raw"][part]["median"] for part in out["raw"])
    out["rerank_vs_raw_ratio"] = round(full / raw, 2) if raw else None
    return out


def bench_engine(data: Path, queries: Sequence[str]) -> dict:
    """Engine.search end to end (store lookups, hits, reasons) on the real catalog."""
    from shoplm.datasets import load_dataset
    from shoplm.engine import Engine
    from shoplm.evaluation.runner import embedding_cache_path

    dataset = load_dataset(data)
    with (
        tempfile.TemporaryDirectory(prefix="shoplm-bench-") as workdir,
        Engine.open(
            Path(workdir) / "home", embedding_cache=embedding_cache_path(), show_progress=False
        ) as engine,
    ):
        engine.upsert_items(dataset.items)
        engine.fit(models=["popularity"])
        engine.search(queries[0], k=K)
        forget(engine.encoder)
        return {
            "items": len(dataset.items),
            "hybrid-rerank": timed(lambda q: engine.search(q, k=K), queries),
        }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="homedepot_search folder (else synthetic)")
    parser.add_argument("--sizes", default="10000,54667,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-engine", action="store_true", help="skip Engine.search timing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("SHOPLM_NO_PROGRESS", "1")
    cores = pin_two_cores()
    one_thread()

    from shoplm.evaluation.runner import embedding_cache_path
    from shoplm.text.cache import EmbeddingCache
    from shoplm.text.encoder import TextEncoder

    encoder = TextEncoder(cache=EmbeddingCache(embedding_cache_path()))
    if args.data is not None:
        titles, vectors, all_queries = real_catalog(args.data, encoder)
    else:
        titles, vectors, all_queries = synthetic_catalog(100_000, 384, args.seed)
    queries = random.Random(args.seed).sample(
        sorted(set(all_queries)), min(args.queries, len(set(all_queries)))
    )
    result: dict = {
        "bench": "search_latency",
        "cores": cores,
        "k": K,
        "catalog": "homedepot titles" if args.data is not None else "synthetic",
        "n_queries": len(queries),
        "sizes": [],
    }
    for size in (int(s) for s in args.sizes.split(",")):
        sized_titles, sized_vectors = resize(titles, vectors, size, args.seed)
        print(f"[bench] {size} items", file=sys.stderr, flush=True)
        result["sizes"].append(bench_size(sized_titles, sized_vectors, queries, encoder))
    if args.data is not None and not args.no_engine:
        print("[bench] Engine.search on the real catalog", file=sys.stderr, flush=True)
        result["engine"] = bench_engine(args.data, queries)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for row in result["sizes"]:
            print(f"{row['items']} items (index build {row['index_build_s']} s):")
            for method, t in {**row["methods"], **row["raw"]}.items():
                print(f"  {method:18s} median {t['median']:7.2f} ms  p99 {t['p99']:7.2f} ms")
        if "engine" in result:
            t = result["engine"]["hybrid-rerank"]
            print(f"Engine.search hybrid-rerank: median {t['median']} ms, p99 {t['p99']} ms")
    return result


if __name__ == "__main__":
    main()
