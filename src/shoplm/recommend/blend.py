"""Blend several recommenders' scores into one ranking.

Each model's scores are standardised per user (z-score over items) before the weighted
sum, so a model with large raw scores (item-kNN sums) cannot drown one with small ones
(cosine similarities).  The per-model parts are kept to say which model put a hit there.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shoplm.recommend.base import Recommender, UserBatch


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-score; a constant row (no signal) becomes all zeros."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return np.where(std > 0, (scores - mean) / np.where(std > 0, std, 1.0), 0.0).astype(np.float32)


def blend(
    models: Mapping[str, Recommender], weights: Mapping[str, float], batch: UserBatch
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of standardised scores; returns (total, {model: weighted part})."""
    parts: dict[str, np.ndarray] = {}
    for name, weight in weights.items():
        if weight == 0 or name not in models:
            continue
        parts[name] = weight * standardise(models[name].score(batch))
    if not parts:
        raise ValueError(f"none of the blend's models {sorted(weights)} is fitted")
    total = np.sum(list(parts.values()), axis=0)
    return total, parts
