"""A shopper's profile: what they like, what they spend, and where their interest is moving.

Built from the user's events and the catalog (and, when given, the item graph for the
attributes and external entities their items share), so the API and the console can show
it and a merchant can see why the user gets what they get.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shoplm.graph.model import ATTRIBUTE, ENTITY, NODE_TYPES, ItemGraph
from shoplm.schema import EVENT_WEIGHTS, Event, EventType, Item

BANDS = ("budget", "mid-range", "premium")


def _ranked(weights: Counter[str], top: int, key: str) -> list[dict[str, Any]]:
    total = sum(weights.values())
    ordered = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [
        {key: name, "weight": round(w, 4), "share": round(w / total, 4) if total else 0.0}
        for name, w in ordered
    ]


def price_band(prices: Sequence[float], catalog_prices: np.ndarray | None) -> dict[str, Any] | None:
    """Spread of the user's item prices and where their median sits in the catalog."""
    values = np.array([p for p in prices if p is not None and not math.isnan(p)], dtype=float)
    if len(values) == 0:
        return None
    out: dict[str, Any] = {
        "min": float(values.min()),
        "p25": float(np.percentile(values, 25)),
        "median": float(np.median(values)),
        "p75": float(np.percentile(values, 75)),
        "max": float(values.max()),
    }
    known = None
    if catalog_prices is not None:
        known = np.asarray(catalog_prices, dtype=float)
        known = known[~np.isnan(known)]
    if known is not None and len(known):
        percentile = float((known <= out["median"]).mean())
        out["catalog_percentile"] = round(percentile, 4)
        low, high = np.percentile(known, [100 / 3, 200 / 3])
        out["band"] = BANDS[0] if out["median"] <= low else BANDS[1 if out["median"] <= high else 2]
    return out


def interest_shift(
    categories: Sequence[str], weights: Sequence[float], recent_share: float = 0.3, top: int = 3
) -> dict[str, Any] | None:
    """Compare the category mix of the latest events with the earlier ones.

    ``distance`` is the total-variation distance between the two mixes (0 = same taste,
    1 = nothing in common); ``rising`` / ``fading`` list the categories that gained or lost
    the most share.  None with fewer than four categorised events.
    """
    if len(categories) < 4:
        return None
    cut = len(categories) - max(1, math.ceil(recent_share * len(categories)))
    earlier, recent = Counter[str](), Counter[str]()
    for position, (category, weight) in enumerate(zip(categories, weights, strict=True)):
        (recent if position >= cut else earlier)[category] += weight
    e_total, r_total = sum(earlier.values()), sum(recent.values())
    if not e_total or not r_total:
        return None
    changes = {c: recent[c] / r_total - earlier[c] / e_total for c in set(earlier) | set(recent)}
    distance = 0.5 * sum(abs(v) for v in changes.values())

    def listing(items: list[tuple[str, float]]) -> list[dict[str, Any]]:
        return [
            {
                "category": c,
                "recent_share": round(recent[c] / r_total, 4),
                "earlier_share": round(earlier[c] / e_total, 4),
                "change": round(v, 4),
            }
            for c, v in items[:top]
        ]

    ordered = sorted(changes.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "distance": round(distance, 4),
        "recent_events": len(categories) - cut,
        "rising": listing([kv for kv in ordered if kv[1] > 0]),
        "fading": listing([kv for kv in reversed(ordered) if kv[1] < 0]),
    }


def shared_traits(
    graph: ItemGraph, item_ids: Sequence[str], weights: Sequence[float], top: int = 5
) -> list[dict[str, Any]]:
    """Attribute values and external entities that several of the user's items share."""
    wanted = {NODE_TYPES.index(ATTRIBUTE), NODE_TYPES.index(ENTITY)}
    score: Counter[int] = Counter()
    items: dict[int, set[str]] = {}
    for item_id, weight in zip(item_ids, weights, strict=True):
        node = graph.item_node(item_id)
        if node is None:
            continue
        near, _ = graph.neighbours(node)
        for n in set(near.tolist()):
            if int(graph.node_type[n]) in wanted:
                score[n] += weight
                items.setdefault(n, set()).add(item_id)
    shared = [(n, s) for n, s in score.items() if len(items[n]) >= 2]
    shared.sort(key=lambda ns: (-ns[1], graph.node_keys[ns[0]]))
    return [
        {
            "id": graph.node_name(n),
            "label": graph.node_labels[n],
            "weight": round(s, 4),
            "items": len(items[n]),
        }
        for n, s in shared[:top]
    ]


def build_profile(
    user_id: str,
    events: Sequence[Event],
    items: Mapping[str, Item],
    catalog_prices: np.ndarray | None = None,
    graph: ItemGraph | None = None,
    top: int = 5,
    recent_share: float = 0.3,
) -> dict[str, Any]:
    """The profile of one user from their events (oldest first) and the catalog.

    Each event counts with its type's weight (a purchase more than a view); events on
    items no longer in the catalog are skipped.
    """
    categories: Counter[str] = Counter()
    departments: Counter[str] = Counter()
    brands: Counter[str] = Counter()
    seen: list[str] = []
    prices: list[float] = []
    shift_categories: list[str] = []
    shift_weights: list[float] = []
    searches: list[str] = []
    per_item: Counter[str] = Counter()
    for event in events:
        if event.type == EventType.SEARCH and event.query:
            searches.append(event.query)
            continue
        weight = EVENT_WEIGHTS.get(event.type, 0.0)
        item = items.get(event.item_id or "")
        if weight <= 0 or item is None:
            continue
        if item.item_id not in per_item:
            seen.append(item.item_id)
            if item.price is not None:
                prices.append(item.price)
        per_item[item.item_id] += weight
        if item.brand:
            brands[item.brand] += weight
        if item.category:
            categories[item.category] += weight
            departments[item.category_path[0]] += weight
            shift_categories.append(item.category)
            shift_weights.append(weight)
    return {
        "user_id": user_id,
        "n_events": len(events),
        "n_items": len(seen),
        "top_categories": _ranked(categories, top, "category"),
        "top_departments": _ranked(departments, top, "category"),
        "top_brands": _ranked(brands, top, "brand"),
        "price_band": price_band(prices, catalog_prices),
        "interest_shift": interest_shift(shift_categories, shift_weights, recent_share),
        "shared_traits": (
            shared_traits(graph, seen, [per_item[i] for i in seen], top) if graph else []
        ),
        "recent_searches": list(dict.fromkeys(reversed(searches)))[:top],
    }
