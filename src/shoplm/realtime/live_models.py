"""Recommenders stretched over items added after their fit.

A behaviour model knows nothing about a new item, so it gives it the mean of its scores for
that user's known items (no evidence either way: 0 once the blend standardises them), or,
for the hybrid, a score below all of them (it recommends its candidates, and a new item is
none), and ignores it in histories (``Recommender.new_item_score``).  A fixed 0 would not do:
the hybrid's ranker scores its candidates on a scale of its own, often below 0, so a new item
would have outranked its real picks.
The content model scores every item, new ones included, because their text vectors are all
it needs.  That makes a new item recommendable the moment it is encoded, and the next fit
learns its behaviour.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from shoplm.recommend.base import Recommender, UserBatch
from shoplm.recommend.content import ContentModel


class PaddedModel:
    """A fitted model answering for ``n_items`` rows; each row past its own scores what the
    model's ``new_item_score`` says, from its finite scores for the same user (see module)."""

    def __init__(self, base: Recommender, n_items: int) -> None:
        self.base = base
        self.n_items = int(n_items)

    def __getattr__(self, name: str) -> Any:  # name, params and model-specific attributes
        return getattr(self.base, name)

    def _pad(self, scores: np.ndarray) -> np.ndarray:
        scores = np.atleast_2d(scores)
        out = np.empty((scores.shape[0], self.n_items), dtype=np.float32)
        out[:, : scores.shape[1]] = scores
        policy = getattr(self.base, "new_item_score", "mean")
        out[:, scores.shape[1] :] = no_evidence(scores, policy)[:, None]
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


def no_evidence(scores: np.ndarray, policy: str = "mean") -> np.ndarray:
    """Per row: the mean of its finite scores, or for ``"lowest"`` one below the least of
    them (0 for a row with none)."""
    finite = np.isfinite(scores)
    counts = finite.sum(axis=1)
    if policy == "lowest":
        least = np.where(finite, scores, np.inf).min(axis=1)
        return np.where(counts > 0, least - 1.0, 0.0).astype(np.float32)
    if policy != "mean":
        raise ValueError(f"unknown new_item_score {policy!r}; choose mean or lowest")
    total = np.where(finite, scores, 0.0).sum(axis=1, dtype=np.float64)
    return (total / np.maximum(counts, 1)).astype(np.float32)


def live_model(model: Recommender, n_items: int, embeddings: np.ndarray) -> Any:
    """The model as it should answer over the live catalog of ``n_items`` rows."""
    if isinstance(model, ContentModel):
        live = copy.copy(model)
        live.item_embeddings = embeddings
        live.n_items = int(n_items)
        return live
    return PaddedModel(model, n_items)
