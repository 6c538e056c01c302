"""ALS: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) via ``implicit``.

Latent factors generalise past direct co-occurrence, so ALS finds good items for users
whose history overlaps little with anyone's.  The heavy lifting is ``implicit``'s CPU
solver; this module adapts it to the Recommender protocol and folds in users that were
not in the training data from their history, with the same closed form ALS itself uses.

Threads: ``implicit`` runs its own thread pool, and a multi-threaded BLAS underneath it
makes fitting many times slower.  ``fit`` therefore limits BLAS to one thread for its
duration (threadpoolctl); setting ``OPENBLAS_NUM_THREADS=1`` in the environment does the
same process-wide.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch
from shoplm.recommend.itemknn import history_matrix


class FactorModel(Recommender):
    """Shared by ALS and BPR: score = user_factors @ item_factors.T, saved as two arrays.

    Subclasses name their ``implicit`` solver (``solver``: constructed with the model's
    parameters, which are named as the solver names them) and say how to build a factor for
    a user who was not in the training data (``unknown_user_factors``).
    """

    solver: ClassVar[type]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)

    def fit(self, data: Interactions, context: FitContext) -> None:
        self.n_items = data.n_items
        with threadpoolctl.threadpool_limits(1, "blas"):
            model = self.solver(**self.params, random_state=context.seed)
            model.fit(data.matrix.tocsr().astype(np.float32), show_progress=context.show_progress)
        self._set_factors(model.user_factors, model.item_factors)

    def unknown_user_factors(self, batch: UserBatch) -> np.ndarray:
        """float32 [len(batch), dim] factors for users outside the training data."""
        raise NotImplementedError

    def score(self, batch: UserBatch) -> np.ndarray:
        rows = np.asarray(batch.user_rows, dtype=np.int64)
        if len(rows) != len(batch.histories):
            raise ValueError(
                f"UserBatch has {len(rows)} user_rows but {len(batch.histories)} histories"
            )
        n_users = len(self.user_factors)
        too_big = np.flatnonzero((rows >= n_users) | (rows < -1))
        if len(too_big):
            b = int(too_big[0])
            raise ValueError(
                f"UserBatch.user_rows[{b}] = {rows[b]} is not -1 or a trained user row "
                f"(0..{n_users - 1})"
            )
        factors = np.zeros((len(rows), self.item_factors.shape[1]), dtype=np.float32)
        known = rows >= 0
        factors[known] = self.user_factors[rows[known]]
        unknown = np.flatnonzero(~known)
        if len(unknown):
            sub = UserBatch(rows[unknown], [batch.histories[i] for i in unknown])
            factors[unknown] = self.unknown_user_factors(sub)
        return factors @ self.item_factors.T

    def arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_factors(arrays["user_factors"], arrays["item_factors"])


class ALS(FactorModel):
    """Weighted matrix factorisation of the user-item matrix (confidence = alpha * weight).

    Users outside the training data are folded in: their factor is the exact least-squares
    solution given the fixed item factors, (Y^T C Y + reg I)^-1 Y^T C p, with each history
    occurrence counting as weight 1 (histories carry no event types).  A user with no
    history gets a zero factor, i.e. all-zero scores.
    """

    name = "als"
    solver = AlternatingLeastSquares

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        num_threads: int = 0,
    ) -> None:
        if factors < 1 or iterations < 1:
            raise ValueError("factors and iterations must be at least 1")
        if regularization < 0 or alpha <= 0:
            raise ValueError("regularization must be >= 0 and alpha > 0")
        super().__init__(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            num_threads=num_threads,
        )

    def unknown_user_factors(self, batch: UserBatch) -> np.ndarray:
        y = self.item_factors.astype(np.float64)
        dim = y.shape[1]
        base = y.T @ y + self.params["regularization"] * np.eye(dim)
        confidence = history_matrix(batch, self.n_items)
        confidence.data *= self.params["alpha"]
        out = np.zeros((len(batch), dim), dtype=np.float32)
        for b in range(len(batch)):
            lo, hi = confidence.indptr[b], confidence.indptr[b + 1]
            if lo == hi:
                continue
            items = confidence.indices[lo:hi]
            c = confidence.data[lo:hi].astype(np.float64)
            yh = y[items]
            a = base + (yh * (c - 1.0)[:, None]).T @ yh
            out[b] = np.linalg.solve(a, yh.T @ c)
        return out
