"""Indexes that answer over a fit plus the items that arrived after it.

A fitted index cannot change a row in place (faiss flat/HNSW) or cheaply re-weight BM25, so
new and changed items live in a small overlay searched exactly, while the fitted rows they
replace (changed or deleted items) are masked out of the fitted index.  Both views use the
same item rows as the live catalog, so the search pipeline cannot tell them from one index.
The next fit folds the overlay into proper indexes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shoplm.index.lexical import DEFAULT_FIELD_WEIGHTS, OTHER_FIELD_WEIGHT, LexicalIndex
from shoplm.index.vector import VectorIndex
from shoplm.text.tokenize import tokenize


def _base_mask(allowed: np.ndarray | None, base_size: int, masked: np.ndarray) -> np.ndarray | None:
    """Mask over the fitted rows: the caller's filter minus rows the overlay replaces."""
    if allowed is None and len(masked) == 0:
        return None
    mask = (
        np.ones(base_size, dtype=bool)
        if allowed is None
        else np.asarray(allowed[:base_size], dtype=bool).copy()
    )
    mask[masked] = False
    return mask


def _check_allowed(allowed: np.ndarray | None, size: int) -> None:
    if allowed is not None and (allowed.dtype != np.bool_ or allowed.shape != (size,)):
        raise ValueError(
            f"allowed must be a bool mask of shape ({size},), got {allowed.dtype} {allowed.shape}"
        )


class LiveVectorIndex:
    """A fitted ``VectorIndex`` with masked rows plus exact search over overlay vectors."""

    def __init__(
        self,
        base: VectorIndex,
        size: int,
        masked_rows: np.ndarray,
        overlay_rows: np.ndarray,
        overlay_vectors: np.ndarray,
    ) -> None:
        self.base = base
        self.size = int(size)
        self.masked_rows = np.asarray(masked_rows, dtype=np.int64)
        self.overlay_rows = np.asarray(overlay_rows, dtype=np.int64)
        self.overlay_vectors = np.ascontiguousarray(overlay_vectors, dtype=np.float32)

    def __getattr__(self, name: str) -> Any:  # kind, dim, hnsw_m... of the fitted index
        return getattr(self.base, name)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Same contract as ``VectorIndex.search``: scores and rows ``[n, k]``, -1 padded."""
        _check_allowed(allowed, self.size)
        q = np.asarray(queries, dtype=np.float32)
        q = q[None, :] if q.ndim == 1 else q
        k = int(k)
        base_allowed = _base_mask(allowed, self.base.size, self.masked_rows)
        if base_allowed is not None and not base_allowed.any():
            scores = np.full((len(q), max(k, 0)), -np.inf, dtype=np.float32)
            rows = np.full((len(q), max(k, 0)), -1, dtype=np.int64)
        else:
            scores, rows = self.base.search(q, k, allowed=base_allowed)
        if len(self.overlay_rows) == 0 or k <= 0:
            return scores, rows
        extra = q @ self.overlay_vectors.T  # [n, n_overlay]
        if allowed is not None:
            extra[:, ~allowed[self.overlay_rows]] = -np.inf
        all_scores = np.concatenate([scores, extra], axis=1)
        all_rows = np.concatenate([rows, np.broadcast_to(self.overlay_rows, extra.shape)], axis=1)
        all_rows = np.where(np.isfinite(all_scores), all_rows, -1)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
        return (
            np.take_along_axis(all_scores, order, axis=1).astype(np.float32),
            np.take_along_axis(all_rows, order, axis=1).astype(np.int64),
        )

    def add(self, vectors: np.ndarray) -> np.ndarray:
        raise TypeError("a live index grows through the real-time overlay, not add()")


class LiveLexicalIndex:
    """A fitted ``LexicalIndex`` with masked rows plus BM25 over the overlay documents.

    Overlay documents are weighted with the fitted index's document frequencies (plus their
    own), so their scores sit on the same scale as the fitted rows' scores; the one
    approximation is document length, taken as average.
    """

    def __init__(
        self,
        base: LexicalIndex,
        size: int,
        masked_rows: np.ndarray,
        overlay_rows: np.ndarray,
        overlay_docs: Sequence[Mapping[str, str]],
    ) -> None:
        self.base = base
        self.size = int(size)
        self.masked_rows = np.asarray(masked_rows, dtype=np.int64)
        self.overlay_rows = np.asarray(overlay_rows, dtype=np.int64)
        weights = dict(DEFAULT_FIELD_WEIGHTS)
        weights.update(base.field_weights)
        self._doc_terms = [_term_counts(doc, weights) for doc in overlay_docs]
        self._overlay_df: Counter[str] = Counter()
        for terms in self._doc_terms:
            self._overlay_df.update(terms.keys())
        self._vocabulary: dict[str, int] | None = None

    def __getattr__(self, name: str) -> Any:  # field_weights, params... of the fitted index
        return getattr(self.base, name)

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Same contract as ``LexicalIndex.search``: rows and scores, best first, score > 0."""
        _check_allowed(allowed, self.size)
        base_allowed = _base_mask(allowed, self.base.size, self.masked_rows)
        rows, scores = self.base.search(query, k, allowed=base_allowed)
        if not self._doc_terms or k <= 0:
            return rows, scores
        extra = self._overlay_scores(query)
        if allowed is not None:
            extra[~allowed[self.overlay_rows]] = 0.0
        keep = extra > 0
        if not keep.any():
            return rows, scores
        all_rows = np.concatenate([rows, self.overlay_rows[keep]])
        all_scores = np.concatenate([scores, extra[keep]])
        order = np.lexsort((all_rows, -all_scores))[: int(k)]
        return all_rows[order].astype(np.int64), all_scores[order].astype(np.float32)

    def search_many(
        self, queries: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.search(query, k, allowed) for query in queries]

    def vocabulary(self) -> dict[str, int]:
        """Token -> number of items holding it, fitted and overlay items together."""
        if self._vocabulary is None:
            merged = dict(self.base.vocabulary())
            for token, count in self._overlay_df.items():
                merged[token] = merged.get(token, 0) + count
            self._vocabulary = merged
        return self._vocabulary

    def _overlay_scores(self, query: str) -> np.ndarray:
        tokens = list(dict.fromkeys(tokenize(query)))
        k1 = float(self.base.params.get("k1", 1.5))
        n_docs = self.base.size + len(self._doc_terms)
        base_df = self.base.vocabulary()
        scores = np.zeros(len(self._doc_terms), dtype=np.float32)
        for token in tokens:
            df = base_df.get(token, 0) + self._overlay_df.get(token, 0)
            if df == 0:
                continue
            idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
            for i, terms in enumerate(self._doc_terms):
                tf = terms.get(token, 0)
                if tf:  # Lucene's BM25 (bm25s "lucene"), document length taken as average
                    scores[i] += idf * tf / (tf + k1)
        return scores


def _term_counts(doc: Mapping[str, str], weights: Mapping[str, int]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for field, text in doc.items():
        repeat = weights.get(field, OTHER_FIELD_WEIGHT)
        if not text or repeat == 0:
            continue
        for token in tokenize(text):
            counts[token] += repeat
    return counts
