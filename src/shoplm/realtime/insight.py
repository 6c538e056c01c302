"""Read-side views for people: a user's profile, and why an item is shown.

Both gather what the engine and the real-time layer already know (history, session intent,
model contributions, live popularity, exploration beliefs) into plain dicts; the HTTP API
and the web console show them as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from shoplm.realtime.service import Realtime
from shoplm.schema import EVENT_WEIGHTS
from shoplm.text.tokenize import tokenize

RECENT = 20


def user_profile(realtime: Realtime, user_id: str, platform: str | None = None) -> dict[str, Any]:
    """What we know of a user: the engine's profile, recent events, the live session."""
    engine = realtime.engine
    fitted = engine.fitted(platform)
    events = engine.store.user_events(fitted.platform, user_id, limit=200)
    items = engine.store.get_items(fitted.platform, [e.item_id for e in events if e.item_id])
    recent = [
        {
            "type": e.type.value,
            "item_id": e.item_id,
            "title": items[e.item_id].title if e.item_id in items else None,
            "query": e.query,
            "value": e.value,
            "timestamp": e.timestamp,
        }
        for e in reversed(events[-RECENT:])
    ]
    intent = realtime.intent(fitted, events)
    session = None
    if intent is not None:
        ids = [fitted.catalog.item_ids[r] for r in intent.rows]
        titles = engine.store.get_items(fitted.platform, ids)
        session = {
            "strength": round(intent.strength, 3),
            "items": [
                {"item_id": i, "title": titles[i].title if i in titles else None, "weight": w}
                for i, w in zip(ids, intent.weights, strict=True)
            ],
        }
    return {
        # top categories and brands, price band, interest shift, shared traits (graph/)
        **engine.profile(user_id, platform=fitted.platform),
        "user_id": user_id,
        "platform": fitted.platform,
        "known_to_fit": user_id in fitted.user_index,
        "events": len(events),
        "event_types": dict(Counter(e.type.value for e in events)),
        "first_seen": events[0].timestamp if events else None,
        "last_seen": events[-1].timestamp if events else None,
        "recent": recent,
        "session": session,
    }


def explain(
    realtime: Realtime,
    item_id: str,
    user_id: str | None = None,
    query: str | None = None,
    platform: str | None = None,
) -> dict[str, Any]:
    """Why this item would be shown to this user and/or for this query."""
    engine = realtime.engine
    fitted = engine.fitted(platform)
    item = engine.store.get_item(fitted.platform, item_id)
    if item is None or item_id not in fitted.item_index:
        raise KeyError(f"item {item_id!r} is not in the catalog of {fitted.platform!r}")
    row = fitted.item_index[item_id]
    new_rows = getattr(fitted, "live_new_rows", np.zeros(0, dtype=np.int64))
    out: dict[str, Any] = {
        "item_id": item_id,
        "platform": fitted.platform,
        "title": item.title,
        "new_since_fit": bool(row in set(new_rows.tolist())),
        "live_popularity": round(realtime.counters.score(fitted.platform, item_id), 4),
        "exploration": realtime.bandit.belief(fitted.platform, item_id),
    }
    if query:
        out["query"] = _explain_query(realtime, fitted, row, item, query)
    if user_id:
        out["user"] = _explain_user(realtime, fitted, row, user_id)
        try:  # a path in the item graph from one of the user's items, when there is one
            out["user"]["graph"] = engine.explain(user_id, item_id, platform=fitted.platform)
        except KeyError:  # an item newer than the graph
            out["user"]["graph"] = None
    return out


def _explain_query(realtime: Realtime, fitted: Any, row: int, item: Any, query: str) -> dict:
    allowed = np.zeros(fitted.n_items, dtype=bool)
    allowed[row] = True
    _, bm25 = fitted.lexical_index.search(query, 1, allowed=allowed)
    vector = realtime.engine.encoder.encode_query(query)
    item_tokens = set(tokenize(f"{item.title} {item.brand} {item.category} {item.description}"))
    return {
        "text": query,
        "matched_words": sorted(set(tokenize(query)) & item_tokens),
        "bm25": float(bm25[0]) if len(bm25) else 0.0,
        "meaning_similarity": round(float(fitted.embeddings[row] @ vector), 4),
    }


def _explain_user(realtime: Realtime, fitted: Any, row: int, user_id: str) -> dict:
    engine = realtime.engine
    events = engine.store.user_events(fitted.platform, user_id, limit=200)
    history = [
        e.item_id
        for e in events
        if e.item_id in fitted.item_index and EVENT_WEIGHTS.get(e.type, 0) > 0
    ]
    history = list(dict.fromkeys(reversed(history)))[:50]  # newest first, once each
    nearest = []
    if history:
        rows = np.array([fitted.item_index[i] for i in history])
        similarity = fitted.embeddings[rows] @ fitted.embeddings[row]
        titles = engine.store.get_items(fitted.platform, history)
        for j in np.argsort(-similarity)[:3].tolist():
            nearest.append(
                {
                    "item_id": history[j],
                    "title": titles[history[j]].title if history[j] in titles else None,
                    "similarity": round(float(similarity[j]), 4),
                }
            )
    pool = realtime.settings.candidate_pool
    hits = engine.recommend(user_id, k=pool, platform=fitted.platform, exclude_seen=False)
    rank = next(
        (i for i, hit in enumerate(hits, 1) if hit.item_id == fitted.catalog.item_ids[row]), None
    )
    intent = realtime.intent(fitted, events)
    return {
        "user_id": user_id,
        "history_items": len(history),
        "in_history": fitted.catalog.item_ids[row] in history,
        "nearest_history": nearest,
        "model_rank": rank,
        "model_sources": hits[rank - 1].sources if rank else {},
        "model_reason": hits[rank - 1].reason if rank else f"not in the model's top {pool}",
        "session_similarity": (
            round(float(intent.vector @ fitted.embeddings[row]), 4) if intent else None
        ),
    }
