"""ItemKNN: "people who took this also took that", from item-item cosine similarity.

Strong on sparse shop data, explainable (each score is a sum over the user's own items)
and answers from the user's latest history without refitting.  The similarity matrix is
kept sparse (top ``neighbours`` per item) so fitting and scoring stay fast at catalog scale.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch, recency_weights

# Items per block when multiplying X^T X: bounds peak memory on large catalogs.
_BLOCK = 2048


def history_matrix(batch: UserBatch, n_items: int, half_life: float | None = None) -> sp.csr_matrix:
    """The batch's histories as a sparse [len(batch), n_items] matrix of item weights.

    Each occurrence of an item adds its recency weight (1 when ``half_life`` is None), so
    repeated items count more.  Items at or beyond ``n_items`` (added to the catalog after
    the model was fitted) are dropped; negative rows are an error.
    """
    if len(batch.user_rows) != len(batch.histories):
        raise ValueError(
            f"UserBatch has {len(batch.user_rows)} user_rows but {len(batch.histories)} histories"
        )
    indptr = [0]
    cols, vals = [], []
    for b, history in enumerate(batch.histories):
        history = np.asarray(history, dtype=np.int64)
        if len(history) and history.min() < 0:
            raise ValueError(f"UserBatch.histories[{b}] holds a negative item row")
        if half_life is None:
            weights = np.ones(len(history), dtype=np.float32)
        else:
            weights = recency_weights(len(history), half_life)
        keep = history < n_items
        cols.append(history[keep])
        vals.append(weights[keep].astype(np.float32))
        indptr.append(indptr[-1] + int(keep.sum()))
    # Built straight in CSR form (one row per user): this runs once per request.
    matrix = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0, dtype=np.float32),
            np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(len(batch), n_items),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return matrix


def top_k_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (vectorised: one lexsort, no row loop)."""
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    counts = np.diff(matrix.indptr)
    if counts.max(initial=0) <= k:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((-matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])),
        shape=matrix.shape,
        dtype=matrix.dtype,
    )


class ItemKNN(Recommender):
    """Sum of the user's history items' similarity rows.

    Parameters: ``neighbours`` kept per item, ``shrink`` (damps similarities built on few
    co-occurrences), ``binary`` (count each user-item pair once instead of by event
    weight), ``half_life`` (in history items; None weighs the whole history equally).
    """

    name = "itemknn"

    def __init__(
        self,
        neighbours: int = 100,
        shrink: float = 10.0,
        binary: bool = True,
        half_life: float | None = None,
    ) -> None:
        if neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, got {neighbours}")
        if shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {shrink}")
        super().__init__(neighbours=neighbours, shrink=shrink, binary=binary, half_life=half_life)
        self.neighbours = neighbours
        self.shrink = shrink
        self.binary = binary
        self.half_life = half_life
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, data: Interactions, context: FitContext) -> None:
        self.n_items = data.n_items
        x = data.matrix.tocsc().astype(np.float32)
        if self.binary:
            x.data = (x.data > 0).astype(np.float32)
        xt = x.T.tocsr()  # items x users
        norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=1)).ravel()).astype(np.float32)
        blocks = []
        starts = range(0, self.n_items, _BLOCK)
        for start in tqdm(starts, desc="itemknn", disable=not context.show_progress):
            stop = min(start + _BLOCK, self.n_items)
            co = (xt[start:stop] @ x).tocoo()  # co-occurrence, block items x all items
            keep = co.row + start != co.col  # an item is not its own neighbour
            r, c, v = co.row[keep], co.col[keep], co.data[keep]
            v = v / (norms[r + start] * norms[c] + self.shrink + 1e-12)
            block = sp.csr_matrix((v, (r, c)), shape=(stop - start, self.n_items))
            blocks.append(top_k_per_row(block, self.neighbours))
        if blocks:
            self.similarity = sp.vstack(blocks, format="csr", dtype=np.float32)
        else:
            self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def score(self, batch: UserBatch) -> np.ndarray:
        history = history_matrix(batch, self.n_items, self.half_life)
        return np.asarray((history @ self.similarity).toarray(), dtype=np.float32)

    def similar_items(self, item_row: int) -> np.ndarray:
        if not 0 <= item_row < self.n_items:
            raise ValueError(f"item row {item_row} is outside 0..{self.n_items - 1}")
        return self.similarity[item_row].toarray().ravel().astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {
            "data": s.data.astype(np.float32),
            "indices": s.indices.astype(np.int32),
            "indptr": s.indptr.astype(np.int64),
        }

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]),
            shape=(self.n_items, self.n_items),
        )
