"""List operations of live recommendation: fusing a live ranking in, choosing what to explore.

Pure functions over hits and a fitted platform, so the real-time service only gathers the
inputs (store reads, bandit draws) and the rules can be tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from shoplm.fitted import FittedPlatform
from shoplm.schema import Hit, Item

FUSE_K = 10  # rank offset when fusing two rankings: small, so the top places matter most
MAX_ARMS = 5000


def fuse(
    hits: Sequence[Hit],
    ranked: Sequence[tuple[str, float]],
    items: Mapping[str, Item],
    source: str,
    weight: float,
    reason: Callable[[str], str],
) -> list[Hit]:
    """Reciprocal-rank fusion of the model's hits with a live ranking of (item id, score).

    Items only the live ranking holds need their ``Item`` in ``items`` (others are left
    out).  Each hit keeps the model's reason unless the live ranking put it there, and
    records its live score under ``source``.
    """
    by_id = {hit.item_id: hit for hit in hits}
    model_part = {hit.item_id: 1.0 / (FUSE_K + rank) for rank, hit in enumerate(hits, 1)}
    live_part = {item_id: weight / (FUSE_K + rank) for rank, (item_id, _) in enumerate(ranked, 1)}
    live_score = dict(ranked)
    fused: list[Hit] = []
    for item_id in dict.fromkeys([*model_part, *live_part]):
        hit = by_id.get(item_id)
        if hit is None:
            item = items.get(item_id)
            if item is None:
                continue
            hit = Hit(item_id=item_id, platform=item.platform, score=0.0, reason="", item=item)
        sources = dict(hit.sources)
        if item_id in live_score:
            sources[source] = live_score[item_id]
        live_leads = live_part.get(item_id, 0.0) > model_part.get(item_id, 0.0)
        update = {
            "score": model_part.get(item_id, 0.0) + live_part.get(item_id, 0.0),
            "sources": sources,
            "reason": reason(item_id) if live_leads else hit.reason,
        }
        fused.append(hit.model_copy(update=update))
    fused.sort(key=lambda h: -h.score)
    return fused


def new_item_ids(fitted: FittedPlatform) -> list[str]:
    """Items the live snapshot added after its fit, in arrival order."""
    rows = getattr(fitted, "live_new_rows", np.zeros(0, dtype=np.int64))
    return [fitted.catalog.item_ids[r] for r in rows.tolist()]


def exploration_arms(
    fitted: FittedPlatform, cold_max_users: int, limit: int = MAX_ARMS
) -> list[str]:
    """Items worth exploring: new since the fit first, then those few users touched."""
    arms = new_item_ids(fitted)
    popularity = fitted.models.get("popularity")
    scores = getattr(popularity, "item_scores", None)  # log1p(users) per fitted row
    if scores is not None and len(scores):
        cold = np.flatnonzero(np.asarray(scores) <= np.log1p(cold_max_users) + 1e-6)
        arms += [fitted.catalog.item_ids[r] for r in cold[: max(0, limit - len(arms))].tolist()]
    return arms[:limit]


def place_explored(
    hits: Sequence[Hit],
    picks: Sequence[tuple[str, float]],
    items: Mapping[str, Item],
    new_ids: set[str],
    k: int,
) -> tuple[list[Hit], list[str]]:
    """The list with the picks in its last places; also the ids actually placed."""
    explored = [
        Hit(
            item_id=item_id,
            platform=items[item_id].platform,
            score=draw,
            reason="new in the shop: showing it to learn who likes it"
            if item_id in new_ids
            else "rarely seen yet: showing it to learn who likes it",
            item=items[item_id],
            sources={"explore": draw},
        )
        for item_id, draw in picks
        if item_id in items
    ]
    placed = [hit.item_id for hit in explored]
    kept = [hit for hit in hits if hit.item_id not in set(placed)]
    return kept[: k - len(explored)] + explored, placed
