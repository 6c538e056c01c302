"""Nearest items by inner product of L2-normalised vectors (cosine similarity), with faiss.

Small catalogs get an exact flat index: it is fast enough and never misses.  From
``exact_below`` vectors on, an HNSW graph answers in well under a millisecond at the price
of rare misses.  A filter (``allowed`` mask) is applied inside faiss, not after it, so a
filtered search still returns ``k`` hits when ``k`` allowed items exist.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import faiss
import numpy as np

from shoplm.index.rows import row_mask

FORMAT = 1
INDEX_FILE = "vectors.faiss"
META_FILE = "vector.json"
EF_CONSTRUCTION = 128  # graph quality at build time; faiss's default (40) loses recall at scale
# Below this fraction of allowed rows, HNSW would wander through mostly forbidden nodes;
# scanning only the allowed rows exactly is then both faster and complete.
FILTER_EXACT_FRACTION = 0.1
MAX_FILTERED_EF = 8192


class VectorIndex:
    """Rows are item rows: row ``i`` is the ``i``-th vector given to ``build``/``add``."""

    def __init__(
        self, index: faiss.Index, kind: str, hnsw_m: int = 32, ef_search: int = 128
    ) -> None:
        if kind not in ("exact", "hnsw"):
            raise ValueError(f"vector index kind must be 'exact' or 'hnsw', got {kind!r}")
        self._index = index
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        exact_below: int = 200_000,
        hnsw_m: int = 32,
        ef_search: int = 128,
    ) -> VectorIndex:
        """Index ``vectors`` (float32 ``[n, dim]``, rows of unit length for cosine scores)."""
        array = _matrix(vectors, "vectors")
        n, dim = array.shape
        if dim == 0:
            raise ValueError("vectors have 0 columns: nothing to index")
        if n < exact_below:
            index: faiss.Index = faiss.IndexFlatIP(dim)
            kind = "exact"
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = EF_CONSTRUCTION
            index.hnsw.efSearch = ef_search
            kind = "hnsw"
        if n:
            index.add(array)
        return cls(index, kind, hnsw_m=hnsw_m, ef_search=ef_search)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` rows per query: scores ``[n, k]`` float32 and rows ``[n, k]`` int64.

        Missing places (fewer than ``k`` rows, or fewer allowed) hold row -1 and score -inf.
        ``allowed`` is a bool mask over rows; only rows where it is True are returned.
        """
        q = np.asarray(queries)
        q = _matrix(q[None, :] if q.ndim == 1 else q, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} columns, the index holds {self.dim}")
        k = int(k)
        if k <= 0 or self.size == 0:
            return _padded(len(q), max(k, 0))
        if allowed is None:
            scores, rows = self._search(q, k, None)
        else:
            scores, rows = self._search_allowed(q, k, row_mask(allowed, self.size))
        return _clean(scores, rows)

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Append vectors; returns their new row ids."""
        array = _matrix(vectors, "vectors")
        if array.shape[1] != self.dim:
            raise ValueError(f"vectors have {array.shape[1]} columns, the index holds {self.dim}")
        start = self.size
        if len(array):
            self._index.add(array)
        return np.arange(start, start + len(array), dtype=np.int64)

    def save(self, folder: Path) -> None:
        """``vectors.faiss`` (faiss's own format) plus ``vector.json``; no pickle."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(folder / INDEX_FILE))
        meta = {
            "format": FORMAT,
            "kind": self.kind,
            "dim": self.dim,
            "size": self.size,
            "hnsw_m": self.hnsw_m,
            "ef_search": self.ef_search,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> VectorIndex:
        folder = Path(folder)
        meta_path, index_path = folder / META_FILE, folder / INDEX_FILE
        if not meta_path.is_file() or not index_path.is_file():
            raise FileNotFoundError(
                f"no vector index in {folder}: expected {META_FILE} and {INDEX_FILE}"
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_path}: unsupported vector index format {meta.get('format')}")
        index = faiss.read_index(str(index_path))
        if index.ntotal != meta["size"] or index.d != meta["dim"]:
            raise ValueError(
                f"{index_path} holds {index.ntotal} vectors of {index.d} dims but {META_FILE} "
                f"says {meta['size']} of {meta['dim']}: the folder is inconsistent, fit again"
            )
        loaded = cls(index, meta["kind"], hnsw_m=meta["hnsw_m"], ef_search=meta["ef_search"])
        if loaded.kind == "hnsw":
            loaded._index.hnsw.efSearch = loaded.ef_search
        return loaded

    # -- internals -------------------------------------------------------------------------
    def _search(
        self, q: np.ndarray, k: int, selector: faiss.IDSelector | None, ef: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(ef or self.ef_search, k))
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return self._index.search(q, k, params=params)

    def _search_allowed(
        self, q: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        n_allowed = int(allowed.sum())
        if n_allowed == 0:
            return _padded(len(q), k)
        selector = faiss.IDSelectorBitmap(np.packbits(allowed, bitorder="little"))
        if self.kind == "exact":
            return self._search(q, k, selector)
        fraction = n_allowed / self.size
        if fraction >= FILTER_EXACT_FRACTION:
            # Widen the beam so that about k allowed nodes are met along the way.
            ef = min(MAX_FILTERED_EF, max(self.ef_search, math.ceil(2 * k / fraction)))
            scores, rows = self._search(q, k, selector, ef=ef)
            if ((rows >= 0).sum(axis=1) >= min(k, n_allowed)).all():
                return scores, rows
        # Few allowed rows (or the graph fell short): scan them exactly in the HNSW storage.
        storage = faiss.downcast_index(self._index.storage)
        params = faiss.SearchParameters()
        params.sel = selector
        return storage.search(q, k, params=params)


def _matrix(vectors: np.ndarray, name: str) -> np.ndarray:
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array [n, dim], got shape {array.shape}")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{name} row {bad} holds NaN or infinite values")
    return array


def _padded(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)


def _clean(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """faiss pads with -FLT_MAX; say -inf so no one mistakes it for a real score."""
    rows = rows.astype(np.int64, copy=False)
    scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32, copy=False)
    return scores, rows
