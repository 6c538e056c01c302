"""Search evaluation: judged queries, graded nDCG and latency; query-to-category accuracy.

Protocol for a search benchmark (Home Depot):

- The queries are split by query id, seeded, into a training half and a held-out half.
  Whatever search learns from judgments (the learned fusion, the re-ranker, the query
  expansions) is fitted through ``Engine.fit_search`` on the training half only; every
  method, learned or not, is scored on the same held-out queries with at least
  ``min_judged`` judged items, so all numbers of one run are comparable.
- gain = relevance - 1 (1 = "irrelevant" is worth nothing).
- Mode ``full`` (the default): retrieve from the whole catalog; unjudged items count as
  irrelevant.  nDCG@10, MRR@10, Recall@100.
- Mode ``rerank``: each query searches only its own judged items (a ``item_ids`` filter),
  judged items a method does not return are appended in a seeded random order.  Most
  judged items are relevant, so even a random order scores high (the ``random`` row shows
  how high); nDCG@10 and MRR@10.
- Knowledge graph: ``hybrid-rerank`` adds item-graph expansions (brands and categories next
  to the items a query names) to its query understanding; ``hybrid-rerank-no-kg`` is the
  same method, same learned model, with that expansion switched off.  ``kg_expansion``
  says how many held-out queries the graph added words to (none when the catalog has no
  brands, categories or behaviour: its graph has no edges).
- Latency: wall time of ``Engine.search`` per query (hits with item fields and reasons),
  one query at a time, the encoder's query cache emptied before each method, torch and
  faiss on one thread each (one request per core, the way a server runs them: a single
  short query gains nothing from intra-op threads and loses much when cores are busy).

A query-classification dataset (WANDS) has no catalog: each query's class is predicted
as the class whose name's encoder vector is nearest (``class-name``, zero-shot), and with
the names' vectors moved towards the training half's example queries of each class
(``class-name+examples``); accuracy and top-3 accuracy on the held-out half.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shoplm.datasets import QueryClassDataset, SearchDataset, SearchQuery, load_dataset
from shoplm.evaluation.metrics import search_metrics_per_query
from shoplm.evaluation.runner import Progress, open_temp_engine, seeded_sample
from shoplm.schema import DEFAULT_PLATFORM, Item
from shoplm.search.category import CategoryPredictor
from shoplm.search.pipeline import LEARNED_METHODS, NO_KG_METHOD, SEARCH_METHODS

if TYPE_CHECKING:
    from shoplm.engine import Engine

MODES = ("full", "rerank")
DEFAULT_SEARCH_MODELS = SEARCH_METHODS
RANDOM_MODEL = "random"  # mode rerank only: the judged items in a seeded random order
GAIN_OFFSET = 1.0
CLASS_METHODS = ("class-name", "class-name+examples")


def evaluate_search(
    data: str | Path | SearchDataset | QueryClassDataset,
    models: Sequence[str] | None = None,
    min_judged: int = 5,
    max_queries: int | None = None,
    k: int = 10,
    recall_k: int = 100,
    seed: int = 42,
    mode: str = "full",
    train_fraction: float = 0.5,
    max_train_queries: int | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
    encoder: dict | None = None,
    per_query: str | None = None,
    embedding_cache: Path | None = None,
) -> dict:
    """Score each search method on held-out judged queries (see the module docstring).

    A query-classification dataset is scored with :func:`evaluate_query_classification`.
    ``encoder`` overrides encoder settings, e.g. ``{"backend": "onnx-int8"}``.
    ``per_query`` names a metric (e.g. ``"NDCG@10"``) to return for each evaluated query as
    well, under ``"per_query"``, in the same order for every model (for paired comparisons).
    ``embedding_cache`` is the vector cache's file (None: the machine's).
    ``data`` is a dataset folder, or a dataset already loaded (callers that score it twice).
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    loaded = (SearchDataset, QueryClassDataset)
    dataset = data if isinstance(data, loaded) else load_dataset(data)
    if isinstance(dataset, QueryClassDataset):
        return evaluate_query_classification(
            dataset, seed=seed, train_fraction=train_fraction, show_progress=show_progress
        )
    if not isinstance(dataset, SearchDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a search dataset")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    if not 0.0 <= train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in [0, 1), got {train_fraction}")
    known = SEARCH_METHODS + ((RANDOM_MODEL,) if mode == "rerank" else ())
    models = list(models or (DEFAULT_SEARCH_MODELS + known[len(SEARCH_METHODS) :]))
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"unknown search model(s) {unknown}; choose from {known}")
    names = [f"NDCG@{k}", f"MRR@{k}", f"Recall@{recall_k}"]
    if per_query is not None and per_query not in names:
        raise ValueError(f"unknown per-query metric {per_query!r}; choose from {names}")

    train, held_out = split_queries(dataset.queries, train_fraction, seed)
    test_pool = {q.query_id: q for q in held_out if len(q.judgments) >= min_judged}
    queries = [test_pool[i] for i in seeded_sample(list(test_pool), max_queries, seed)]
    if not queries:
        raise ValueError(f"no held-out query has >= {min_judged} judged items")
    train = [q for q in train if max(q.judgments.values(), default=0) > GAIN_OFFSET]
    if max_train_queries is not None:
        by_id = {q.query_id: q for q in train}
        train = [by_id[i] for i in seeded_sample(list(by_id), max_train_queries, seed)]
    learned = [m for m in models if m in LEARNED_METHODS]

    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = open_temp_engine(workdir, show_progress, encoder, embedding_cache)
        try:
            items = [
                item
                if item.platform == DEFAULT_PLATFORM
                else Item.model_validate({**item.model_dump(), "platform": DEFAULT_PLATFORM})
                for item in dataset.items
            ]
            say(f"ingesting {len(items)} items")
            engine.store.upsert_items(items)
            say("fitting (encoding titles; cached after the first run)")
            engine.fit(models=["popularity"])
            search_model: dict = {"source": "default weights (no training queries)"}
            if learned and train:
                say(f"learning search on {len(train)} training queries")
                search_model = engine.fit_search(
                    [
                        (q.text, {i: max(r - GAIN_OFFSET, 0.0) for i, r in q.judgments.items()})
                        for q in train
                    ],
                    source="judgments of the training queries",
                    progress=say,
                )
                search_model.pop("path", None)
            engine.search(queries[0].text, k=1)  # warm-up: load the encoder and indexes
            kg_expansion = _kg_expansion(engine, queries)
            metrics: dict[str, dict[str, float]] = {}
            query_rows: dict[str, list[float]] = {}
            latency: dict[str, dict[str, float]] = {}
            for model in models:
                say(f"searching {len(queries)} queries with {model}")
                _forget_query_vectors(engine)
                ranked, took = _run(engine, queries, model, mode, max(k, recall_k), seed)
                query_scores, _ = search_metrics_per_query(
                    ranked,
                    [q.judgments for q in queries],
                    ks=(k,),
                    recall_ks=(recall_k,),
                    gain_offset=GAIN_OFFSET,
                )
                if per_query is not None:
                    query_rows[model] = [round(float(v), 6) for v in query_scores[per_query]]
                scores = {name: values.mean() for name, values in query_scores.items()}
                if mode == "rerank":
                    scores.pop(f"Recall@{recall_k}", None)  # every judged item is returned
                metrics[model] = {name: round(float(v), 6) for name, v in scores.items()}
                if took:
                    millis = np.array(took) * 1000
                    latency[model] = {
                        "median": round(float(np.median(millis)), 2),
                        "p99": round(float(np.percentile(millis, 99)), 2),
                    }
        finally:
            engine.close()
    return {
        "task": "search",
        "dataset": dataset.name,
        "mode": mode,
        "protocol": _protocol(mode, len(dataset.items), min_judged, train_fraction, seed),
        "n_queries": len(queries),
        "n_train_queries": len(train) if learned else 0,
        "n_items": len(dataset.items),
        "search_model": search_model,
        "kg_expansion": kg_expansion,
        "seconds": round(time.perf_counter() - started, 2),
        "latency_ms": latency,
        "metrics": metrics,
        **({"per_query": {"metric": per_query, "models": query_rows}} if per_query else {}),
    }


def _kg_expansion(engine: Engine, queries: Sequence[SearchQuery]) -> dict:
    """How much the item graph adds to the held-out queries' understanding."""
    graph = engine.graph()
    pipeline = engine.search_pipeline(engine.fitted())
    related = [pipeline.analyzer.analyze(q.text).related for q in queries]
    expanded = sum(1 for terms in related if terms)
    return {
        "graph_edges": graph.n_edges,
        "graph_edge_types": graph.counts()["edges"],
        "queries_expanded": expanded,
        "share_expanded": round(expanded / len(queries), 6) if queries else 0.0,
        "mean_terms": round(sum(map(len, related)) / len(queries), 4) if queries else 0.0,
    }


def split_queries(
    queries: Sequence[SearchQuery], train_fraction: float, seed: int
) -> tuple[list[SearchQuery], list[SearchQuery]]:
    """Seeded split by query id: (training queries, held-out queries), each in id order."""
    ids = sorted(q.query_id for q in queries)
    random.Random(seed).shuffle(ids)
    n_train = round(len(ids) * train_fraction)
    train_ids = set(ids[:n_train])
    train = [q for q in queries if q.query_id in train_ids]
    held_out = [q for q in queries if q.query_id not in train_ids]
    return train, held_out


def _run(
    engine: Engine,
    queries: Sequence[SearchQuery],
    model: str,
    mode: str,
    depth: int,
    seed: int,
) -> tuple[list[list[str]], list[float]]:
    """Ranked item ids per query, and the seconds each search took (none for random)."""
    ranked: list[list[str]] = []
    took: list[float] = []
    rng = random.Random(seed)
    with _one_thread():
        for query in queries:
            judged = sorted(query.judgments)
            if model == RANDOM_MODEL:
                ranked.append(rng.sample(judged, len(judged)))
                continue
            filters = {"item_ids": judged} if mode == "rerank" else None
            size = len(judged) if mode == "rerank" else depth
            began = time.perf_counter()
            hits = engine.search(query.text, k=size, method=model, filters=filters)
            took.append(time.perf_counter() - began)
            ids = [hit.item_id for hit in hits]
            if mode == "rerank":
                seen = set(ids)
                rest = [i for i in judged if i not in seen]
                ids += rng.sample(rest, len(rest))
            ranked.append(ids)
    return ranked, took


def _forget_query_vectors(engine: Engine) -> None:
    """Empty the encoder's in-memory query cache, so each method's latency pays its encode."""
    cache = getattr(engine.encoder, "_query_cache", None)
    clear = getattr(cache, "cache_clear", None)
    if clear is not None:
        clear()


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """torch and faiss on one thread while single queries are timed; restored after."""
    import faiss
    import torch

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


def _protocol(mode: str, n_items: int, min_judged: int, train_fraction: float, seed: int) -> str:
    split = (
        f"queries split by id (seed {seed}): {train_fraction:.0%} train, the rest held out; "
        "learned weights and expansions fitted on the train half only; every method scored "
        f"on held-out queries with >= {min_judged} judged items; gain = relevance - 1; "
        f"{NO_KG_METHOD} = hybrid-rerank without the item-graph query expansion (same "
        "learned model)"
    )
    if mode == "full":
        return f"mode full: retrieval over all {n_items} items, unjudged items irrelevant; {split}"
    return (
        "mode rerank: each query ranks only its own judged items (missed ones appended in "
        f"seeded random order); {split}"
    )


def evaluate_query_classification(
    dataset: QueryClassDataset,
    seed: int = 42,
    train_fraction: float = 0.5,
    show_progress: bool = False,
) -> dict:
    """Accuracy of query -> class by the nearest class-name vector (see module docstring)."""
    started = time.perf_counter()
    labelled = [(qid, text, label) for qid, text, label in dataset.queries if label]
    if not labelled:
        raise ValueError(f"{dataset.name} has no labelled query")
    ids = sorted(qid for qid, _, _ in labelled)
    random.Random(seed).shuffle(ids)
    train_ids = set(ids[: round(len(ids) * train_fraction)])
    train = [q for q in labelled if q[0] in train_ids]
    test = [q for q in labelled if q[0] not in train_ids]
    labels = sorted({label for _, _, label in labelled})
    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = open_temp_engine(workdir, show_progress)
        try:
            encoder = engine.encoder
            zero_shot = CategoryPredictor.from_names(labels, encoder)
            vectors = encoder.encode([text for _, text, _ in labelled])
        finally:
            engine.close()
    vector_of = {qid: v for (qid, _, _), v in zip(labelled, vectors, strict=True)}
    with_examples = zero_shot.with_examples(
        np.stack([vector_of[qid] for qid, _, _ in train]) if train else np.zeros((0, 0)),
        [label for _, _, label in train],
    )
    metrics = {
        "class-name": _accuracy(zero_shot, test, vector_of),
        "class-name+examples": _accuracy(with_examples, test, vector_of),
    }
    metrics["class-name"]["accuracy_all_queries"] = _accuracy(zero_shot, labelled, vector_of)[
        "accuracy"
    ]
    return {
        "task": "query_classification",
        "dataset": dataset.name,
        "protocol": (
            f"{len(labels)} classes, predicted by the nearest class-name vector of the text "
            f"encoder (zero-shot, no catalog); '+examples' also moves each class vector "
            f"halfway towards the mean of its training queries; queries split by id "
            f"(seed {seed}): {len(train)} train, {len(test)} held out and scored; "
            f"'accuracy_all_queries' scores the zero-shot method on every labelled query"
        ),
        "n_queries": len(test),
        "n_classes": len(labels),
        "seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
    }


def _accuracy(
    predictor: CategoryPredictor,
    queries: Sequence[tuple[str, str, str]],
    vector_of: dict[str, np.ndarray],
) -> dict[str, float]:
    if not queries:
        return {"accuracy": 0.0, "top3_accuracy": 0.0}
    q = np.stack([vector_of[qid] for qid, _, _ in queries])
    scores = q @ predictor.vectors.T
    top3 = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    truth = np.array([predictor.index[label] for _, _, label in queries])
    return {
        "accuracy": round(float((top3[:, 0] == truth).mean()), 6),
        "top3_accuracy": round(float((top3 == truth[:, None]).any(axis=1).mean()), 6),
    }
