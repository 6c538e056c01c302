"""Validation score for early stopping: graded NDCG@k of held-out cases over a corpus.

A history anchor is scored the way the content recommender scores a user (the weighted
mean of the history items' vectors), a text anchor the way dense search scores a query, so
the number tracks what the engine will do with the tuned encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoplm.evaluation.metrics import graded_ndcg
from shoplm.finetune.data import Anchor, Encode, TrainingData


def validation_ndcg(data: TrainingData, encode: Encode, k: int = 10) -> float:
    """Mean graded NDCG@k of ``data.valid`` (0.0 when there are no cases)."""
    if not data.valid:
        return 0.0
    needed = list(dict.fromkeys([*data.valid_corpus, *_history_ids(data)]))
    vectors = np.asarray(encode([data.corpus[i] for i in needed]), dtype=np.float32)
    row_of = {item_id: row for row, item_id in enumerate(needed)}
    n_corpus = len(data.valid_corpus)
    queries = anchor_vectors([case.anchor for case in data.valid], encode, vectors, row_of)
    corpus = vectors[:n_corpus]
    scores = []
    for case, query in zip(data.valid, queries, strict=True):
        ranking = corpus @ query
        for item_id in case.exclude:
            row = row_of.get(item_id)
            if row is not None and row < n_corpus:
                ranking[row] = -np.inf
        top = np.argsort(-ranking, kind="stable")[:k]
        gains = [case.gains.get(data.valid_corpus[r], 0.0) for r in top]
        scores.append(graded_ndcg(gains, list(case.gains.values()), k))
    return float(np.mean(scores))


def anchor_vectors(
    anchors: Sequence[Anchor], encode: Encode, vectors: np.ndarray, row_of: dict[str, int]
) -> np.ndarray:
    """One unit vector per anchor: a text anchor encoded (all texts in one call), a history
    anchor as the content recommender sees a user (the weighted mean of its items' rows of
    ``vectors``)."""
    texts = [anchor.text for anchor in anchors if anchor.text is not None]
    text_vectors = iter(np.asarray(encode(texts), dtype=np.float32)) if texts else iter(())
    out = np.empty((len(anchors), vectors.shape[1]), dtype=np.float32)
    for n, anchor in enumerate(anchors):
        if anchor.text is not None:
            out[n] = next(text_vectors)
            continue
        rows = [row_of[i] for i in anchor.item_ids]
        query = np.asarray(anchor.weights, dtype=np.float32) @ vectors[rows]
        out[n] = query / max(float(np.linalg.norm(query)), 1e-12)
    return out


def _history_ids(data: TrainingData) -> list[str]:
    return [i for case in data.valid for i in case.anchor.item_ids]
