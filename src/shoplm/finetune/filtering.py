"""Keep the behaviour pairs that the text neighbourhood can learn from.

On a shop like Amazon office, the item bought next is usually not the text neighbour of the
one before: the base encoder ranks the median next item 688th of 2,420 (a random item would
be about 1,210th), and only 15% within the top 50. Trained on every pair, the encoder pulls
co-purchases together at the cost of the near neighbours that the content model's top 10 is
made of. Keeping only pairs whose positive the base encoder already ranks within the top
``max_rank`` teaches it to lift near misses into the top 10, which is what NDCG@10 scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoplm.finetune.data import Encode, TrainingData, TrainingPair
from shoplm.finetune.pairs import sample_pairs, share_of
from shoplm.finetune.validation import anchor_vectors

CHUNK = 1024  # anchors scored against the catalog at once (games: 288k x 17k otherwise)


def positive_ranks(
    data: TrainingData, encode: Encode, pairs: Sequence[TrainingPair] | None = None
) -> np.ndarray:
    """Each pair's positive's 1-based rank among the corpus for its anchor, under ``encode``.

    ``pairs``: these instead of ``data.pairs``.  Items the pair excludes, and its anchor's own
    items, are not ranked (as in validation).
    """
    pairs = data.pairs if pairs is None else pairs
    if not pairs:
        return np.zeros(0, dtype=np.int64)
    ids = sorted(data.corpus)
    row_of = {item_id: row for row, item_id in enumerate(ids)}
    vectors = np.asarray(encode([data.corpus[i] for i in ids]), dtype=np.float32)
    anchors = anchor_vectors([p.anchor for p in pairs], encode, vectors, row_of)
    positives = np.array([row_of[p.positive] for p in pairs])
    ranks = np.empty(len(pairs), dtype=np.int64)
    for start in range(0, len(pairs), CHUNK):  # a chunk's scores, not the whole matrix
        scores = anchors[start : start + CHUNK] @ vectors.T
        targets = scores[np.arange(len(scores)), positives[start : start + CHUNK]]
        above = (scores > targets[:, None]).sum(axis=1)
        for n, pair in enumerate(pairs[start : start + CHUNK]):
            hidden = _hidden_rows(pair, row_of)  # items the pair hides do not count
            above[n] -= int((scores[n, hidden] > targets[n]).sum())
        ranks[start : start + len(scores)] = above + 1
    return ranks


def pairs_to_build(max_pairs: int | None, max_rank: int | None) -> int | None:
    """The cap on pairs to build before the filter: none when a rank filter will draw
    ``max_pairs`` from the pairs it keeps (a cap first would leave fewer learnable ones)."""
    return max_pairs if max_rank is None else None


def keep_within_rank(
    data: TrainingData,
    encode: Encode,
    max_rank: int,
    max_pairs: int | None = None,
    seed: int = 42,
) -> dict[str, float]:
    """Drop the pairs whose positive ranks below ``max_rank``, then draw ``max_pairs`` of the
    rest (seeded); a small report of what stayed.

    Build the pairs with :func:`pairs_to_build`'s cap: sampling after the filter keeps
    ``max_pairs`` learnable ones.  The held-out pairs (for a refit) are filtered alike and
    drawn at the same rate.
    """
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    before = len(data.pairs)
    every_rank = positive_ranks(data, encode, [*data.pairs, *data.held_out])
    ranks = every_rank[:before]
    kept = [pair for pair, rank in zip(data.pairs, ranks, strict=True) if rank <= max_rank]
    held = [
        p for p, rank in zip(data.held_out, every_rank[before:], strict=True) if rank <= max_rank
    ]
    data.held_out = sample_pairs(held, share_of(max_pairs, len(kept), len(held)), seed)
    data.pairs = sample_pairs(kept, max_pairs, seed)
    data.notes["max_positive_rank"] = max_rank
    return {
        "max_rank": max_rank,
        "pairs_before": before,
        "pairs_within_rank": len(kept),
        "pairs_kept": len(data.pairs),
        "median_rank_before": float(np.median(ranks)) if before else 0.0,
    }


def _hidden_rows(pair: TrainingPair, row_of: dict[str, int]) -> list[int]:
    hidden = {*pair.exclude, *pair.anchor.item_ids} - {pair.positive}
    return [row_of[i] for i in hidden if i in row_of]
