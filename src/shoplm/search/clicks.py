"""Learn search from the shop's own click log at fit time, kept only where it helps.

A shop that logs what its shoppers click, cart and buy from search results (events that carry
the query and the item) holds better training data for its search than any public benchmark.
At each fit, once the log has :data:`MIN_QUERIES` queries (of which the :data:`MAX_QUERIES`
with the most clicks are used), the rankers and query expansions
(:func:`shoplm.search.learn.fit_search_model`) are fitted on a seeded share of the queries and
scored on the others (nDCG@10 of the full pipeline, the click weights as gains) against the
default weights.  Only a model that scores higher is kept: it is fitted again on every query
and saved.  Otherwise search keeps the defaults (a click-learned model of an earlier fit is
removed, since it was fitted on an older log).  A model fitted on judgments through
``Engine.fit_search`` is the shop's own choice and is never replaced.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shoplm.evaluation.metrics import search_metrics_per_query
from shoplm.interactions import Interactions
from shoplm.search.learn import click_examples, fit_search_model
from shoplm.search.model import MODEL_FILE, SearchModel
from shoplm.search.pipeline import SearchPipeline, popularity_feature
from shoplm.store.base import EventColumns, SearchClick

if TYPE_CHECKING:
    from shoplm.fitted import FittedPlatform
    from shoplm.text.encoder import TextEncoder

CLICK_SOURCE = "click log"
MIN_QUERIES = 50  # fewer, and the held-out share is too small to tell two models apart
VALID_SHARE = 0.2
MAX_QUERIES = 20_000  # the busiest ones: each costs a candidate list per fit (twice)
K = 10
Example = tuple[str, dict[str, float]]


def learn_search_from_clicks(
    clicks: Sequence[SearchClick],
    fitted: FittedPlatform,
    encoder: TextEncoder,
    folder: Path,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
    popularity: np.ndarray | None = None,
    max_queries: int = MAX_QUERIES,
) -> dict[str, Any]:
    """Fit, validate and keep (or drop) the platform's click-learned search model.

    ``folder`` is where the platform's search model lives.  ``popularity`` is the popularity
    feature while learning and validating (:func:`popularity_outside_search`; None: none);
    ``max_queries`` caps the queries learned from, the busiest kept.
    Returns what was decided and the validation scores it was decided on.
    """
    say = progress or (lambda _message: None)
    examples = click_examples(clicks, fitted.item_index)
    report: dict[str, Any] = {"click_queries": len(examples), "learned": False}
    examples = _busiest(examples, max_queries)
    current = SearchModel.load(folder)
    source = current.info.get("source") if current is not None else None
    if current is not None and source != CLICK_SOURCE:
        return {**report, "reason": f"kept the model fitted on {source}"}
    if len(examples) < MIN_QUERIES:
        forget_click_model(folder)
        return {**report, "reason": f"default weights: under {MIN_QUERIES} queries with clicks"}
    train, valid = _split(examples, seed)
    say(f"learning search from {len(train)} clicked queries, validating on {len(valid)}")

    def pipeline(model: SearchModel | None = None) -> SearchPipeline:
        built = SearchPipeline(fitted, encoder, model)
        built.context.popularity = popularity
        return built

    candidate = fit_search_model(pipeline(), _rows(train, fitted.item_index), seed, CLICK_SOURCE)
    scores = {
        "default": validation_ndcg(pipeline(), valid),
        "learned": validation_ndcg(pipeline(candidate), valid),
    }
    report["validation"] = {"queries": len(valid), f"ndcg@{K}": scores}
    if scores["learned"] <= scores["default"]:
        forget_click_model(folder)
        return {**report, "reason": "default weights: the learned model did not validate higher"}
    say(f"learning search from all {len(examples)} clicked queries")
    model = fit_search_model(pipeline(), _rows(examples, fitted.item_index), seed, CLICK_SOURCE)
    model.info["validation"] = report["validation"]
    model.save(folder)
    return {**report, "learned": True, "reason": "the learned model validated higher"}


def popularity_outside_search(columns: EventColumns, item_ids: Sequence[str]) -> np.ndarray | None:
    """The popularity feature (0..1) from the behaviour that carries no query.

    A query's clicks make its own answers popular.  Learned with them in the feature, the
    ranker trusts popularity far beyond what it tells about a new query's answers: on a click
    log made of Home Depot's judged training queries the model so learned validated at 0.61
    nDCG@10 against the defaults' 0.46 and scored 0.26 against their 0.41 on held-out queries.
    So search learns and validates with the popularity of everything else the shop logs
    (views, carts, purchases outside search): the popularity model's ``log1p(distinct users)``
    (without a time decay), scaled as the served feature is; with no such behaviour, none.
    """
    users = Interactions.from_events(columns.without_search(), item_ids).item_popularity()
    return popularity_feature(np.log1p(users))  # the popularity model's score, undecayed


def validation_ndcg(pipeline: SearchPipeline, examples: Sequence[Example]) -> float:
    """Mean nDCG@10 of the full pipeline over ``examples`` (gains: the click weights)."""
    item_ids = pipeline.fitted.catalog.item_ids
    ranked = [
        [item_ids[c.row] for c in pipeline.search(query, k=K, method="hybrid-rerank")]
        for query, _ in examples
    ]
    per_query, _ = search_metrics_per_query(
        ranked, [gains for _, gains in examples], ks=(K,), recall_ks=(K,), gain_offset=0.0
    )
    return round(float(per_query[f"NDCG@{K}"].mean()), 6)


def _busiest(examples: Sequence[Example], limit: int) -> list[Example]:
    """The ``limit`` queries with the most click weight, in log order (all when fewer)."""
    if len(examples) <= limit:
        return list(examples)
    order = sorted(range(len(examples)), key=lambda i: -sum(examples[i][1].values()))
    keep = set(order[:limit])  # a stable sort: ties go to the query logged first
    return [e for i, e in enumerate(examples) if i in keep]


def _split(examples: Sequence[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded share of the queries held out, the rest to fit on (both in log order)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = set(order[: max(1, round(len(examples) * VALID_SHARE))])
    return (
        [e for i, e in enumerate(examples) if i not in held],
        [e for i, e in enumerate(examples) if i in held],
    )


def _rows(examples: Sequence[Example], item_index: Mapping[str, int]) -> list:
    return [(query, {item_index[i]: g for i, g in gains.items()}) for query, gains in examples]


def forget_click_model(folder: Path) -> None:
    """Remove a click-learned model of an earlier fit, so the defaults apply.

    A model fitted on judgments stays: it is the shop's own choice.
    """
    current = SearchModel.load(folder)
    if current is not None and current.info.get("source") == CLICK_SOURCE:
        (Path(folder) / MODEL_FILE).unlink(missing_ok=True)


__all__ = [
    "CLICK_SOURCE",
    "MIN_QUERIES",
    "forget_click_model",
    "learn_search_from_clicks",
    "popularity_outside_search",
    "validation_ndcg",
]
