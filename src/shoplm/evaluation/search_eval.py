"""Search evaluation: judged queries against the whole catalog, graded nDCG and latency."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shoplm.datasets import SearchDataset, load_dataset
from shoplm.evaluation.metrics import search_metrics
from shoplm.evaluation.runner import Progress, open_temp_engine, seeded_sample
from shoplm.schema import DEFAULT_PLATFORM, Item
from shoplm.search.pipeline import SEARCH_METHODS

DEFAULT_SEARCH_MODELS = SEARCH_METHODS
SEARCH_PROTOCOL = "full-catalog retrieval over all {n_items} items; queries with >= {min_judged} judged items; gain = relevance - 1; unjudged items count as irrelevant"  # noqa: E501


def evaluate_search(
    data: str | Path,
    models: Sequence[str] | None = None,
    min_judged: int = 5,
    max_queries: int | None = None,
    k: int = 10,
    recall_k: int = 100,
    seed: int = 42,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Retrieve from the whole catalog for every judged query; graded nDCG and latency."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    dataset = load_dataset(data)
    if not isinstance(dataset, SearchDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a search dataset")
    models = list(models or DEFAULT_SEARCH_MODELS)
    unknown = [m for m in models if m not in SEARCH_METHODS]
    if unknown:
        raise ValueError(f"unknown search model(s) {unknown}; choose from {SEARCH_METHODS}")
    judged = dataset.filtered(min_judged)
    by_id = {q.query_id: q for q in judged.queries}
    queries = [by_id[i] for i in seeded_sample(list(by_id), max_queries, seed)]
    depth = max(k, recall_k)
    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = open_temp_engine(workdir, show_progress)
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
            engine.search(queries[0].text, k=1)  # warm-up: load the encoder and indexes
            metrics: dict[str, dict[str, float]] = {}
            latency: dict[str, dict[str, float]] = {}
            for model in models:
                say(f"searching {len(queries)} queries with {model}")
                ranked, took = [], []
                for query in queries:
                    began = time.perf_counter()
                    hits = engine.search(query.text, k=depth, method=model)
                    took.append(time.perf_counter() - began)
                    ranked.append([hit.item_id for hit in hits])
                scores = search_metrics(
                    ranked, [q.judgments for q in queries], ks=(k,), recall_ks=(recall_k,)
                )
                scores.pop("n_queries", None)
                scores.pop("n_queries_no_relevant", None)
                metrics[model] = {name: round(float(v), 6) for name, v in scores.items()}
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
        "protocol": SEARCH_PROTOCOL.format(n_items=len(dataset.items), min_judged=min_judged),
        "n_queries": len(queries),
        "n_items": len(dataset.items),
        "seconds": round(time.perf_counter() - started, 2),
        "latency_ms": latency,
        "metrics": metrics,
    }
