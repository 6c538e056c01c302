"""Popularity: the fallback for users we know nothing about, and a sanity baseline.

Counts distinct users per item, optionally with exponential time decay so what is
popular *now* outranks what was popular last year ("recent" popularity).
"""

from __future__ import annotations

import numpy as np

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch


class Popularity(Recommender):
    """Same list for everyone: items ranked by (decayed) number of users."""

    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        super().__init__(half_life_days=half_life_days)
        self.half_life_days = half_life_days
        self.item_scores = np.zeros(0, dtype=np.float32)

    def fit(self, data: Interactions, context: FitContext) -> None:
        self.n_items = data.n_items
        counts = data.item_popularity()
        if self.half_life_days and np.isfinite(data.last_timestamps).any():
            newest = np.nanmax(data.last_timestamps)
            age_days = (newest - np.nan_to_num(data.last_timestamps, nan=newest)) / 86400.0
            counts = counts * np.power(0.5, age_days / self.half_life_days)
        # log1p keeps scores on a scale that blends with other models' similarities.
        self.item_scores = np.log1p(counts).astype(np.float32)

    def score(self, batch: UserBatch) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(batch), self.n_items)).copy()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores = arrays["item_scores"]
