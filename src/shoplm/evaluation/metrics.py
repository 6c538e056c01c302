"""Ranking quality metrics for recommendation and search runs.

Pure numpy, so the same numbers come out whichever model produced the lists, and a
full-catalog evaluation of tens of thousands of users costs milliseconds on top of the
scoring.  Formulas (binary relevance unless stated; ranks counted from 1):

- DCG@K   = sum over ranks i <= K of gain_i / log2(i + 1)
- NDCG@K  = DCG@K / IDCG@K, IDCG@K the DCG of the best possible ordering
- HR@K    = 1 if any relevant item is in the top K, else 0
- Recall@K = relevant items in the top K / all relevant items of the user
- MRR@K   = 1 / rank of the first relevant item in the top K, 0 if none

Per-user (per-query) values are averaged over users that have at least one relevant item.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from itertools import chain

import numpy as np

Relevant = Sequence[Collection[int]] | np.ndarray
RANKING_METRICS = ("HR", "NDCG", "Recall", "MRR")  # what ranking_metrics reports at each K


def _discounts(n: int) -> np.ndarray:
    """1 / log2(i + 1) for ranks i = 1..n."""
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


def _check_ks(ks: Sequence[int], name: str = "ks") -> list[int]:
    out = [int(k) for k in ks]
    if not out:
        raise ValueError(f"{name} must name at least one cutoff")
    bad = [k for k in out if k <= 0]
    if bad:
        raise ValueError(f"{name} must be positive, got {bad}")
    return out


def _check_ranked(ranked: np.ndarray, depth: int) -> np.ndarray:
    """Validate the ranked block and return its first ``depth`` columns as int64."""
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be 2-D [n_users, k], got shape {ranked.shape}")
    if not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"ranked must hold integer item rows, got dtype {ranked.dtype}")
    if ranked.shape[1] < depth:
        raise ValueError(f"ranked has {ranked.shape[1]} columns but a cutoff of {depth} needs more")
    top = ranked[:, :depth].astype(np.int64, copy=False)
    if top.size:
        low = top < -1
        if low.any():
            row = int(np.argmax(low.any(axis=1)))
            raise ValueError(f"ranked row {row} holds an item row below -1 (-1 marks empty)")
        # A repeated item would be counted twice and push recall above 1.
        srt = np.sort(top, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if dup.any():
            row = int(np.argmax(dup.any(axis=1)))
            raise ValueError(f"ranked row {row} repeats an item within its top {depth}")
    return top


def _hits_single(top: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hit matrix and relevant counts when each user has one target (-1 = none)."""
    if len(targets) != len(top):
        raise ValueError(f"relevant has {len(targets)} targets but ranked has {len(top)} rows")
    targets = targets.astype(np.int64, copy=False)
    low = targets < -1
    if low.any():
        raise ValueError(f"relevant target of user {int(np.argmax(low))} is below -1")
    n_rel = (targets >= 0).astype(np.int64)
    hits = (top == targets[:, None]) & (targets[:, None] >= 0)
    return hits, n_rel


def _hits_multi(
    top: np.ndarray, relevant: Sequence[Collection[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Hit matrix and relevant counts for per-user sets, via one vectorised membership test."""
    n_users = len(top)
    if len(relevant) != n_users:
        raise ValueError(f"relevant has {len(relevant)} entries but ranked has {n_users} rows")
    lengths = np.fromiter((len(rel) for rel in relevant), dtype=np.int64, count=n_users)
    flat = np.asarray(list(chain.from_iterable(relevant)))
    if flat.size and not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"relevant items must be integer item rows, got {flat.dtype}")
    flat = flat.astype(np.int64, copy=False).ravel()
    users = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    low = flat < -1
    if low.any():
        u = int(users[np.argmax(low)])
        raise ValueError(f"relevant items of user {u} include {flat[np.argmax(low)]}, below -1")
    users, flat = users[flat >= 0], flat[flat >= 0]
    if not flat.size:
        return np.zeros(top.shape, dtype=bool), np.zeros(n_users, dtype=np.int64)
    # Encode (user, item) as one int64 so a single np.isin answers every membership test;
    # np.unique also drops an item listed twice for the same user.
    width = int(max(flat.max(), top.max(initial=0))) + 1
    rel_keys = np.unique(users * width + flat)
    n_rel = np.bincount(rel_keys // width, minlength=n_users).astype(np.int64)
    top_keys = np.arange(n_users, dtype=np.int64)[:, None] * width + top
    hits = np.isin(top_keys, rel_keys) & (top >= 0)
    return hits, n_rel


def ranking_metrics(
    ranked: np.ndarray, relevant: Relevant, ks: Sequence[int] = (5, 10, 20)
) -> dict[str, float]:
    """HR, NDCG, Recall and MRR at each cutoff for full-ranking recommendation.

    ``ranked`` is int64 [n_users, >= max(ks)], item rows best first, -1 for an empty slot.
    ``relevant`` is either a 1-D integer array with one target per user (leave-one-out;
    the fast path, -1 = no target) or one collection of relevant item rows per user.

    Binary relevance.  Recall@K = hits in top K / |relevant| (so a user with more relevant
    items than K cannot reach 1); NDCG@K's ideal DCG puts min(|relevant|, K) hits first.
    Users without a relevant item are skipped; ``n_users`` counts those evaluated.
    """
    rows = ranking_metrics_per_user(ranked, relevant, ks)
    out: dict[str, float] = {name: float(values.mean()) for name, values in rows.items()}
    out["n_users"] = len(next(iter(rows.values())))
    return out


def ranking_metrics_per_user(
    ranked: np.ndarray, relevant: Relevant, ks: Sequence[int] = (5, 10, 20)
) -> dict[str, np.ndarray]:
    """Each evaluated user's HR, NDCG, Recall and MRR (see :func:`ranking_metrics`).

    Rows follow ``ranked``'s, less the users without a relevant item; two models ranked for
    the same users give rows that pair up, which a paired comparison needs.
    """
    ks = _check_ks(ks)
    depth = max(ks)
    top = _check_ranked(ranked, depth)
    if isinstance(relevant, np.ndarray) and relevant.ndim == 1:
        if not np.issubdtype(relevant.dtype, np.integer):
            raise ValueError(f"relevant targets must be integer item rows, got {relevant.dtype}")
        hits, n_rel = _hits_single(top, relevant)
    else:
        hits, n_rel = _hits_multi(top, relevant)

    keep = n_rel > 0
    if not keep.any():
        raise ValueError("no user has a relevant item: nothing to evaluate")
    hits, n_rel = hits[keep], n_rel[keep]
    disc = _discounts(depth)
    ideal_cum = np.cumsum(disc)
    any_hit = hits.any(axis=1)
    first = np.argmax(hits, axis=1)  # 0 when no hit; masked by the hit test below

    out: dict[str, np.ndarray] = {}
    for k in ks:
        h = hits[:, :k]
        n_hit = h.sum(axis=1)
        dcg = h @ disc[:k]
        idcg = ideal_cum[np.minimum(n_rel, k) - 1]
        out[f"HR@{k}"] = (n_hit > 0).astype(np.float64)
        out[f"NDCG@{k}"] = dcg / idcg
        out[f"Recall@{k}"] = n_hit / n_rel
        out[f"MRR@{k}"] = np.where(any_hit & (first < k), 1.0 / (first + 1), 0.0)
    return out


def item_coverage(ranked: np.ndarray, n_items: int, k: int = 10) -> float:
    """Share of the catalog that appears in at least one user's top-k list.

    A model that shows everyone the same bestsellers scores near k / n_items; this is the
    quick check that a high-accuracy model is not just popularity in disguise.
    """
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    top = _check_ranked(ranked, k)
    items = np.unique(top[top >= 0])
    if items.size and items[-1] >= n_items:
        raise ValueError(f"ranked names item row {items[-1]}, outside 0..{n_items - 1}")
    return float(items.size / n_items)


def dcg(gains: Sequence[float] | np.ndarray, k: int) -> float:
    """DCG@k = sum_{i=1..k} gain_i / log2(i + 1) of gains listed in rank order."""
    g = np.asarray(gains, dtype=np.float64)[:k]
    return float(g @ _discounts(len(g)))


def graded_ndcg(
    ranked_gains: Sequence[float] | np.ndarray, judged_gains: Sequence[float] | np.ndarray, k: int
) -> float:
    """NDCG@k with graded gains: DCG of the list over DCG of the judged gains sorted best first.

    ``ranked_gains`` are the gains of the returned items in rank order (0 for unjudged);
    ``judged_gains`` are all gains the query's judgments allow.  Raises if no judged gain
    is positive, since NDCG is undefined there (callers count such queries apart).
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    ideal = np.sort(np.asarray(judged_gains, dtype=np.float64))[::-1]
    idcg = dcg(ideal, k)
    if idcg <= 0:
        raise ValueError("no judged gain is positive: NDCG is undefined")
    return dcg(ranked_gains, k) / idcg


def search_metrics(
    ranked: Sequence[Sequence[str]],
    judgments: Sequence[Mapping[str, float]],
    ks: Sequence[int] = (10,),
    recall_ks: Sequence[int] = (100,),
    gain_offset: float = 1.0,
) -> dict[str, float]:
    """Graded NDCG@k, MRR@k and Recall@k for product search.

    Per query: ``ranked`` item ids best first and ``judgments`` item id -> relevance
    (Home Depot: 1..3).  gain = max(relevance - gain_offset, 0), so with the default
    offset a relevance of 1 ("irrelevant") is worth nothing; unjudged items gain 0.
    A relevant item is one with gain > 0.

    - NDCG@k = DCG@k / IDCG@k, DCG = sum_{i=1..k} gain_i / log2(i + 1), IDCG from the
      query's judged gains sorted descending.
    - Recall@k = relevant items in the top k / relevant items judged for the query.
    - MRR@k = 1 / rank of the first relevant item within k, else 0.

    Queries with no relevant judgment are left out of every mean and counted in
    ``n_queries_no_relevant``; ``n_queries`` counts the queries evaluated.
    """
    rows, n_empty = search_metrics_per_query(ranked, judgments, ks, recall_ks, gain_offset)
    out: dict[str, float] = {name: float(values.mean()) for name, values in rows.items()}
    out["n_queries"] = len(next(iter(rows.values())))
    out["n_queries_no_relevant"] = n_empty
    return out


def search_metrics_per_query(
    ranked: Sequence[Sequence[str]],
    judgments: Sequence[Mapping[str, float]],
    ks: Sequence[int] = (10,),
    recall_ks: Sequence[int] = (100,),
    gain_offset: float = 1.0,
) -> tuple[dict[str, np.ndarray], int]:
    """Each evaluated query's metrics (see :func:`search_metrics`) and the count left out.

    Rows follow the queries' order, less those with no relevant judgment.
    """
    ks = _check_ks(ks)
    recall_ks = _check_ks(recall_ks, "recall_ks")
    if len(ranked) != len(judgments):
        raise ValueError(f"{len(ranked)} ranked lists but {len(judgments)} judgment sets")
    depth = max([*ks, *recall_ks])
    disc = _discounts(depth)
    names = [f"NDCG@{k}" for k in ks] + [f"MRR@{k}" for k in ks]
    rows: dict[str, list[float]] = {name: [] for name in names}
    rows.update({f"Recall@{k}": [] for k in recall_ks})
    n_empty = 0

    for q, (items, judged) in enumerate(zip(ranked, judgments, strict=True)):
        gains_of: dict[str, float] = {}
        for item, rel in judged.items():
            rel = float(rel)
            if not math.isfinite(rel):
                raise ValueError(f"query {q}: relevance of item {item!r} is {rel}")
            gains_of[item] = max(rel - gain_offset, 0.0)
        if isinstance(items, str):
            raise ValueError(f"query {q}: ranked must be a list of item ids, got a string")
        ideal = np.sort(np.fromiter(gains_of.values(), dtype=np.float64))[::-1]
        n_relevant = int((ideal > 0).sum())
        if n_relevant == 0:
            n_empty += 1
            continue
        top = list(items[:depth])
        if len(set(top)) != len(top):
            dup = next(i for n, i in enumerate(top) if i in top[:n])
            raise ValueError(f"query {q}: item {dup!r} appears twice in the ranked list")
        gains = np.array([gains_of.get(i, 0.0) for i in top], dtype=np.float64)
        relevant = gains > 0
        first = int(np.argmax(relevant)) if relevant.any() else depth
        for k in ks:
            idcg = float(ideal[:k] @ disc[: min(k, len(ideal))])
            rows[f"NDCG@{k}"].append(float(gains[:k] @ disc[: min(k, len(gains))]) / idcg)
            rows[f"MRR@{k}"].append(1.0 / (first + 1) if first < k else 0.0)
        for k in recall_ks:
            rows[f"Recall@{k}"].append(int(relevant[:k].sum()) / n_relevant)

    if not rows[names[0]]:
        raise ValueError("no query has a relevant judgment: nothing to evaluate")
    return {name: np.array(values) for name, values in rows.items()}, n_empty
