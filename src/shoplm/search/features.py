"""Per-candidate features for the re-ranker, computed in one vectorised pass per query.

Every feature is defined for any catalog; where a shop lacks the data behind one (no
categories, no behaviour, no prices) it is 0 for every candidate and so cannot change the
order.  Scores that mean nothing across queries (BM25 grows with query length) are scaled
within the query's candidate list.

========================  ===============================================================
feature                   meaning
========================  ===============================================================
bm25                      BM25 of the rewritten query, / the list's best (0..1)
bm25_log                  log(1 + BM25), unscaled: how strong the best match is
expansion                 BM25 of the expansion words (weighted), / the list's best BM25
dense                     cosine of query and item vectors
dense_gap                 cosine minus the list's best cosine (<= 0)
bm25_rank, dense_rank     1 / (10 + rank) of the candidate by that score within the list
coverage                  idf-weighted share of the query words the item holds
all_words                 1 when the item holds every (known) query word
head_word                 1 when the item holds the query's last word (its product noun,
                          in English and Chinese alike: "cordless drill", "苹果手机壳")
doc_length                log(1 + distinct words of the item)
dense_x_unknown           cosine times the share of typed words the catalog never uses:
                          lets the model lean on meaning when words fail
category                  predicted probability of the item's category for the query
popularity                log(1 + shoppers), / the catalog's most popular item
price                     log price standardised within the list (0 when unknown)
phrase                    share of the query's adjacent word pairs found adjacent in the
                          title ("sheet metal" in "... Sheet Metal Hole Saw")
title_partial             best fuzzy match of the query inside the title (0..1, rapidfuzz
                          partial ratio): catches "mowe" in "mower", "deck over" in "deckover"
title_token_set           fuzzy overlap of query and title word sets (0..1)
========================  ===============================================================

The last three read the titles the lexical index keeps; they are 0 for indexes without them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from shoplm.index.lexical import LexicalIndex
from shoplm.search.query import AnalyzedQuery, idf

FUSION_FEATURES = ("bm25", "dense", "bm25_rank", "dense_rank")
RERANK_FEATURES = (
    "bm25",
    "bm25_log",
    "expansion",
    "dense",
    "dense_gap",
    "bm25_rank",
    "dense_rank",
    "coverage",
    "all_words",
    "head_word",
    "doc_length",
    "dense_x_unknown",
    "category",
    "popularity",
    "price",
    "phrase",
    "title_partial",
    "title_token_set",
)
RANK_OFFSET = 10.0


@dataclass
class CandidateContext:
    """What the features read besides the query: per-row arrays of the catalog."""

    lexical: LexicalIndex
    popularity: np.ndarray | None = None  # [n_items], already scaled to 0..1
    log_prices: np.ndarray | None = None  # [n_items], NaN when unknown
    category_ids: np.ndarray | None = None  # [n_items] int, -1 when none


def candidate_features(
    query: AnalyzedQuery,
    rows: np.ndarray,
    dense: np.ndarray,
    context: CandidateContext,
    category_probs: np.ndarray | None = None,
    names: tuple[str, ...] = RERANK_FEATURES,
) -> np.ndarray:
    """float32 ``[len(rows), len(names)]``; ``dense`` holds each row's cosine to the query."""
    n = len(rows)
    lexical = context.lexical
    vocabulary = lexical.vocabulary()
    words = list(dict.fromkeys(query.search_tokens))
    per_word = lexical.token_scores(words, rows)  # [n_words, n]
    bm25 = per_word.sum(axis=0)
    columns: dict[str, np.ndarray] = {}
    best = float(bm25.max()) if n else 0.0
    columns["bm25"] = bm25 / best if best > 0 else bm25
    columns["bm25_log"] = np.log1p(bm25)
    if query.expansions and "expansion" in names:
        extra = list(query.expansions)
        weights = np.array([query.expansions[w] for w in extra], dtype=np.float32)
        expansion = weights @ lexical.token_scores(extra, rows)
        columns["expansion"] = expansion / best if best > 0 else expansion
    dense = np.asarray(dense, dtype=np.float32)
    columns["dense"] = dense
    columns["dense_gap"] = dense - (dense.max() if n else 0.0)
    columns["bm25_rank"] = _rank_feature(bm25)
    columns["dense_rank"] = _rank_feature(dense)
    known = [i for i, w in enumerate(words) if vocabulary.get(w, 0) > 0]
    if known:
        idfs = np.array([idf(vocabulary[words[i]], lexical.size) for i in known], np.float32)
        held = per_word[known] > 0
        columns["coverage"] = (idfs @ held) / idfs.sum()
        columns["all_words"] = held.all(axis=0).astype(np.float32)
        last = words.index(query.search_tokens[-1])
        if vocabulary.get(words[last], 0) > 0:
            columns["head_word"] = (per_word[last] > 0).astype(np.float32)
    columns["doc_length"] = np.log1p(lexical.doc_lengths()[rows]).astype(np.float32)
    typed = query.tokens
    if typed:
        unknown = sum(1 for t in typed if vocabulary.get(t, 0) == 0) / len(typed)
        columns["dense_x_unknown"] = dense * unknown
    if category_probs is not None and context.category_ids is not None:
        ids = context.category_ids[rows]
        columns["category"] = np.where(ids >= 0, category_probs[np.maximum(ids, 0)], 0.0)
    if context.popularity is not None:
        columns["popularity"] = context.popularity[rows]
    if context.log_prices is not None:
        prices = context.log_prices[rows]
        finite = np.isfinite(prices)
        if finite.sum() > 1:
            spread = prices[finite].std()
            if spread > 0:
                z = (prices - prices[finite].mean()) / spread
                columns["price"] = np.where(finite, z, 0.0)
    titles = lexical.titles
    if titles is not None and n and words:
        candidate_titles = [titles[r] for r in rows.tolist()]
        wanted = " ".join(query.search_tokens)
        if {"title_partial", "title_token_set"} & set(names):
            scores = process.cdist(
                [wanted], candidate_titles, scorer=fuzz.partial_ratio, dtype=np.float32
            )
            columns["title_partial"] = scores[0] / 100.0
            scores = process.cdist(
                [wanted], candidate_titles, scorer=fuzz.token_set_ratio, dtype=np.float32
            )
            columns["title_token_set"] = scores[0] / 100.0
        pairs = [f" {a} {b} " for a, b in itertools.pairwise(query.search_tokens)]
        if pairs:
            columns["phrase"] = np.array(
                [sum(p in f" {t} " for p in pairs) / len(pairs) for t in candidate_titles],
                dtype=np.float32,
            )
    out = np.zeros((n, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        if name in columns:
            out[:, j] = columns[name]
    return out


def _rank_feature(scores: np.ndarray) -> np.ndarray:
    """1 / (RANK_OFFSET + rank), rank 0 for the best score; ties share the better rank."""
    if not len(scores):
        return np.zeros(0, dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[order] = np.arange(len(scores), dtype=np.float32)
    return (1.0 / (RANK_OFFSET + ranks)).astype(np.float32)
