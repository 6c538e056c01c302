"""Hard negatives: items that look like an answer to the anchor but are not known positives.

In-batch negatives are mostly easy (random items); a few near misses per pair teach the
encoder the distinctions that matter.  Near misses come from BM25 (shared words) or from the
base encoder's own neighbours.  The top ``skip`` matches are passed over: an unjudged item
that ranks first is as likely relevant as not.
"""

from __future__ import annotations

import random

import numpy as np

from shoplm.finetune.data import Encode, TrainingData, TrainingPair
from shoplm.index.lexical import LexicalIndex
from shoplm.index.vector import VectorIndex

SOURCES = ("none", "bm25", "vector")


def add_hard_negatives(
    data: TrainingData,
    source: str = "bm25",
    per_pair: int = 1,
    depth: int = 30,
    skip: int = 2,
    seed: int = 42,
    encode: Encode | None = None,
) -> dict[str, float]:
    """Fill each pair's ``negatives`` with ``per_pair`` ids drawn from ranks ``skip..depth``.

    ``encode`` (texts -> unit vectors) is needed for ``source="vector"``.  Returns how many
    pairs got their negatives, as a small report.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown hard-negative source {source!r}; choose from {SOURCES}")
    if per_pair < 0 or depth <= skip:
        raise ValueError(f"need per_pair >= 0 and depth > skip, got {per_pair}, {depth}, {skip}")
    for pair in [*data.pairs, *data.held_out]:
        pair.negatives = []
    if source == "none" or per_pair == 0 or not data.pairs:
        return {"source": source, "pairs_with_negatives": 0}
    ids = sorted(data.corpus)
    if source == "bm25":
        index = LexicalIndex.build([{"title": data.corpus[i]} for i in ids])

        def ranked(queries: list[str], want: int) -> list[np.ndarray]:
            return [rows for rows, _ in index.search_many(queries, want)]
    else:
        if encode is None:
            raise ValueError("hard negatives from the vector index need an encode function")
        vectors = VectorIndex.build(np.asarray(encode([data.corpus[i] for i in ids])))

        def ranked(queries: list[str], want: int) -> list[np.ndarray]:
            _, rows = vectors.search(np.asarray(encode(queries)), want)
            return [r[r >= 0] for r in rows]

    rng = random.Random(seed)
    filled = [0, 0]
    for kind, pairs in enumerate((data.pairs, data.held_out)):  # held-out too, for a refit
        if not pairs:
            continue
        queries = [_query_text(data, pair) for pair in pairs]
        for pair, rows in zip(pairs, ranked(queries, depth + 1 + _widest(pairs)), strict=True):
            banned = {pair.positive, *pair.exclude, *pair.anchor.item_ids}
            candidates = [ids[r] for r in rows if ids[r] not in banned][skip:depth]
            if candidates:
                pair.negatives = rng.sample(candidates, min(per_pair, len(candidates)))
                filled[kind] += 1
    return {
        "source": source,
        "pairs_with_negatives": filled[0],
        "held_out_pairs_with_negatives": filled[1],
        "depth": depth,
        "skip": skip,
    }


def _query_text(data: TrainingData, pair: TrainingPair) -> str:
    """A query's text, or the newest history item's text for a history anchor."""
    if pair.anchor.text is not None:
        return pair.anchor.text
    return data.corpus[pair.anchor.item_ids[-1]]


def _widest(pairs: list[TrainingPair]) -> int:
    """Extra depth so that excluded items never crowd out the candidates."""
    return max((len(p.exclude) + len(p.anchor.item_ids) + 1 for p in pairs), default=0)
