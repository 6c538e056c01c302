"""Offline evaluation that drives the Engine exactly as a shop would.

Each run builds a throw-away engine home, ingests the training part of a dataset through the
normal store, fits with the normal ``fit`` and asks the normal ``rank_users`` / ``search``.
Only the item embeddings are shared between runs (an on-disk cache keyed by model and text),
so a 54k-title catalog is encoded once per machine, not once per run.

The result is one JSON-able dict, the output contract of ``shoplm evaluate``:
``{"task", "dataset", "protocol", "n_users" | "n_queries", "seconds", "metrics": {...}}``.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from shoplm.datasets import RecDataset, SearchDataset, load_dataset
from shoplm.engine import BLEND, Engine
from shoplm.evaluation.metrics import item_coverage, ranking_metrics, search_metrics
from shoplm.evaluation.splits import leave_one_out, temporal_split
from shoplm.schema import DEFAULT_PLATFORM, Event, EventType, Item
from shoplm.search.pipeline import SEARCH_METHODS

DEFAULT_REC_MODELS = ("popularity", "itemknn", "als", "bpr", "content", BLEND)
DEFAULT_SEARCH_MODELS = SEARCH_METHODS
PROTOCOLS = ("leave_one_out", "temporal")
LOO_PROTOCOL = "leave-one-out: last item of each user is the test target; full ranking over all items; the user's training items are excluded"  # noqa: E501
TEMPORAL_PROTOCOL = "temporal: global cutoff at the {quantile:.0%} time quantile; targets are items a user first meets after it; full ranking; training items excluded"  # noqa: E501
SEARCH_PROTOCOL = "full-catalog retrieval over all {n_items} items; queries with >= {min_judged} judged items; gain = relevance - 1; unjudged items count as irrelevant"  # noqa: E501

Progress = Callable[[str], None]


def embedding_cache_path() -> Path:
    """One embedding cache per machine: $SHOPLM_CACHE_DIR, else ~/.cache/shoplm."""
    root = Path(os.environ.get("SHOPLM_CACHE_DIR") or Path.home() / ".cache" / "shoplm")
    root.mkdir(parents=True, exist_ok=True)
    return root / "embeddings.sqlite"


def _open_temp_engine(workdir: str, show_progress: bool) -> Engine:
    return Engine.open(
        Path(workdir) / "home", embedding_cache=embedding_cache_path(), show_progress=show_progress
    )


def _sample(keys: Sequence[str], limit: int | None, seed: int) -> list[str]:
    """A seeded random subset (all keys when ``limit`` is None or large enough), sorted."""
    keys = sorted(keys)
    if limit is None or limit >= len(keys):
        return keys
    return sorted(random.Random(seed).sample(keys, limit))


def training_events(
    sequences: dict[str, list[str]], times: dict[str, list[float]] | None
) -> list[Event]:
    """Training sequences as purchase events; positions stand in for missing times."""
    events = []
    for user_id, item_ids in sequences.items():
        stamps = times[user_id] if times else range(len(item_ids))
        for item_id, stamp in zip(item_ids, stamps, strict=True):
            events.append(
                Event(
                    user_id=user_id,
                    item_id=item_id,
                    type=EventType.PURCHASE,
                    timestamp=float(stamp),
                )
            )
    return events


def evaluate_recommend(
    data: str | Path,
    subset: str | None = None,
    models: Sequence[str] | None = None,
    protocol: str | None = None,
    ks: Sequence[int] = (5, 10, 20),
    max_users: int | None = None,
    seed: int = 42,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Fit every model on the training split and rank the whole catalog for test users."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    dataset = load_dataset(data, subset)
    if not isinstance(dataset, RecDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a recommendation dataset")
    protocol = protocol or dataset.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    models = list(models or DEFAULT_REC_MODELS)

    if protocol == "leave_one_out":
        split = leave_one_out(dataset.sequences)
        train, train_times = split.train_for_test, None
        if dataset.timestamps:
            train_times = {u: dataset.timestamps[u][: len(s)] for u, s in train.items()}
        targets = {u: {t} for u, t in split.test_targets.items()}
        protocol_text = LOO_PROTOCOL
    else:
        if not dataset.timestamps:
            raise ValueError(f"{dataset.name} has no timestamps: use --protocol leave_one_out")
        tsplit = temporal_split(dataset.sequences, dataset.timestamps)
        train, train_times = tsplit.train_sequences, tsplit.train_timestamps
        targets = {u: set(t) for u, t in tsplit.test_targets.items() if t}
        protocol_text = TEMPORAL_PROTOCOL.format(quantile=tsplit.quantile)

    users = _sample([u for u in targets if train.get(u)], max_users, seed)
    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = _open_temp_engine(workdir, show_progress)
        try:
            say(
                f"ingesting {len(dataset.items)} items and {sum(map(len, train.values()))} "
                "training interactions"
            )
            engine.store.upsert_items(dataset.items)
            engine.store.append_events(training_events(train, train_times))
            fit_models = [m for m in models if m != BLEND]
            if BLEND in models:
                fit_models += [m for m in engine.settings.recommend.blend if m not in fit_models]
            say(f"fitting {', '.join(fit_models)}")
            fit_report = engine.fit(models=fit_models)
            fitted = engine.fitted()
            max_k = max(ks)
            relevant = [{fitted.item_index[t] for t in targets[u]} for u in users]
            metrics: dict[str, dict[str, float]] = {}
            timings: dict[str, float] = {}
            for model in models:
                say(f"ranking {len(users)} users with {model}")
                began = time.perf_counter()
                ranked = engine.rank_users(users, model=model, k=max_k)
                timings[model] = round(time.perf_counter() - began, 2)
                scores = ranking_metrics(ranked, relevant, ks)
                scores.pop("n_users", None)
                scores["coverage@10"] = item_coverage(ranked, fitted.n_items, k=min(10, max_k))
                metrics[model] = {name: round(float(v), 6) for name, v in scores.items()}
        finally:
            engine.close()
    return {
        "task": "recommend",
        "dataset": dataset.name,
        "protocol": protocol_text,
        "n_users": len(users),
        "n_items": len(dataset.items),
        "seconds": round(time.perf_counter() - started, 2),
        "fit_seconds": fit_report["seconds"],
        "rank_seconds": timings,
        "metrics": metrics,
    }


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
    queries = [by_id[i] for i in _sample(list(by_id), max_queries, seed)]
    depth = max(k, recall_k)
    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = _open_temp_engine(workdir, show_progress)
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
