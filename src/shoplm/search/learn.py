"""Fit the search model (rankers + expansions) on judged queries or a click log.

Examples are (query, {item row: gain}) with gain >= 0: graded judgments (relevance minus
its floor) or a click log (see :func:`click_examples`: a purchase counts more than a
click).  Only the shop's own examples are used, and an evaluation must pass only its
training queries here.

Expansions learned from a query's own choices would make the ``expansion`` feature look
better in training than it can be on new queries, so the training lists are built in two
folds: each half's features use expansions learned from the other half.  The saved
expansions come from all examples.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Iterable, Mapping, Sequence

import numpy as np

from shoplm.schema import EVENT_WEIGHTS, Event, EventType
from shoplm.search.features import FUSION_FEATURES, RERANK_FEATURES
from shoplm.search.model import SearchModel
from shoplm.search.pipeline import SearchPipeline, dense_query_text
from shoplm.search.query import QueryAnalyzer, learn_expansions
from shoplm.search.rerank import fit_ranker
from shoplm.store.base import SearchClick

Example = tuple[str, Mapping[int, float]]
CHOSEN_SHARE = 0.75  # an item "chosen" for a query has at least this share of its best gain
ENCODE_BATCH = 256


def fit_search_model(
    pipeline: SearchPipeline,
    examples: Sequence[Example],
    seed: int = 42,
    source: str = "judgments",
    progress: Callable[[str], None] | None = None,
) -> SearchModel:
    """Learn expansions, the fusion weights and the re-ranker from ``examples``.

    Raises ValueError when no example has a positive gain.
    """
    say = progress or (lambda _message: None)
    usable = [
        (query.strip(), {int(r): float(g) for r, g in gains.items()})
        for query, gains in examples
        if query.strip() and gains and max(gains.values()) > 0
    ]
    if not usable:
        raise ValueError("no example query has an item with a positive gain: nothing to learn")
    for i, (_, gains) in enumerate(usable):
        bad = [r for r in gains if not 0 <= r < pipeline.fitted.n_items]
        if bad:
            raise ValueError(f"example {i}: item row {bad[0]} is outside the catalog")
    say(f"learning search from {len(usable)} queries")
    titles = pipeline.context.lexical.titles
    vocabulary = pipeline.context.lexical.vocabulary()
    n_items = pipeline.fitted.n_items
    order = list(range(len(usable)))
    random.Random(seed).shuffle(order)
    folds = [sorted(order[::2]), sorted(order[1::2])]

    def expansions_from(indices: Iterable[int]) -> dict[str, list[tuple[str, float]]]:
        if titles is None:
            return {}
        pairs = [(usable[i][0], [titles[r] for r in _chosen(usable[i][1])]) for i in indices]
        return learn_expansions(pairs, vocabulary, n_items)

    related = pipeline.graph_terms  # item-graph expansions: as at search time
    fold_analyzers = [
        QueryAnalyzer(vocabulary, expansions_from(folds[1]), related=related),
        QueryAnalyzer(vocabulary, expansions_from(folds[0]), related=related),
    ]
    say("encoding the training queries")
    typed = _encode(pipeline, [query for query, _ in usable])
    rewritten = _encode(
        pipeline, [dense_query_text(pipeline.analyzer.analyze(query)) for query, _ in usable]
    )
    fusion_lists, rerank_lists = [], []
    for fold, indices in enumerate(folds):
        for i in indices:
            query, gains = usable[i]
            fusion_lists.append(
                pipeline.training_list(query, gains, "hybrid-learned", typed[query])
            )
            rerank_lists.append(
                pipeline.training_list(
                    query,
                    gains,
                    "hybrid-rerank",
                    rewritten[dense_query_text(pipeline.analyzer.analyze(query))],
                    analyzer=fold_analyzers[fold],
                )
            )
    say("fitting the rankers")
    info = {"source": source, "n_examples": len(usable)}
    model = SearchModel(
        rankers={
            "fusion": fit_ranker(fusion_lists, FUSION_FEATURES, info=info),
            "rerank": fit_ranker(rerank_lists, RERANK_FEATURES, info=info),
        },
        expansions=expansions_from(range(len(usable))),
        info=info,
    )
    return model


def click_examples(
    clicks: Iterable[SearchClick | Event], known: Container[str] | None = None
) -> list[tuple[str, dict[str, float]]]:
    """A click log as examples: per query, each item acted on after it, weighted by intent.

    Clicks are events that carry a ``query`` and an ``item_id`` (a click from a results page,
    an add-to-cart, a purchase: ``EventColumns.search_clicks``); the gain of an item is the sum of
    its events' weights (:data:`shoplm.schema.EVENT_WEIGHTS`).  Queries are compared in lower
    case with spaces collapsed; items outside ``known`` are skipped.  Examples keep the order
    in which their queries first occur.
    """
    by_query: dict[str, dict[str, float]] = {}
    for click in clicks:
        if not click.query or not click.item_id:
            continue
        if known is not None and click.item_id not in known:
            continue
        weight = EVENT_WEIGHTS.get(EventType(click.type), 0.0)
        key = " ".join(click.query.lower().split())
        if weight <= 0 or not key:
            continue
        gains = by_query.setdefault(key, {})
        gains[click.item_id] = gains.get(click.item_id, 0.0) + weight
    return list(by_query.items())


def _chosen(gains: Mapping[int, float]) -> list[int]:
    best = max(gains.values())
    return [row for row, gain in gains.items() if gain > 0 and gain >= CHOSEN_SHARE * best]


def _encode(pipeline: SearchPipeline, texts: Sequence[str]) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(texts))
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(unique), ENCODE_BATCH):
        chunk = unique[start : start + ENCODE_BATCH]
        vectors.update(zip(chunk, pipeline.encoder.encode(chunk), strict=True))
    return vectors
