"""The "kg" recommender: personalised PageRank over the item graph.

A random walk starts at the user's history items and, at each step, either jumps back to
them (probability ``alpha``) or follows an edge.  At a node, the walk first picks an edge
family (behaviour, brand, category, attribute, knowledge) in proportion to ``weights``
among the families the node has, then an edge of that family in proportion to its weight.
Choosing the family first keeps large co-purchase counts from drowning the catalog and
knowledge edges.  An item's score is how much of the walk ends on it after ``steps``
steps, so items reached by many short paths (same brand, same category, shared director,
bought together) score highest, and every score is backed by real paths that
``graph.explain`` can show.

The walk uses the catalog and knowledge edges of the platform's graph, but behaviour edges
made only from the interactions the model is fitted on: the engine's graph holds every
event, and a fit on a validation split (the hybrid's ranker, tuning) must not walk an edge
that a held-out item made.

The learned state is the walk matrix over the graph's "core" (nodes that can lie on a path
between two items: dead-end entity and attribute nodes are pruned), saved as safetensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from shoplm.graph.build import build_graph, with_behaviour
from shoplm.graph.model import ITEM, NODE_TYPES, ItemGraph, edge_group
from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch
from shoplm.recommend.itemknn import history_matrix
from shoplm.schema import Item
from shoplm.store.base import EventColumns

EDGE_GROUPS = ("behaviour", "brand", "category", "attribute", "knowledge")
DEFAULT_WEIGHTS = {
    "behaviour": 1.0,
    "brand": 1.0,
    "category": 1.0,
    "attribute": 1.0,
    "knowledge": 1.0,
}
GRAPH_OPTION = "graph"  # FitContext.options key under which the engine passes its graph


def core_nodes(graph: ItemGraph, adjacency: sp.csr_matrix, max_rounds: int = 10) -> np.ndarray:
    """Nodes kept for the walk: items, and other nodes with at least two neighbours.

    A non-item node with one neighbour can only send the walk back where it came from,
    so it is pruned (repeatedly: removing one leaf can make another).
    """
    keep = np.ones(graph.n_nodes, dtype=bool)
    is_item = graph.node_type == NODE_TYPES.index(ITEM)
    binary = adjacency.copy()
    binary.data[:] = 1.0
    for _ in range(max_rounds):
        degree = np.asarray(binary @ keep.astype(np.float32)).ravel()
        drop = keep & ~is_item & (degree < 2)
        if not drop.any():
            break
        keep &= ~drop
    return np.flatnonzero(keep)


def walk_matrix(
    graph: ItemGraph, weights: Mapping[str, float]
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Row-stochastic transition matrix over the core nodes.

    Returns (transition [n_core, n_core], core node ids, edges per core node).
    """
    unknown = set(weights) - set(EDGE_GROUPS)
    if unknown:
        raise ValueError(f"unknown edge groups {sorted(unknown)}; known: {EDGE_GROUPS}")
    by_group: dict[str, list[str]] = {}
    for name in graph.edge_types:
        by_group.setdefault(edge_group(name), []).append(name)
    used = [g for g in EDGE_GROUPS if weights.get(g, 0.0) > 0 and g in by_group]
    allowed = [name for g in used for name in by_group[g]]
    core = core_nodes(graph, graph.adjacency(allowed))
    n = len(core)
    parts, shares = [], []
    for group in used:
        a = graph.adjacency(by_group[group])[core][:, core].tocsr()
        degree = np.asarray(a.sum(axis=1)).ravel()
        inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        parts.append(sp.diags(inverse.astype(np.float32)) @ a)
        shares.append(weights[group] * (degree > 0))
    if not parts:
        empty = sp.csr_matrix((n, n), dtype=np.float32)
        return empty, core, np.zeros(n, dtype=np.float32)
    share = np.vstack(shares).astype(np.float64)
    total = share.sum(axis=0)
    share = np.divide(share, total, out=np.zeros_like(share), where=total > 0)
    transition = sum(
        (sp.diags(s.astype(np.float32)) @ p for s, p in zip(share, parts, strict=True)),
        start=sp.csr_matrix((n, n), dtype=np.float32),
    )
    links = np.asarray((graph.adjacency(allowed)[core][:, core] > 0).sum(axis=1)).ravel()
    return transition.tocsr().astype(np.float32), core, links.astype(np.float32)


def personalised_pagerank(
    transposed: sp.csr_matrix,
    seeds: np.ndarray,
    alpha: float,
    steps: int,
    forward: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Walk mass per node after ``steps`` steps; ``seeds`` is [n_nodes, n_users], columns sum
    to 1 (or 0 for a user without history).  Mass leaving through dead ends restarts.

    ``forward`` (the transition itself, ``transposed.T`` in CSR) lets a step whose mass sits
    on few nodes read only those nodes' rows instead of the whole graph: a user's history
    items touch a sliver of the edges, so a one-user request skips the first full passes.
    """
    mass = seeds.copy()
    for _ in range(steps):
        seeded = np.flatnonzero(mass.any(axis=1)) if forward is not None else None
        if seeded is not None and len(seeded) * 20 < len(mass):
            moved = np.asarray(forward[seeded].T @ mass[seeded], dtype=np.float32)
        else:
            moved = transposed @ mass
        mass = (1.0 - alpha) * moved
        mass += (1.0 - mass.sum(axis=0, keepdims=True)) * seeds
    return mass


def _behaviour_from_interactions(data: Interactions) -> EventColumns:
    """Histories as view events at their positions: what a model sees without the store."""
    users, items, stamps = [], [], []
    for user_id, history in zip(data.user_ids, data.histories, strict=True):
        for position, row in enumerate(history.tolist()):
            users.append(user_id)
            items.append(data.item_ids[row])
            stamps.append(float(position))
    n = len(users)
    return EventColumns(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        types=np.array(["view"] * n, dtype=object),
        values=np.full(n, np.nan),
        timestamps=np.array(stamps, dtype=np.float64),
        session_ids=np.array([""] * n, dtype=object),
    )


class KGRecommender(Recommender):
    """Personalised PageRank from the user's items over the item graph.

    Parameters: ``alpha`` (restart probability), ``steps`` (walk length), ``weights`` (edge
    family -> preference, 0 switches a family off), ``degree_power`` (divides an item's
    score by its number of links to this power: >0 favours niche items), ``half_life`` (in
    history items; None weighs the whole history equally).
    """

    name = "kg"

    def __init__(
        self,
        alpha: float = 0.3,
        steps: int = 6,
        weights: Mapping[str, float] | None = None,
        degree_power: float = 0.0,
        half_life: float | None = None,
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        merged = {**DEFAULT_WEIGHTS, **(dict(weights) if weights else {})}
        bad = [g for g, w in merged.items() if w < 0]
        if bad:
            raise ValueError(f"edge-group weights must be >= 0; negative: {bad}")
        super().__init__(
            alpha=alpha,
            steps=steps,
            weights=merged,
            degree_power=degree_power,
            half_life=half_life,
        )
        self.alpha = alpha
        self.steps = steps
        self.weights = merged
        self.degree_power = degree_power
        self.half_life = half_life
        self.transposed = sp.csr_matrix((0, 0), dtype=np.float32)
        self.forward = sp.csr_matrix((0, 0), dtype=np.float32)  # the transition: transposed.T
        self.item_nodes = np.zeros(0, dtype=np.int64)  # per item row: core index, -1 if absent
        self.item_scale = np.zeros(0, dtype=np.float32)
        self.graph: ItemGraph | None = None  # kept after fit for explanations; not saved

    def fit(self, data: Interactions, context: FitContext) -> None:
        graph = context.options.get(GRAPH_OPTION)
        if graph is None:
            items = context.items or [Item(item_id=i, title=i) for i in data.item_ids]
            graph = build_graph(items)
        if not isinstance(graph, ItemGraph):
            raise TypeError(f"FitContext.options[{GRAPH_OPTION!r}] must be an ItemGraph")
        graph = with_behaviour(graph, _behaviour_from_interactions(data))
        self.graph = graph
        self.n_items = data.n_items
        transition, core, links = walk_matrix(graph, self.weights)
        self.forward = transition
        self.transposed = transition.T.tocsr()
        position = np.full(graph.n_nodes, -1, dtype=np.int64)
        position[core] = np.arange(len(core))
        nodes = graph.item_nodes(data.item_ids)
        self.item_nodes = np.where(nodes >= 0, position[np.maximum(nodes, 0)], -1)
        item_links = np.where(self.item_nodes >= 0, links[np.maximum(self.item_nodes, 0)], 0.0)
        self.item_scale = np.power(item_links + 1.0, -self.degree_power).astype(np.float32)

    def score(self, batch: UserBatch) -> np.ndarray:
        n_core = self.transposed.shape[0]
        history = history_matrix(batch, self.n_items, self.half_life).tocoo()
        present = self.item_nodes >= 0
        # Seeds straight from the history's item rows: no item -> node matrix per request.
        nodes = self.item_nodes[history.col]
        on_graph = nodes >= 0
        seeds = np.zeros((n_core, len(batch)), dtype=np.float32)
        np.add.at(seeds, (nodes[on_graph], history.row[on_graph]), history.data[on_graph])
        totals = seeds.sum(axis=0, keepdims=True)
        seeds = np.divide(seeds, totals, out=np.zeros_like(seeds), where=totals > 0)
        mass = personalised_pagerank(
            self.transposed, seeds.astype(np.float32), self.alpha, self.steps, self.forward
        )
        scores = np.zeros((len(batch), self.n_items), dtype=np.float32)
        scores[:, present] = mass[self.item_nodes[present]].T
        return scores * self.item_scale

    def arrays(self) -> dict[str, np.ndarray]:
        t = self.transposed
        return {
            "data": t.data.astype(np.float32),
            "indices": t.indices.astype(np.int32),
            "indptr": t.indptr.astype(np.int64),
            "item_nodes": self.item_nodes.astype(np.int64),
            "item_scale": self.item_scale.astype(np.float32),
        }

    def set_arrays(self, arrays: dict[str, Any]) -> None:
        n_core = len(arrays["indptr"]) - 1
        self.transposed = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n_core, n_core)
        )
        self.forward = self.transposed.T.tocsr()  # derived at load, not on the first request
        self.item_nodes = np.asarray(arrays["item_nodes"], dtype=np.int64)
        self.item_scale = np.asarray(arrays["item_scale"], dtype=np.float32)
