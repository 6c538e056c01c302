"""The two reference points every rating model must beat: the global mean and biases.

``BiasBaseline`` is the classic ``mu + b_user + b_item`` model with ridge-shrunk biases,
fitted by alternating closed-form updates (each update is the exact minimiser given the
other side), so it is deterministic and converges in a few epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shoplm.recommend.rating.base import ItemVectors, Monitor, RatingModel, Ratings


class GlobalMean(RatingModel):
    """Predicts the mean training rating for every pair."""

    name = "global-mean"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = 0.0

    def _fit(
        self,
        data: Ratings,
        item_vectors: ItemVectors | None,
        monitor: Monitor | None,
    ) -> None:
        self.mean = float(data.values.mean())
        self._record(0, monitor)

    def _predict(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return np.full(len(user_rows), self.mean)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": np.array([self.mean])}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = float(arrays["mean"][0])


class BiasBaseline(RatingModel):
    """``mu + b_u + b_i``; the biases are shrunk towards 0 by ``reg_user`` / ``reg_item``.

    An unknown user or item contributes no bias.
    """

    name = "bias"

    def __init__(
        self, reg_user: float = 15.0, reg_item: float = 10.0, epochs: int = 10, **kwargs: Any
    ) -> None:
        if reg_user < 0 or reg_item < 0:
            raise ValueError("regularisation must be non-negative")
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        super().__init__(
            reg_user=float(reg_user), reg_item=float(reg_item), epochs=int(epochs), **kwargs
        )
        self.mean = 0.0
        self.user_bias = np.zeros(0)
        self.item_bias = np.zeros(0)

    def _fit(
        self,
        data: Ratings,
        item_vectors: ItemVectors | None,
        monitor: Monitor | None,
    ) -> None:
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        u, i, r = data.user_rows, data.item_rows, data.values
        self.mean = float(r.mean())
        user_count = np.bincount(u, minlength=n_users)
        item_count = np.bincount(i, minlength=n_items)
        self.user_bias = np.zeros(n_users)
        self.item_bias = np.zeros(n_items)
        for epoch in range(1, self.params["epochs"] + 1):
            residual = r - self.mean - self.user_bias[u]
            self.item_bias = np.bincount(i, residual, n_items) / (
                item_count + self.params["reg_item"]
            )
            residual = r - self.mean - self.item_bias[i]
            self.user_bias = np.bincount(u, residual, n_users) / (
                user_count + self.params["reg_user"]
            )
            if self._record(epoch, monitor):
                break

    def _predict(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self.mean + known(self.user_bias, user_rows) + known(self.item_bias, item_rows)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": np.array([self.mean]),
            "user_bias": self.user_bias,
            "item_bias": self.item_bias,
        }

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = float(arrays["mean"][0])
        self.user_bias, self.item_bias = arrays["user_bias"], arrays["item_bias"]


def known(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]`` with 0 (or zero rows) where the row is -1 (an unknown id)."""
    out = values[np.maximum(rows, 0)]
    mask = rows < 0
    if mask.any():
        out = out.copy()
        out[mask] = 0.0
    return out
