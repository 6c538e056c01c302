"""Combine ranked candidate lists from several retrievers into one ranking."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

RRF_K = 60


def reciprocal_rank_fusion(
    ranked_lists: Mapping[str, np.ndarray],
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> dict[int, dict[str, float]]:
    """RRF (Cormack et al., 2009): sum of w / (k + rank) over the lists an item appears in.

    Returns row -> {"fused": score, "<source>": that source's contribution}.  Rank-based
    fusion needs no score calibration between BM25 and cosine similarity.
    """
    fused: dict[int, dict[str, float]] = {}
    for source, rows in ranked_lists.items():
        weight = 1.0 if weights is None else weights.get(source, 1.0)
        for rank, row in enumerate(rows.tolist()):
            if row < 0:
                continue
            contribution = weight / (k + rank + 1)
            entry = fused.setdefault(row, {"fused": 0.0})
            entry["fused"] += contribution
            entry[source] = contribution
    return fused
