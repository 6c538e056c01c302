"""Query expansion from the item graph: words from the brands and categories next to a query.

A query like "espresso" matches a few item titles; those items sit in "Kitchen > Coffee" and
under the brand "Brewmaster", and are bought with grinders.  The names of those neighbours
("coffee", "kitchen", "brewmaster", "grinder") are terms the search can add with a lower
weight, so items described with the shop's own words are found too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from shoplm.graph.model import (
    BRAND,
    BRAND_EDGE,
    CATEGORY,
    CATEGORY_EDGE,
    ITEM,
    NODE_TYPES,
    PARENT_EDGE,
    ItemGraph,
    edge_group,
)
from shoplm.text.tokenize import tokenize

_LABELLED = (ITEM, BRAND, CATEGORY)
CO_CLICK_SHARE = 0.3  # how much a behaviour neighbour's brand/category counts
PARENT_SHARE = 0.5  # how much the parent of a matched category counts


def _label_index(graph: ItemGraph) -> tuple[dict[str, np.ndarray], list[set[str]]]:
    """token -> nodes whose label holds it (items, brands, categories), and node tokens."""
    wanted = {NODE_TYPES.index(t) for t in _LABELLED}
    postings: dict[str, list[int]] = defaultdict(list)
    tokens: list[set[str]] = [set() for _ in range(graph.n_nodes)]
    for node, (code, label) in enumerate(
        zip(graph.node_type.tolist(), graph.node_labels, strict=True)
    ):
        if code not in wanted:
            continue
        tokens[node] = set(tokenize(label))
        for token in tokens[node]:
            postings[token].append(node)
    return {t: np.array(n, dtype=np.int64) for t, n in postings.items()}, tokens


def _linked(graph: ItemGraph, node: int, edge_type: str) -> np.ndarray:
    """Neighbours of ``node`` over edges of one type."""
    code = graph.edge_type_id(edge_type)
    if code is None:
        return np.zeros(0, dtype=np.int64)
    near, ids = graph.neighbours(node)
    return near[graph.etype[ids] == code]


def expansion_terms(
    graph: ItemGraph, query_tokens: Iterable[str], k: int = 10, max_items: int = 50
) -> list[tuple[str, float]]:
    """Up to ``k`` (term, weight) pairs, weight in (0, 1], best first; query words excluded.

    Seeds are items whose title holds at least half the query's tokens (the best
    ``max_items``), and brands/categories whose name holds a query token.  Their brand and
    category neighbours (and, at ``CO_CLICK_SHARE``, those of items bought or viewed with
    them) give the terms.
    """
    query = {t for raw in query_tokens for t in tokenize(str(raw))}
    if not query or k <= 0:
        return []
    index, node_tokens = graph.cached("expand.labels", lambda: _label_index(graph))
    item_code = NODE_TYPES.index(ITEM)
    matches: Counter[int] = Counter()
    for token in query:
        for node in index.get(token, np.zeros(0, dtype=np.int64)).tolist():
            matches[node] += 1
    items = [(n, c / len(query)) for n, c in matches.items() if graph.node_type[n] == item_code]
    items = [(n, s) for n, s in items if s >= 0.5]
    items.sort(key=lambda ns: (-ns[1], ns[0]))
    names = [(n, c / max(1, len(node_tokens[n]))) for n, c in matches.items()]
    names = [(n, s) for n, s in names if graph.node_type[n] != item_code]

    weight: Counter[int] = Counter()

    def add_item_neighbours(item: int, share: float) -> None:
        for brand in _linked(graph, item, BRAND_EDGE).tolist():
            weight[brand] += share
        for leaf in _linked(graph, item, CATEGORY_EDGE).tolist():
            weight[leaf] += share
            for parent in _parents(graph, leaf):
                weight[parent] += share * PARENT_SHARE

    for item, score in items[:max_items]:
        add_item_neighbours(item, score)
        near, ids = graph.neighbours(item)
        behaviour = np.array(
            [edge_group(graph.edge_types[t]) == "behaviour" for t in graph.etype[ids]]
        )
        if behaviour.any():
            strongest = np.argsort(-graph.weight[ids[behaviour]], kind="stable")[:5]
            for other in near[behaviour][strongest].tolist():
                add_item_neighbours(other, score * CO_CLICK_SHARE)
    for node, score in names:
        if graph.type_of(node) == CATEGORY:
            for parent in _parents(graph, node):
                weight[parent] += score * PARENT_SHARE
            for child in _linked(graph, node, PARENT_EDGE).tolist():
                if child not in _parents(graph, node):
                    weight[child] += score * PARENT_SHARE
            members = _category_items(graph, node, limit=500)
        else:
            members = _linked(graph, node, BRAND_EDGE)[:500]
        for member in members.tolist():
            add_item_neighbours(member, score / max(1, len(members)))

    terms: Counter[str] = Counter()
    for node, w in weight.items():
        for token in node_tokens[node] - query:
            terms[token] += w
    if not terms:
        return []
    best = max(terms.values())
    ordered = sorted(terms.items(), key=lambda tw: (-tw[1], tw[0]))[:k]
    return [(term, round(w / best, 4)) for term, w in ordered]


def _parents(graph: ItemGraph, category: int) -> list[int]:
    """The parent of a category node (a list: empty at the root)."""
    code = graph.edge_type_id(PARENT_EDGE)
    if code is None:
        return []
    start, stop = graph.indptr[category], graph.indptr[category + 1]
    out = graph.indices[start:stop][graph.etype[start:stop] == code]
    return [int(p) for p in out]


def _category_items(graph: ItemGraph, category: int, limit: int) -> np.ndarray:
    """Items filed under a category or any category below it (at most ``limit``)."""
    found: list[int] = []
    pending = [category]
    seen = {category}
    while pending and len(found) < limit:
        node = pending.pop()
        found.extend(_linked(graph, node, CATEGORY_EDGE).tolist())
        parents = set(_parents(graph, node))
        for child in _linked(graph, node, PARENT_EDGE).tolist():
            if child not in parents and child not in seen:
                seen.add(child)
                pending.append(child)
    return np.array(found[:limit], dtype=np.int64)
