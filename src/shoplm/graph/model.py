"""The item graph as data: typed nodes, typed weighted edges, one compact sparse layout.

Items, brands, category-path nodes, attribute values and external entities are nodes;
catalog facts, behaviour (co-purchase / co-view) and external triples are edges.  Edges
are kept as a CSR over their source node (``indptr`` / ``indices``) with parallel edge
type and weight arrays, so a platform's graph is a handful of numpy arrays (saved as
npz) plus the vocabularies and node names (saved as JSON): no pickles.

Edges are undirected in meaning (a walk may go either way); each is stored once, in the
direction it was added (item -> brand, child -> parent category, head -> tail).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ITEM, BRAND, CATEGORY, ATTRIBUTE, ENTITY = "item", "brand", "category", "attribute", "entity"
NODE_TYPES: tuple[str, ...] = (ITEM, BRAND, CATEGORY, ATTRIBUTE, ENTITY)

# Built-in edge types; external relations are added as "kg:<relation>".
BRAND_EDGE = "brand"
CATEGORY_EDGE = "category"  # item -> its deepest category node
PARENT_EDGE = "subcategory_of"  # category node -> its parent
ATTRIBUTE_EDGE = "attribute"
CO_PURCHASE, CO_VIEW, CO_RATING = "co_purchase", "co_view", "co_rating"
BEHAVIOUR_EDGES: tuple[str, ...] = (CO_PURCHASE, CO_VIEW, CO_RATING)
CATALOG_EDGES: tuple[str, ...] = (BRAND_EDGE, CATEGORY_EDGE, ATTRIBUTE_EDGE)
KNOWLEDGE_PREFIX = "kg:"

GRAPH_ARRAYS = "graph.npz"
GRAPH_JSON = "graph.json"
FORMAT_VERSION = 1


def edge_group(edge_type: str) -> str:
    """The family an edge type belongs to: behaviour, brand, category, attribute, knowledge."""
    if edge_type in BEHAVIOUR_EDGES:
        return "behaviour"
    if edge_type in (CATEGORY_EDGE, PARENT_EDGE):
        return "category"
    if edge_type.startswith(KNOWLEDGE_PREFIX):
        return "knowledge"
    return edge_type


@dataclass
class UserTails:
    """Each user's last few positive events, so an incremental update can pair new events
    with the ones just before them exactly as a full rebuild would."""

    user_ids: list[str] = field(default_factory=list)
    nodes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int32))
    groups: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int8))
    times: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float64))


class ItemGraph:
    """Typed nodes and typed, weighted edges over them.

    ``reference_time`` is the time behaviour weights are decayed to (the newest event
    seen); ``meta`` records how the graph was built (settings, the item -> entity links).
    """

    def __init__(
        self,
        node_type: np.ndarray,
        node_keys: list[str],
        node_labels: list[str],
        edge_types: list[str],
        indptr: np.ndarray,
        indices: np.ndarray,
        etype: np.ndarray,
        weight: np.ndarray,
        reference_time: float | None = None,
        meta: dict[str, Any] | None = None,
        tails: UserTails | None = None,
    ) -> None:
        n = len(node_keys)
        if len(node_type) != n or len(node_labels) != n:
            raise ValueError("node_type, node_keys and node_labels must have the same length")
        if len(indptr) != n + 1:
            raise ValueError(f"indptr has {len(indptr)} entries; {n} nodes need {n + 1}")
        if not len(indices) == len(etype) == len(weight) == int(indptr[-1]):
            raise ValueError("indices, etype and weight must hold one entry per edge")
        self.node_type = np.asarray(node_type, dtype=np.int8)
        self.node_keys = list(node_keys)
        self.node_labels = list(node_labels)
        self.edge_types = list(edge_types)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int32)
        self.etype = np.asarray(etype, dtype=np.int16)
        self.weight = np.asarray(weight, dtype=np.float32)
        self.reference_time = reference_time
        self.meta = dict(meta or {})
        self.tails = tails or UserTails()
        self._index: dict[tuple[int, str], int] | None = None
        self._incidence: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._cache: dict[str, Any] = {}

    # -- sizes and names -------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_keys)

    @property
    def n_edges(self) -> int:
        return len(self.indices)

    @property
    def sources(self) -> np.ndarray:
        """Source node of every edge (the CSR rows expanded)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(self.indptr))

    def type_of(self, node: int) -> str:
        return NODE_TYPES[int(self.node_type[node])]

    def node_name(self, node: int) -> str:
        """A stable, readable id: ``<type>:<key>``."""
        return f"{self.type_of(node)}:{self.node_keys[node]}"

    def node(self, node_type: str, key: str) -> int | None:
        """The node id of (type, key), or None if the graph has no such node."""
        if self._index is None:
            pairs = zip(self.node_type.tolist(), self.node_keys, strict=True)
            self._index = {pair: i for i, pair in enumerate(pairs)}
        return self._index.get((NODE_TYPES.index(node_type), key))

    def item_node(self, item_id: str) -> int | None:
        return self.node(ITEM, item_id)

    def item_nodes(self, item_ids: Sequence[str]) -> np.ndarray:
        """Node id per item id, -1 for items the graph does not hold."""
        found = [self.item_node(i) for i in item_ids]
        return np.array([-1 if n is None else n for n in found], dtype=np.int64)

    def nodes_of_type(self, node_type: str) -> np.ndarray:
        return np.flatnonzero(self.node_type == NODE_TYPES.index(node_type))

    def edge_type_id(self, name: str) -> int | None:
        try:
            return self.edge_types.index(name)
        except ValueError:
            return None

    # -- structure -------------------------------------------------------------------------
    def incidence(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both directions of every edge as a CSR: (indptr, neighbour, edge id), rows sorted.

        Lets a walk or a check see a node's neighbours whichever way the edge was stored.
        """
        if self._incidence is None:
            src = self.sources.astype(np.int64)
            dst = self.indices.astype(np.int64)
            edge_ids = np.arange(self.n_edges, dtype=np.int64)
            rows = np.concatenate([src, dst])
            cols = np.concatenate([dst, src])
            ids = np.concatenate([edge_ids, edge_ids])
            order = np.lexsort((ids, cols, rows))
            counts = np.bincount(rows, minlength=self.n_nodes)
            indptr = np.concatenate([[0], np.cumsum(counts)])
            self._incidence = (indptr, cols[order], ids[order])
        return self._incidence

    def neighbours(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour nodes, edge ids) of ``node``, neighbours ascending."""
        indptr, cols, ids = self.incidence()
        start, stop = indptr[node], indptr[node + 1]
        return cols[start:stop], ids[start:stop]

    def edges_between(self, a: int, b: int) -> np.ndarray:
        """Ids of all edges joining ``a`` and ``b`` (either direction)."""
        if not (0 <= a < self.n_nodes and 0 <= b < self.n_nodes):
            return np.zeros(0, dtype=np.int64)
        cols, ids = self.neighbours(a)
        lo, hi = np.searchsorted(cols, b, side="left"), np.searchsorted(cols, b, side="right")
        return ids[lo:hi]

    def has_edge(self, a: int, b: int, edge_type: str | None = None) -> bool:
        """Whether an edge (of ``edge_type``, if given) joins ``a`` and ``b``."""
        ids = self.edges_between(a, b)
        if edge_type is None:
            return len(ids) > 0
        wanted = self.edge_type_id(edge_type)
        return wanted is not None and bool(np.any(self.etype[ids] == wanted))

    def edge_weight(self, a: int, b: int, edge_type: str) -> float:
        """Summed weight of the ``edge_type`` edges joining ``a`` and ``b`` (0 if none)."""
        ids = self.edges_between(a, b)
        wanted = self.edge_type_id(edge_type)
        if wanted is None:
            return 0.0
        return float(self.weight[ids][self.etype[ids] == wanted].sum())

    def adjacency(
        self, edge_types: Iterable[str] | None = None, symmetric: bool = True
    ) -> sp.csr_matrix:
        """float32 [n_nodes, n_nodes] of summed edge weights, optionally only some types."""
        keep = np.ones(self.n_edges, dtype=bool)
        if edge_types is not None:
            wanted = [i for i, name in enumerate(self.edge_types) if name in set(edge_types)]
            keep = np.isin(self.etype, wanted)
        src = self.sources[keep]
        dst = self.indices[keep]
        w = self.weight[keep]
        if symmetric:
            src, dst, w = np.concatenate([src, dst]), np.concatenate([dst, src]), np.tile(w, 2)
        matrix = sp.csr_matrix(
            (w, (src, dst)), shape=(self.n_nodes, self.n_nodes), dtype=np.float32
        )
        matrix.sum_duplicates()
        return matrix

    def counts(self) -> dict[str, dict[str, int]]:
        """Nodes per node type and edges per edge type: a quick look at what was built."""
        nodes = np.bincount(self.node_type, minlength=len(NODE_TYPES))
        edges = np.bincount(self.etype, minlength=len(self.edge_types))
        return {
            "nodes": {name: int(c) for name, c in zip(NODE_TYPES, nodes, strict=True) if c},
            "edges": {name: int(c) for name, c in zip(self.edge_types, edges, strict=True) if c},
        }

    def cached(self, key: str, make: Any) -> Any:
        """A derived structure (search index, walk matrix) computed once per graph."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- comparison and persistence ----------------------------------------------------
    def same_as(self, other: ItemGraph) -> bool:
        """Same nodes, edges, weights (to float32 precision), vocabularies and time."""
        return (
            self.node_keys == other.node_keys
            and self.node_labels == other.node_labels
            and self.edge_types == other.edge_types
            and np.array_equal(self.node_type, other.node_type)
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
            and np.array_equal(self.etype, other.etype)
            and np.allclose(self.weight, other.weight, rtol=1e-6, atol=0)
            and self.reference_time == other.reference_time
        )

    def save(self, folder: Path) -> Path:
        """Write ``graph.npz`` (arrays) and ``graph.json`` (names, vocabularies, settings)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / GRAPH_ARRAYS,
            node_type=self.node_type,
            indptr=self.indptr,
            indices=self.indices,
            etype=self.etype,
            weight=self.weight,
            tail_nodes=self.tails.nodes,
            tail_groups=self.tails.groups,
            tail_times=self.tails.times,
        )
        manifest = {
            "format": FORMAT_VERSION,
            "node_types": list(NODE_TYPES),
            "edge_types": self.edge_types,
            "node_keys": self.node_keys,
            "node_labels": self.node_labels,
            "reference_time": self.reference_time,
            "meta": self.meta,
            "tail_users": self.tails.user_ids,
        }
        (folder / GRAPH_JSON).write_text(json.dumps(manifest))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ItemGraph:
        folder = Path(folder)
        path = folder / GRAPH_JSON
        if not path.exists():
            raise FileNotFoundError(f"{folder} holds no saved graph ({GRAPH_JSON} is missing)")
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: graph format {manifest.get('format')!r} is not supported")
        if tuple(manifest["node_types"]) != NODE_TYPES:
            raise ValueError(f"{path}: node types {manifest['node_types']} differ from this shoplm")
        with np.load(folder / GRAPH_ARRAYS, allow_pickle=False) as arrays:
            data = {name: arrays[name] for name in arrays.files}
        tails = UserTails(
            user_ids=list(manifest["tail_users"]),
            nodes=data["tail_nodes"],
            groups=data["tail_groups"],
            times=data["tail_times"],
        )
        return cls(
            node_type=data["node_type"],
            node_keys=manifest["node_keys"],
            node_labels=manifest["node_labels"],
            edge_types=manifest["edge_types"],
            indptr=data["indptr"],
            indices=data["indices"],
            etype=data["etype"],
            weight=data["weight"],
            reference_time=manifest["reference_time"],
            meta=manifest["meta"],
            tails=tails,
        )
