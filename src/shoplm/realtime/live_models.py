"""Recommenders stretched over items added after their fit.

A behaviour model knows nothing about a new item, so it scores it 0 (no evidence) and
ignores it in histories; the content model scores every item, new ones included, because
their text vectors are all it needs.  That makes a new item recommendable the moment it is
encoded, and the next fit learns its behaviour.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from shoplm.recommend.base import Recommender, UserBatch
from shoplm.recommend.content import ContentModel


class PaddedModel:
    """A fitted model answering for ``n_items`` rows, the rows past its own scored 0."""

    def __init__(self, base: Recommender, n_items: int) -> None:
        self.base = base
        self.n_items = int(n_items)

    def __getattr__(self, name: str) -> Any:  # name, params and model-specific attributes
        return getattr(self.base, name)

    def _pad(self, scores: np.ndarray) -> np.ndarray:
        scores = np.atleast_2d(scores)
        out = np.zeros((scores.shape[0], self.n_items), dtype=np.float32)
        out[:, : scores.shape[1]] = scores
        return out

    def score(self, batch: UserBatch) -> np.ndarray:
        known = self.base.n_items
        histories = [np.asarray(h, dtype=np.int64) for h in batch.histories]
        clipped = UserBatch(batch.user_rows, [h[h < known] for h in histories])
        return self._pad(self.base.score(clipped))

    def similar_items(self, item_row: int) -> np.ndarray:
        if item_row >= self.base.n_items:
            return np.zeros(self.n_items, dtype=np.float32)
        return self._pad(self.base.similar_items(item_row))[0]


def live_model(model: Recommender, n_items: int, embeddings: np.ndarray) -> Any:
    """The model as it should answer over the live catalog of ``n_items`` rows."""
    if isinstance(model, ContentModel):
        live = copy.copy(model)
        live.item_embeddings = embeddings
        live.n_items = int(n_items)
        return live
    return PaddedModel(model, n_items)
