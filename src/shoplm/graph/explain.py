"""Why an item suits a user, told by a real path in the item graph.

An explanation is a path from one of the user's history items to the recommended item,
with every node id and edge type on it, so anyone holding the graph can check it
(``verify_path``).  The most specific link wins, in this order:

1. bought/viewed/rated together with a history item (a behaviour edge),
2. the same brand,
3. the same (deepest) category,
4. an external-knowledge link (a direct relation, or a shared entity: rarest first),
5. a shared attribute value (rarest first),
6. a common ancestor category below the root (deepest first),
7. two behaviour hops (X was bought with Y, Y with this),
8. the common root category,
9. any shortest path of at most ``max_hops`` edges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoplm.graph.model import (
    BRAND_EDGE,
    CATEGORY_EDGE,
    CO_PURCHASE,
    CO_RATING,
    ENTITY,
    KNOWLEDGE_PREFIX,
    NODE_TYPES,
    PARENT_EDGE,
    ItemGraph,
    edge_group,
)

_TOGETHER = {
    CO_PURCHASE: "people who bought {x} also bought this",
    CO_RATING: "people who rated {x} also rated this",
}
_TOGETHER_DEFAULT = "people who viewed {x} also viewed this"
_BEHAVIOUR_RANK = {CO_PURCHASE: 0, CO_RATING: 1}  # else 2: stronger intent first


@dataclass
class _Query:
    """One (history, target) question and the target's links, shared by the finders."""

    target: int
    cols: np.ndarray  # the target's neighbours
    types: np.ndarray  # edge type code per neighbour
    groups: np.ndarray  # edge family per neighbour
    history: np.ndarray  # history item nodes
    order: dict[int, int]  # history node -> position (higher = more recent)


@dataclass
class Explanation:
    """A path ``nodes[0] -> ... -> nodes[-1]``; ``edge_types[i]`` joins nodes i and i+1."""

    kind: str
    text: str
    history_item_id: str
    nodes: list[int]
    edge_types: list[str]

    def to_dict(self, graph: ItemGraph) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "history_item_id": self.history_item_id,
            "path": [
                {
                    "node": int(n),
                    "id": graph.node_name(n),
                    "type": graph.type_of(n),
                    "label": graph.node_labels[n],
                }
                for n in self.nodes
            ],
            "edges": [
                {"source": int(a), "target": int(b), "type": t}
                for a, b, t in zip(self.nodes[:-1], self.nodes[1:], self.edge_types, strict=True)
            ],
        }


def verify_path(graph: ItemGraph, nodes: Sequence[int], edge_types: Sequence[str]) -> bool:
    """True when every consecutive pair of ``nodes`` is joined by an edge of the given type."""
    if len(nodes) < 2 or len(edge_types) != len(nodes) - 1:
        return False
    return all(
        graph.has_edge(int(a), int(b), t)
        for a, b, t in zip(nodes[:-1], nodes[1:], edge_types, strict=True)
    )


def is_faithful(
    graph: ItemGraph,
    history_item_ids: Sequence[str],
    item_id: str,
    nodes: Sequence[int],
    edge_types: Sequence[str],
) -> bool:
    """The path starts at one of the user's items, ends at ``item_id`` and exists."""
    target = graph.item_node(item_id)
    if not nodes or target is None:
        return False
    history = {graph.item_node(i) for i in history_item_ids} - {None}
    return (
        int(nodes[-1]) == target
        and int(nodes[0]) in history
        and verify_path(graph, nodes, edge_types)
    )


class Explainer:
    """Finds explanation paths in one graph; cheap enough to run for every hit."""

    def __init__(self, graph: ItemGraph, max_hops: int = 4, max_frontier: int = 20_000) -> None:
        self.graph = graph
        self.max_hops = max_hops
        self.max_frontier = max_frontier
        self._group = np.array([edge_group(t) for t in graph.edge_types] or [""], dtype=object)
        self._type_code = {name: i for i, name in enumerate(NODE_TYPES)}
        self._parent = self._parents()

    def _parents(self) -> dict[int, int]:
        code = self.graph.edge_type_id(PARENT_EDGE)
        if code is None:
            return {}
        mask = self.graph.etype == code
        return dict(
            zip(self.graph.sources[mask].tolist(), self.graph.indices[mask].tolist(), strict=True)
        )

    # -- small helpers ------------------------------------------------------------------
    def _links(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour, edge type name index) pairs of a node."""
        cols, ids = self.graph.neighbours(node)
        return cols, self.graph.etype[ids]

    def _type_name(self, code: int) -> str:
        return self.graph.edge_types[int(code)]

    def _label(self, node: int) -> str:
        return self.graph.node_labels[node]

    def _category_chain(self, item: int) -> tuple[list[int], int | None]:
        """(leaf category, its ancestors...) of an item, and the leaf."""
        code = self.graph.edge_type_id(CATEGORY_EDGE)
        if code is None:
            return [], None
        cols, types = self._links(item)
        leaves = cols[types == code]
        if len(leaves) == 0:
            return [], None
        chain = [int(leaves[0])]
        while chain[-1] in self._parent and len(chain) < 50:
            chain.append(self._parent[chain[-1]])
        return chain, chain[0]

    def _pick_recent(self, candidates: np.ndarray, order: dict[int, int]) -> int:
        """The candidate history node the user met most recently."""
        return max(candidates.tolist(), key=lambda n: order[n])

    # -- the search ---------------------------------------------------------------------
    def explain(self, history_item_ids: Sequence[str], item_id: str) -> Explanation | None:
        """The best path from the user's items (oldest first) to ``item_id``, or None."""
        g = self.graph
        target = g.item_node(item_id)
        if target is None:
            return None
        order: dict[int, int] = {}
        for position, hid in enumerate(history_item_ids):
            node = g.item_node(hid)
            if node is not None and node != target:
                order[node] = position
        if not order:
            return None
        cols, types = self._links(target)
        query = _Query(
            target=target,
            cols=cols,
            types=types,
            groups=self._group[types] if len(types) else np.zeros(0, dtype=object),
            history=np.fromiter(order, dtype=np.int64),
            order=order,
        )
        for finder in (
            self._together,
            self._same_brand,
            self._same_leaf,
            self._knowledge,
            self._attribute,
            self._ancestor,
            self._two_hops,
            self._root_category,
            self._any_path,
        ):
            found = finder(query)
            if found is not None:
                return found
        return None

    def _explanation(self, kind: str, text: str, nodes: list[int], types: list[str]) -> Explanation:
        return Explanation(
            kind=kind,
            text=text,
            history_item_id=self.graph.node_keys[nodes[0]],
            nodes=[int(n) for n in nodes],
            edge_types=types,
        )

    def _together(self, q: _Query) -> Explanation | None:
        mask = (q.groups == "behaviour") & np.isin(q.cols, q.history)
        if not mask.any():
            return None
        xs = q.cols[mask]
        names = [self._type_name(c) for c in q.types[mask]]
        weights = self.graph.weight[self.graph.neighbours(q.target)[1][mask]]
        best = min(
            range(len(names)),
            key=lambda i: (_BEHAVIOUR_RANK.get(names[i], 2), -weights[i], -q.order[int(xs[i])]),
        )
        x = int(xs[best])
        text = _TOGETHER.get(names[best], _TOGETHER_DEFAULT).format(x=self._label(x))
        return self._explanation(names[best], text, [x, q.target], [names[best]])

    def _same_brand(self, q: _Query) -> Explanation | None:
        for brand in q.cols[q.groups == BRAND_EDGE].tolist():
            items, _ = self.graph.neighbours(brand)
            shared = q.history[np.isin(q.history, items)]
            if len(shared):
                x = self._pick_recent(shared, q.order)
                text = f"same brand as {self._label(x)} ({self._label(brand)})"
                return self._explanation("brand", text, [x, brand, q.target], [BRAND_EDGE] * 2)
        return None

    def _same_leaf(self, q: _Query) -> Explanation | None:
        _, leaf = self._category_chain(q.target)
        if leaf is None:
            return None
        items, ids = self.graph.neighbours(leaf)
        in_leaf = items[self.graph.etype[ids] == self.graph.edge_type_id(CATEGORY_EDGE)]
        shared = q.history[np.isin(q.history, in_leaf)]
        if len(shared) == 0:
            return None
        x = self._pick_recent(shared, q.order)
        text = f"in category {self.graph.node_keys[leaf]} like {self._label(x)}"
        return self._explanation("category", text, [x, leaf, q.target], [CATEGORY_EDGE] * 2)

    def _shared_node(self, q: _Query, mask: np.ndarray) -> tuple[int, int, str, str] | None:
        """Rarest node next to both the target and a history item: (x, via, type_x, type_t)."""
        vias = q.cols[mask]
        via_types = q.types[mask]
        if len(vias) == 0:
            return None
        degree = np.diff(self.graph.incidence()[0])[vias]
        for i in np.argsort(degree, kind="stable").tolist():
            via = int(vias[i])
            near, near_ids = self.graph.neighbours(via)
            hit = np.isin(near, q.history)
            if hit.any():
                x = self._pick_recent(near[hit], q.order)
                x_type = self._type_name(self.graph.etype[near_ids[near == x][0]])
                return x, via, x_type, self._type_name(via_types[i])
        return None

    def _knowledge(self, q: _Query) -> Explanation | None:
        kg = q.groups == "knowledge"
        direct = kg & np.isin(q.cols, q.history)
        if direct.any():
            x = self._pick_recent(q.cols[direct], q.order)
            relation = self._type_name(q.types[direct][q.cols[direct] == x][0])
            text = f"linked to {self._label(x)} by {relation.removeprefix(KNOWLEDGE_PREFIX)}"
            return self._explanation("knowledge", text, [x, q.target], [relation])
        is_entity = self.graph.node_type[q.cols] == self._type_code[ENTITY]
        found = self._shared_node(q, kg & is_entity)
        if found is None:
            return None
        x, via, x_type, t_type = found
        relation = t_type.removeprefix(KNOWLEDGE_PREFIX)
        text = f"shares {relation} {self._label(via)} with {self._label(x)}"
        return self._explanation("knowledge", text, [x, via, q.target], [x_type, t_type])

    def _attribute(self, q: _Query) -> Explanation | None:
        found = self._shared_node(q, q.groups == "attribute")
        if found is None:
            return None
        x, via, x_type, t_type = found
        text = f"shares {self._label(via)} with {self._label(x)}"
        return self._explanation("attribute", text, [x, via, q.target], [x_type, t_type])

    def _ancestor(self, q: _Query, allow_root: bool = False) -> Explanation | None:
        """Deepest category above both the target and a history item (the root if allowed)."""
        chain, _ = self._category_chain(q.target)
        if not chain:
            return None
        depth_of = {node: d for d, node in enumerate(chain)}
        limit = len(chain) if allow_root else len(chain) - 1
        best: tuple[int, int, list[int]] | None = None  # (target steps up, x steps up, x path)
        for x in sorted(q.order, key=lambda n: -q.order[n]):  # most recent first wins ties
            x_chain, _ = self._category_chain(x)
            for up, node in enumerate(x_chain):
                if node in depth_of:
                    key = (depth_of[node], up)
                    if key[0] < limit and (best is None or key < best[:2]):
                        best = (*key, [x, *x_chain[: up + 1]])
                    break
        if best is None:
            return None
        t_up, _, x_part = best
        down = list(reversed(chain[:t_up]))
        nodes = [*x_part, *down, q.target]
        edge_types = [
            CATEGORY_EDGE,
            *[PARENT_EDGE] * (len(x_part) - 2 + len(down)),
            CATEGORY_EDGE,
        ]
        common = self.graph.node_keys[x_part[-1]]
        text = f"in category {common} like {self._label(x_part[0])}"
        return self._explanation("category", text, nodes, edge_types)

    def _root_category(self, q: _Query) -> Explanation | None:
        return self._ancestor(q, allow_root=True)

    def _two_hops(self, q: _Query) -> Explanation | None:
        mask = q.groups == "behaviour"
        if not mask.any():
            return None
        ids = self.graph.neighbours(q.target)[1][mask]
        middle = q.cols[mask]
        for i in np.argsort(-self.graph.weight[ids], kind="stable")[:50].tolist():
            y = int(middle[i])
            near, near_ids = self.graph.neighbours(y)
            near_types = self.graph.etype[near_ids]
            hit = np.isin(near, q.history) & (self._group[near_types] == "behaviour")
            if hit.any():
                x = self._pick_recent(near[hit], q.order)
                x_type = self._type_name(near_types[hit][near[hit] == x][0])
                y_type = self._type_name(q.types[mask][i])
                text = (
                    f"people who took {self._label(x)} also took {self._label(y)}, "
                    "which is often taken with this"
                )
                return self._explanation("behaviour_2hop", text, [x, y, q.target], [x_type, y_type])
        return None

    def _any_path(self, q: _Query) -> Explanation | None:
        """Breadth-first from the target until a history item is met."""
        wanted = set(q.history.tolist())
        previous: dict[int, tuple[int, int]] = {q.target: (-1, -1)}
        frontier = deque([(q.target, 0)])
        while frontier:
            node, depth = frontier.popleft()
            if depth >= self.max_hops:
                continue
            near, near_ids = self.graph.neighbours(node)
            for n, e in zip(near.tolist(), near_ids.tolist(), strict=True):
                if n in previous:
                    continue
                previous[n] = (node, e)
                if n in wanted:
                    return self._path_from(n, previous)
                frontier.append((n, depth + 1))
            if len(previous) > self.max_frontier:
                return None
        return None

    def _path_from(self, start: int, previous: dict[int, tuple[int, int]]) -> Explanation:
        nodes, edge_types = [start], []
        node = start
        while previous[node][0] != -1:
            parent, edge = previous[node]
            edge_types.append(self._type_name(self.graph.etype[edge]))
            nodes.append(parent)
            node = parent
        hops = " -> ".join(self._label(n) for n in nodes)
        return self._explanation(
            "path", f"connected to {self._label(start)}: {hops}", nodes, edge_types
        )
