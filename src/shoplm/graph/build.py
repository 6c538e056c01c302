"""Build the item graph from the catalog, from behaviour and from external triples.

Three sources, one graph:

- catalog: item -> brand, item -> deepest category node (each category path node links to
  its parent, so "Phones > Smartphones" sits under "Phones"), item -> attribute values;
- behaviour: items a user took within ``window`` events of each other are joined by a
  co_purchase / co_rating / co_view edge whose weight sums one per pair, decayed with
  ``half_life_days`` from the newest event, so old habits fade;
- external knowledge: (head, relation, tail) triples become ``kg:<relation>`` edges; an
  entity linked to a catalog item *is* that item's node, so paths run item -> entity ->
  item without a hop through a link node.

``GraphBuilder.update`` adds new items, events and triples to a built graph without a full
rebuild and gives the same graph a full rebuild would (behaviour pairs reach back into each
user's last ``window`` events, which the graph keeps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoplm.graph.model import (
    ATTRIBUTE,
    BEHAVIOUR_EDGES,
    BRAND,
    CATALOG_EDGES,
    CATEGORY,
    CO_PURCHASE,
    CO_RATING,
    CO_VIEW,
    ENTITY,
    ITEM,
    KNOWLEDGE_PREFIX,
    NODE_TYPES,
    PARENT_EDGE,
    ItemGraph,
    UserTails,
)
from shoplm.schema import CATEGORY_SEPARATOR, EVENT_WEIGHTS, Event, EventType, Item
from shoplm.store.base import EventColumns

SECONDS_PER_DAY = 86_400.0
# Strength of intent behind an event; a pair of events gets the weaker one's edge type.
# Only event types that signal interest (positive weight) count.
_INTENT = {
    kind.value: group
    for kind, group in (
        (EventType.PURCHASE, 0),
        (EventType.ADD_TO_CART, 0),
        (EventType.RATING, 1),
        (EventType.VIEW, 2),
        (EventType.CLICK, 2),
    )
    if EVENT_WEIGHTS.get(kind, 0.0) > 0
}
_PAIR_EDGE = (CO_PURCHASE, CO_RATING, CO_VIEW)  # indexed by the weaker intent
LIST_SEPARATORS = (",", ";", "|")


@dataclass(frozen=True)
class GraphSettings:
    """How the graph is built; saved in the graph so an update follows the same rules.

    ``attribute_separators`` names attributes whose values are lists split on more than the
    usual ``, ; |`` (MovieLens genres are space-separated); ``ignore_attributes`` holds
    per-item identifiers that would only make one-item nodes.
    """

    window: int = 5
    half_life_days: float | None = 90.0
    max_gap_seconds: float | None = None
    attribute_separators: tuple[tuple[str, str], ...] = (("genres", " "),)
    ignore_attributes: tuple[str, ...] = ("url", "image", "image_url", "link", "sku")

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days}")

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "half_life_days": self.half_life_days,
            "max_gap_seconds": self.max_gap_seconds,
            "attribute_separators": [list(p) for p in self.attribute_separators],
            "ignore_attributes": list(self.ignore_attributes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GraphSettings:
        return cls(
            window=int(data["window"]),
            half_life_days=data["half_life_days"],
            max_gap_seconds=data["max_gap_seconds"],
            attribute_separators=tuple(tuple(p) for p in data["attribute_separators"]),
            ignore_attributes=tuple(data["ignore_attributes"]),
        )


def decay(ages_seconds: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """Weight of an event ``age`` seconds older than the reference time (1 at age 0)."""
    ages = np.maximum(np.asarray(ages_seconds, dtype=np.float64), 0.0)
    if half_life_days is None:
        return np.ones_like(ages)
    return np.power(0.5, ages / (half_life_days * SECONDS_PER_DAY))


def _event_columns(events: EventColumns | Iterable[Event]) -> EventColumns:
    if isinstance(events, EventColumns):
        return events
    rows = list(events)
    return EventColumns(
        user_ids=np.array([e.user_id for e in rows], dtype=object),
        item_ids=np.array([e.item_id or "" for e in rows], dtype=object),
        types=np.array([e.type.value for e in rows], dtype=object),
        values=np.array([np.nan if e.value is None else e.value for e in rows], dtype=float),
        timestamps=np.array([e.timestamp for e in rows], dtype=np.float64),
        session_ids=np.array([e.session_id or "" for e in rows], dtype=object),
    )


class GraphBuilder:
    """Accumulates nodes and edges; ``build`` returns an immutable ``ItemGraph``."""

    def __init__(self, settings: GraphSettings | None = None) -> None:
        self.settings = settings or GraphSettings()
        self._types: list[int] = []
        self._keys: list[str] = []
        self._labels: list[str] = []
        self._index: dict[tuple[int, str], int] = {}
        self._edge_types: list[str] = []
        self._edge_type_index: dict[str, int] = {}
        self._src = np.zeros(0, dtype=np.int64)
        self._dst = np.zeros(0, dtype=np.int64)
        self._etype = np.zeros(0, dtype=np.int64)
        self._weight = np.zeros(0, dtype=np.float64)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._kg_pairs: set[tuple[int, int]] = set()
        self.item_entity: dict[str, str] = {}
        self.reference_time: float | None = None
        self._tails: dict[str, list[tuple[int, int, float]]] = {}

    # -- nodes and edge types -----------------------------------------------------------
    def _node(self, node_type: str, key: str, label: str | None = None) -> int:
        code = NODE_TYPES.index(node_type)
        node = self._index.get((code, key))
        if node is None:
            node = len(self._keys)
            self._index[(code, key)] = node
            self._types.append(code)
            self._keys.append(key)
            self._labels.append(label if label is not None else key)
        elif label is not None:
            self._labels[node] = label
        return node

    def _edge_type(self, name: str) -> int:
        code = self._edge_type_index.get(name)
        if code is None:
            code = len(self._edge_types)
            self._edge_types.append(name)
            self._edge_type_index[name] = code
        return code

    def _add_edges(self, src: Sequence[int], dst: Sequence[int], etype: Any, weight: Any) -> None:
        src_a = np.asarray(src, dtype=np.int64)
        n = len(src_a)
        if n == 0:
            return
        self._pending.append(
            (
                src_a,
                np.asarray(dst, dtype=np.int64),
                np.broadcast_to(np.asarray(etype, dtype=np.int64), (n,)).copy(),
                np.broadcast_to(np.asarray(weight, dtype=np.float64), (n,)).copy(),
            )
        )

    def _flush(self) -> None:
        """Fold pending edges into the edge arrays, summing weights of repeated edges."""
        if not self._pending:
            return
        parts = [(self._src, self._dst, self._etype, self._weight), *self._pending]
        self._pending = []
        src, dst, etype, weight = (np.concatenate(c) for c in zip(*parts, strict=True))
        self._set_edges(src, dst, etype, weight)

    def _set_edges(
        self, src: np.ndarray, dst: np.ndarray, etype: np.ndarray, weight: np.ndarray
    ) -> None:
        """Store edges sorted by (source, target, type), one entry per distinct edge."""
        order = np.lexsort((etype, dst, src))
        src, dst, etype, weight = src[order], dst[order], etype[order], weight[order]
        new = np.ones(len(src), dtype=bool)
        new[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1]) | (etype[1:] != etype[:-1])
        starts = np.flatnonzero(new)
        self._src, self._dst, self._etype = src[starts], dst[starts], etype[starts]
        self._weight = np.add.reduceat(weight, starts) if len(starts) else weight

    def _drop_edges(self, mask: np.ndarray) -> None:
        keep = ~mask
        self._src, self._dst = self._src[keep], self._dst[keep]
        self._etype, self._weight = self._etype[keep], self._weight[keep]

    # -- catalog --------------------------------------------------------------------------
    def add_items(self, items: Iterable[Item]) -> int:
        """Add items (or replace the catalog edges of items already in the graph)."""
        items = list(items)
        self._flush()
        catalog_types = [self._edge_type(t) for t in CATALOG_EDGES]
        known = [self._index.get((0, item.item_id)) for item in items]
        stale = np.array([n for n in known if n is not None], dtype=np.int64)
        if len(stale):
            self._drop_edges(np.isin(self._src, stale) & np.isin(self._etype, catalog_types))
        src: list[int] = []
        dst: list[int] = []
        types: list[int] = []
        brand_t, category_t, attribute_t = catalog_types
        for item in items:
            node = self._node(ITEM, item.item_id, item.title)
            if item.brand:
                src.append(node)
                dst.append(self._node(BRAND, item.brand.lower(), item.brand))
                types.append(brand_t)
            path = item.category_path
            if path:
                src.append(node)
                dst.append(self._category_node(path))
                types.append(category_t)
            for name, value in sorted(item.attributes.items()):
                for part in self._attribute_values(name, value):
                    src.append(node)
                    dst.append(self._node(ATTRIBUTE, f"{name}={part.lower()}", f"{name}: {part}"))
                    types.append(attribute_t)
        self._add_edges(src, dst, types, 1.0)
        for item in items:  # an entity linked before its item arrived now becomes the item
            entity = self.item_entity.get(item.item_id)
            if entity is not None:
                self._merge_entity(entity, self._index[(0, item.item_id)])
        return len(items)

    def _category_node(self, path: list[str]) -> int:
        """The node of the full path, creating missing ancestors with their parent edges."""
        parent: int | None = None
        node = -1
        for depth in range(1, len(path) + 1):
            key = CATEGORY_SEPARATOR.join(path[:depth])
            existed = (NODE_TYPES.index(CATEGORY), key) in self._index
            node = self._node(CATEGORY, key, path[depth - 1])
            if not existed and parent is not None:
                self._add_edges([node], [parent], self._edge_type(PARENT_EDGE), 1.0)
            parent = node
        return node

    def _attribute_values(self, name: str, value: str) -> list[str]:
        if name in self.settings.ignore_attributes or not value:
            return []
        parts = [value]
        extra = dict(self.settings.attribute_separators).get(name)
        for sep in (*LIST_SEPARATORS, *([extra] if extra else [])):
            parts = [p for chunk in parts for p in chunk.split(sep)]
        return sorted({" ".join(p.split()) for p in parts if p.strip()})

    # -- external knowledge ---------------------------------------------------------------
    def add_knowledge(
        self, triples: Iterable[tuple[str, str, str]], item_entity: Mapping[str, str] | None = None
    ) -> int:
        """Add (head, relation, tail) triples; ``item_entity`` says which entity an item is.

        A triple repeating a pair already joined by a knowledge edge (most KGs ship each
        fact with its inverse) is skipped, so a fact is one edge.  Returns edges added.
        """
        for item_id, entity in (item_entity or {}).items():
            self.item_entity[str(item_id)] = str(entity)
            node = self._index.get((0, str(item_id)))
            if node is not None:
                self._merge_entity(str(entity), node)
        entity_item = {e: i for i, e in self.item_entity.items()}
        src: list[int] = []
        dst: list[int] = []
        types: list[int] = []
        for position, triple in enumerate(triples):
            if len(triple) != 3 or not all(str(part).strip() for part in triple):
                raise ValueError(f"knowledge triple {position} is not (head, relation, tail)")
            head, relation, tail = (str(part).strip() for part in triple)
            a = self._entity_node(head, entity_item)
            b = self._entity_node(tail, entity_item)
            if a == b:
                continue
            pair = (min(a, b), max(a, b))
            if pair in self._kg_pairs:
                continue
            self._kg_pairs.add(pair)
            src.append(a)
            dst.append(b)
            types.append(self._edge_type(KNOWLEDGE_PREFIX + relation))
        self._add_edges(src, dst, types, 1.0)
        return len(src)

    def _entity_node(self, entity: str, entity_item: Mapping[str, str]) -> int:
        item_id = entity_item.get(entity)
        if item_id is not None:
            node = self._index.get((0, item_id))
            if node is not None:
                return node
        return self._node(ENTITY, entity)

    def _merge_entity(self, entity: str, item_node: int) -> None:
        """Re-point a stand-alone entity node's edges at the item it turned out to be."""
        entity_node = self._index.get((NODE_TYPES.index(ENTITY), entity))
        if entity_node is None or entity_node == item_node:
            return
        self._flush()
        src = np.where(self._src == entity_node, item_node, self._src)
        dst = np.where(self._dst == entity_node, item_node, self._dst)
        keep = src != dst
        self._set_edges(src[keep], dst[keep], self._etype[keep], self._weight[keep])
        moved = {
            (item_node if a == entity_node else a, item_node if b == entity_node else b)
            for a, b in self._kg_pairs
        }
        self._kg_pairs = {(min(a, b), max(a, b)) for a, b in moved if a != b}

    # -- behaviour ----------------------------------------------------------------------
    def add_events(self, events: EventColumns | Iterable[Event]) -> int:
        """Pair each new positive event with the user's previous ``window`` events.

        Events on items not in the graph, and events without positive weight (searches),
        are skipped.  Returns the number of pairs added.
        """
        cols = _event_columns(events)
        if len(cols) == 0:
            return 0
        intent = np.array([_INTENT.get(str(t), -1) for t in cols.types], dtype=np.int64)
        nodes = np.array([self._index.get((0, str(i)), -1) for i in cols.item_ids], dtype=np.int64)
        keep = (nodes >= 0) & (intent >= 0)
        users = np.asarray(cols.user_ids, dtype=object)[keep].astype(str)
        nodes, intent = nodes[keep], intent[keep]
        times = np.asarray(cols.timestamps, dtype=np.float64)[keep]
        if len(nodes) == 0:
            return 0
        newest = float(times.max())
        self._advance_time(newest)

        # Prepend each user's remembered tail so pairs reach across update batches.
        tail_users = [u for u in dict.fromkeys(users.tolist()) if u in self._tails]
        t_users, t_nodes, t_intent, t_times = [], [], [], []
        for user in tail_users:
            for node, group, stamp in self._tails[user]:
                t_users.append(user)
                t_nodes.append(node)
                t_intent.append(group)
                t_times.append(stamp)
        all_users = np.concatenate([np.array(t_users, dtype=str), users]) if t_users else users
        all_nodes = np.concatenate([np.array(t_nodes, dtype=np.int64), nodes])
        all_intent = np.concatenate([np.array(t_intent, dtype=np.int64), intent])
        all_times = np.concatenate([np.array(t_times, dtype=np.float64), times])
        is_new = np.concatenate([np.zeros(len(t_nodes), dtype=bool), np.ones(len(nodes), bool)])
        codes_of, user_codes = np.unique(all_users, return_inverse=True)
        # Tails first within a user, then new events by time (ties: arrival order).
        order = np.lexsort((np.arange(len(all_nodes)), all_times, is_new, user_codes))
        user_codes, all_nodes = user_codes[order], all_nodes[order]
        all_intent, all_times, is_new = all_intent[order], all_times[order], is_new[order]

        weight_of = decay(self.reference_time - all_times, self.settings.half_life_days)
        src_parts, dst_parts, type_parts, w_parts = [], [], [], []
        for lag in range(1, self.settings.window + 1):
            later = np.arange(lag, len(all_nodes))
            earlier = later - lag
            ok = (user_codes[later] == user_codes[earlier]) & is_new[later]
            ok &= all_nodes[later] != all_nodes[earlier]
            if self.settings.max_gap_seconds is not None:
                ok &= all_times[later] - all_times[earlier] <= self.settings.max_gap_seconds
            later, earlier = later[ok], earlier[ok]
            a, b = all_nodes[earlier], all_nodes[later]
            src_parts.append(np.minimum(a, b))
            dst_parts.append(np.maximum(a, b))
            weaker = np.maximum(all_intent[earlier], all_intent[later])
            type_parts.append(np.array([self._edge_type(e) for e in _PAIR_EDGE])[weaker])
            w_parts.append(weight_of[later])
        pairs = int(sum(len(p) for p in src_parts))
        if pairs:
            self._add_edges(
                np.concatenate(src_parts),
                np.concatenate(dst_parts),
                np.concatenate(type_parts),
                np.concatenate(w_parts),
            )
        # Remember each touched user's last ``window`` events.
        bounds = np.flatnonzero(np.diff(user_codes)) + 1
        for segment in np.split(np.arange(len(all_nodes)), bounds):
            last = segment[-self.settings.window :]
            user = str(codes_of[user_codes[segment[0]]])
            self._tails[user] = [
                (int(all_nodes[i]), int(all_intent[i]), float(all_times[i])) for i in last
            ]
        return pairs

    def _advance_time(self, newest: float) -> None:
        """Move the reference time forward, fading stored behaviour weights to match."""
        if self.reference_time is None:
            self.reference_time = newest
            return
        if newest <= self.reference_time:
            return
        self._flush()
        factor = decay(np.array([newest - self.reference_time]), self.settings.half_life_days)[0]
        behaviour = [
            self._edge_type_index[t] for t in BEHAVIOUR_EDGES if t in self._edge_type_index
        ]
        self._weight[np.isin(self._etype, behaviour)] *= factor
        self.reference_time = newest

    def drop_behaviour(self) -> int:
        """Remove every behaviour edge and forget the users' tails; returns edges removed.

        Catalog and knowledge edges stay, so behaviour from another set of events (a
        validation split's) can be added on the same catalog and knowledge.
        """
        self._flush()
        codes = [self._edge_type_index[t] for t in BEHAVIOUR_EDGES if t in self._edge_type_index]
        mask = np.isin(self._etype, codes)
        self._drop_edges(mask)
        self._tails = {}
        self.reference_time = None
        return int(mask.sum())

    # -- output ---------------------------------------------------------------------------
    def build(self) -> ItemGraph:
        """The graph as it stands: CSR over source nodes, edges sorted by (source, target)."""
        self._flush()
        n = len(self._keys)
        counts = np.bincount(self._src, minlength=n)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        users = sorted(self._tails)
        width = self.settings.window
        tail_nodes = np.full((len(users), width), -1, dtype=np.int32)
        tail_groups = np.zeros((len(users), width), dtype=np.int8)
        tail_times = np.zeros((len(users), width), dtype=np.float64)
        for row, user in enumerate(users):
            for col, (node, group, stamp) in enumerate(self._tails[user]):
                tail_nodes[row, col] = node
                tail_groups[row, col] = group
                tail_times[row, col] = stamp
        meta = {"settings": self.settings.to_json(), "item_entity": self.item_entity}
        return ItemGraph(
            node_type=np.array(self._types, dtype=np.int8),
            node_keys=list(self._keys),
            node_labels=list(self._labels),
            edge_types=list(self._edge_types),
            indptr=indptr,
            indices=self._dst.astype(np.int32),
            etype=self._etype.astype(np.int16),
            weight=self._weight.astype(np.float32),
            reference_time=self.reference_time,
            meta=meta,
            tails=UserTails(users, tail_nodes, tail_groups, tail_times),
        )

    def update(
        self,
        new_items: Iterable[Item] = (),
        new_events: EventColumns | Iterable[Event] | None = None,
        triples: Iterable[tuple[str, str, str]] = (),
        item_entity: Mapping[str, str] | None = None,
    ) -> ItemGraph:
        """Add what arrived since the last build and return the new graph (no full rebuild)."""
        self.add_items(new_items)
        self.add_knowledge(triples, item_entity)
        if new_events is not None:
            self.add_events(new_events)
        return self.build()

    @classmethod
    def from_graph(cls, graph: ItemGraph) -> GraphBuilder:
        """A builder holding a built (or loaded) graph, ready for ``update``."""
        settings = graph.meta.get("settings")
        builder = cls(GraphSettings.from_json(settings) if settings else None)
        builder._types = graph.node_type.astype(int).tolist()
        builder._keys = list(graph.node_keys)
        builder._labels = list(graph.node_labels)
        builder._index = {
            (t, k): i for i, (t, k) in enumerate(zip(builder._types, builder._keys, strict=True))
        }
        builder._edge_types = list(graph.edge_types)
        builder._edge_type_index = {name: i for i, name in enumerate(graph.edge_types)}
        builder._src = graph.sources.astype(np.int64)
        builder._dst = graph.indices.astype(np.int64)
        builder._etype = graph.etype.astype(np.int64)
        builder._weight = graph.weight.astype(np.float64)
        kg_types = [i for i, n in enumerate(graph.edge_types) if n.startswith(KNOWLEDGE_PREFIX)]
        kg = np.isin(builder._etype, kg_types)
        a, b = builder._src[kg], builder._dst[kg]
        builder._kg_pairs = set(
            zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True)
        )
        builder.item_entity = dict(graph.meta.get("item_entity", {}))
        builder.reference_time = graph.reference_time
        tails = graph.tails
        for row, user in enumerate(tails.user_ids):
            builder._tails[user] = [
                (int(n), int(g), float(t))
                for n, g, t in zip(
                    tails.nodes[row], tails.groups[row], tails.times[row], strict=True
                )
                if n >= 0
            ]
        return builder


def build_graph(
    items: Iterable[Item],
    events: EventColumns | Iterable[Event] | None = None,
    triples: Iterable[tuple[str, str, str]] = (),
    item_entity: Mapping[str, str] | None = None,
    settings: GraphSettings | None = None,
) -> ItemGraph:
    """One call for a full build: catalog, then knowledge links and triples, then events."""
    builder = GraphBuilder(settings)
    builder.add_items(items)
    builder.add_knowledge(triples, item_entity)
    if events is not None:
        builder.add_events(events)
    return builder.build()


def with_behaviour(
    graph: ItemGraph, events: EventColumns | Iterable[Event] | None = None
) -> ItemGraph:
    """The graph's catalog and knowledge edges plus behaviour edges from ``events`` only.

    A model judged on held-out events must not walk edges those events made: the engine's
    graph holds all of a platform's behaviour, so a fit on a split rebuilds that part from
    the split's own events (same settings, same node ids).
    """
    builder = GraphBuilder.from_graph(graph)
    builder.drop_behaviour()
    if events is not None:
        builder.add_events(events)
    return builder.build()
