"""Query -> ranked item rows: lexical and semantic retrieval, fusion, filters, personal boost.

The pipeline only knows item rows; the engine turns rows into Hits with item fields and
reasons.  ``method`` picks a single retriever or the fused hybrid, which is how the
evaluation compares them in one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shoplm.fitted import FittedPlatform
from shoplm.search.filters import SearchFilters
from shoplm.search.fusion import reciprocal_rank_fusion
from shoplm.text.encoder import TextEncoder

SEARCH_METHODS = ("bm25", "dense", "hybrid")
PERSONAL_WEIGHT = 0.5


@dataclass
class SearchCandidate:
    """One retrieved item row with its fused score and each source's contribution."""

    row: int
    score: float
    sources: dict[str, float] = field(default_factory=dict)
    nearest_history_row: int | None = None


class SearchPipeline:
    """Retrieve ``depth`` candidates per source, fuse, filter and cut to ``k``."""

    def __init__(self, fitted: FittedPlatform, encoder: TextEncoder, depth: int = 200) -> None:
        self.fitted = fitted
        self.encoder = encoder
        self.depth = depth

    def search(
        self,
        query: str,
        k: int = 10,
        method: str = "hybrid",
        filters: SearchFilters | None = None,
        history_rows: np.ndarray | None = None,
    ) -> list[SearchCandidate]:
        if method not in SEARCH_METHODS:
            raise ValueError(f"unknown search method {method!r}; choose from {SEARCH_METHODS}")
        query = query.strip()
        if not query:
            return []
        allowed = (
            None if filters is None or filters.is_empty() else filters.mask(self.fitted.catalog)
        )
        if allowed is not None and not allowed.any():
            return []
        depth = max(self.depth, k)
        lists: dict[str, np.ndarray] = {}
        raw: dict[str, dict[int, float]] = {}
        if method in ("bm25", "hybrid"):
            rows, scores = self._lexical(query, depth, allowed)
            lists["bm25"] = rows
            raw["bm25"] = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        if method in ("dense", "hybrid"):
            rows, scores = self._dense(query, depth, allowed)
            lists["dense"] = rows
            raw["dense"] = dict(zip(rows.tolist(), scores.tolist(), strict=True))

        if method == "hybrid":
            fused = reciprocal_rank_fusion(lists)
            candidates = [
                SearchCandidate(row, entry["fused"], {s: raw[s][row] for s in raw if row in raw[s]})
                for row, entry in fused.items()
            ]
        else:
            (source,) = lists
            candidates = [
                SearchCandidate(row, raw[source][row], {source: raw[source][row]})
                for row in lists[source].tolist()
            ]
        candidates.sort(key=lambda c: (-c.score, c.row))
        if history_rows is not None and len(history_rows):
            candidates = self._personalise(candidates, history_rows)
        return candidates[:k]

    def _lexical(
        self, query: str, depth: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        index = self.fitted.lexical_index
        if allowed is None:
            return index.search(query, depth)
        # Post-filter a deeper list: BM25 has no cheap pre-filter, and filtered search is rarer.
        rows, scores = index.search(query, min(self.fitted.n_items, depth * 20))
        keep = allowed[rows] if len(rows) else np.zeros(0, dtype=bool)
        return rows[keep][:depth], scores[keep][:depth]

    def _dense(
        self, query: str, depth: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        vector = self.encoder.encode_query(query)[None, :]
        scores, rows = self.fitted.vector_index.search(vector, depth, allowed=allowed)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def _personalise(
        self, candidates: list[SearchCandidate], history_rows: np.ndarray
    ) -> list[SearchCandidate]:
        """Fuse the query ranking with a ranking by similarity to the user's history.

        Only re-orders the retrieved candidates, so a user's taste can never pull in items
        that do not match the query; a user without history is never touched.
        """
        embeddings = self.fitted.embeddings
        rows = np.array([c.row for c in candidates], dtype=np.int64)
        similarity = embeddings[rows] @ embeddings[history_rows].T  # [n_candidates, n_history]
        affinity = similarity.max(axis=1)
        nearest = history_rows[similarity.argmax(axis=1)]
        fused = reciprocal_rank_fusion(
            {"query": rows, "history": rows[np.argsort(-affinity, kind="stable")]},
            weights={"query": 1.0, "history": PERSONAL_WEIGHT},
        )
        for position, candidate in enumerate(candidates):
            candidate.sources["history"] = float(affinity[position])
            candidate.nearest_history_row = int(nearest[position])
            candidate.score = fused[candidate.row]["fused"]
        candidates.sort(key=lambda c: (-c.score, c.row))
        return candidates
