"""Training pairs from a shop's own behaviour and judged queries.

Recommendation: each user's items in time order give (recent items -> next item) pairs.
The newest item of every user is held out for validation (early stopping, choices), the way
``Engine.fit`` tunes, so a caller that already removed its test items (the evaluation's
leave-one-out split) trains only on what precedes the validation item.  The pairs ending in
those newest items are kept as ``held_out``, for a refit once validation has chosen.

Search: (query -> item judged relevant) pairs from the queries the caller passes, which must be
a training half only; a seeded share of them is held out for validation (and their pairs kept as
``held_out``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from shoplm.datasets import SearchQuery
from shoplm.evaluation.splits import leave_one_out
from shoplm.finetune.data import Anchor, TrainingData, TrainingPair, ValidationCase
from shoplm.recommend.base import recency_weights as history_weights
from shoplm.recommend.content import DEFAULT_HALF_LIFE
from shoplm.schema import Item
from shoplm.store.base import Store

VALID_HISTORY = 10  # newest items a validation user's taste vector is built from


def recency_weights(n: int, half_life: float | None) -> list[float]:
    """Weights of ``n`` history items, oldest first, exactly as the recommenders weigh them."""
    if half_life is None:
        return [1.0] * n
    return [float(w) for w in history_weights(n, half_life)]


def recommendation_data(
    items: Sequence[Item],
    sequences: Mapping[str, Sequence[str]],
    window: int = 1,
    half_life: float | None = DEFAULT_HALF_LIFE,
    max_pairs: int | None = None,
    max_valid: int | None = 1000,
    valid_corpus_size: int | None = None,
    seed: int = 42,
) -> TrainingData:
    """(last ``window`` items -> next item) pairs and newest-item validation cases.

    Users with fewer than three items give pairs only.  A pair's ``exclude`` is every item
    of that user's training sequence: in-batch, they are never treated as negatives.
    Validation ranks the whole catalog, or its targets among a seeded sample of
    ``valid_corpus_size`` items (cheaper to encode at every validation).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    corpus = {item.item_id: item.text() for item in items}
    for user, seq in sequences.items():
        for item_id in seq:
            if item_id not in corpus:
                raise ValueError(f"user {user!r} has item {item_id!r} that is not in the catalog")
    split = leave_one_out({u: list(s) for u, s in sequences.items()}, min_length=3)
    pairs: list[TrainingPair] = []
    for user in sorted(split.train_for_test):
        seq = split.train_for_test[user]
        seen = sorted(set(seq))
        for t in range(1, len(seq)):
            history = seq[max(0, t - window) : t]
            pairs.append(
                TrainingPair(
                    anchor=Anchor(
                        item_ids=history, weights=recency_weights(len(history), half_life)
                    ),
                    positive=seq[t],
                    exclude=seen,
                )
            )
    held_out = [
        TrainingPair(
            anchor=Anchor(item_ids=history, weights=recency_weights(len(history), half_life)),
            positive=split.test_targets[user],
            exclude=sorted(set(sequences[user])),
        )
        for user in sorted(split.test_targets)
        if (history := split.train_for_test[user][-window:])
    ]
    held_out = sample_pairs(held_out, share_of(max_pairs, len(pairs), len(held_out)), seed)
    pairs = sample_pairs(pairs, max_pairs, seed)
    users = sorted(u for u in split.test_targets if split.train_for_test[u])
    if max_valid is not None and len(users) > max_valid:
        users = sorted(random.Random(seed).sample(users, max_valid))
    valid = []
    for user in users:
        history = split.train_for_test[user][-VALID_HISTORY:]
        valid.append(
            ValidationCase(
                anchor=Anchor(item_ids=history, weights=recency_weights(len(history), half_life)),
                gains={split.test_targets[user]: 1.0},
                exclude=sorted(set(split.train_for_test[user])),
            )
        )
    return TrainingData(
        kind="recommend",
        corpus=corpus,
        pairs=pairs,
        valid=valid,
        valid_corpus=_valid_corpus(corpus, valid, valid_corpus_size, seed),
        notes={"window": window, "half_life": half_life, "validation": "newest item per user"},
        held_out=held_out,
    )


def search_data(
    items: Sequence[Item],
    queries: Sequence[SearchQuery],
    min_relevance: float = 2.5,
    gain_offset: float = 1.0,
    valid_fraction: float = 0.1,
    max_pairs: int | None = None,
    valid_corpus_size: int = 5000,
    seed: int = 42,
) -> TrainingData:
    """(query -> item judged at least ``min_relevance``) pairs; validation on held-out queries.

    Validation ranks the judged items of the validation queries among a seeded sample of the
    catalog (``valid_corpus_size`` items in all), with gain = relevance - ``gain_offset``.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    corpus = {item.item_id: item.text() for item in items}
    for query in queries:
        for item_id in query.judgments:
            if item_id not in corpus:
                raise ValueError(f"query {query.query_id!r} judges unknown item {item_id!r}")
    ids = sorted(q.query_id for q in queries)
    random.Random(seed).shuffle(ids)
    valid_ids = set(ids[: max(1, round(len(ids) * valid_fraction))])
    pairs: list[TrainingPair] = []
    held_out: list[TrainingPair] = []
    valid: list[ValidationCase] = []
    for query in sorted(queries, key=lambda q: q.query_id):
        judged = sorted(query.judgments)
        held = query.query_id in valid_ids
        if held:
            gains = {i: r - gain_offset for i, r in query.judgments.items() if r > gain_offset}
            if gains:
                valid.append(ValidationCase(anchor=Anchor(text=query.text), gains=gains))
        for item_id in judged:
            if query.judgments[item_id] >= min_relevance:
                pair = TrainingPair(
                    anchor=Anchor(text=query.text), positive=item_id, exclude=judged
                )
                (held_out if held else pairs).append(pair)
    held_out = sample_pairs(held_out, share_of(max_pairs, len(pairs), len(held_out)), seed)
    pairs = sample_pairs(pairs, max_pairs, seed)
    return TrainingData(
        kind="search",
        corpus=corpus,
        pairs=pairs,
        valid=valid,
        valid_corpus=_valid_corpus(corpus, valid, valid_corpus_size, seed),
        notes={
            "min_relevance": min_relevance,
            "valid_queries": len(valid),
            "validation": f"{valid_fraction:.0%} of the given queries, seeded",
        },
        held_out=held_out,
    )


def store_sequences(store: Store, platform: str) -> dict[str, list[str]]:
    """Each user's catalog items in event-time order, repeats dropped (first time kept)."""
    known = set(store.item_ids(platform))
    columns = store.event_columns(platform)
    sequences: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    order = np.argsort(columns.timestamps, kind="stable")
    for row in order:
        item_id = columns.item_ids[row]
        if not item_id or item_id not in known:
            continue
        user = columns.user_ids[row]
        if item_id in seen.setdefault(user, set()):
            continue
        seen[user].add(item_id)
        sequences.setdefault(user, []).append(item_id)
    return sequences


def _valid_corpus(
    corpus: Mapping[str, str], valid: list[ValidationCase], size: int | None, seed: int
) -> list[str]:
    """Every item, or the validation targets plus a seeded sample up to ``size`` items."""
    if size is None or size >= len(corpus):
        return sorted(corpus)
    relevant = sorted({i for case in valid for i in case.gains})
    others = sorted(set(corpus) - set(relevant))
    room = max(0, size - len(relevant))
    sampled = random.Random(seed).sample(others, min(room, len(others)))
    return sorted(set(relevant) | set(sampled))


def sample_pairs(pairs: list[TrainingPair], limit: int | None, seed: int) -> list[TrainingPair]:
    """A seeded ``limit`` of the pairs, in their order (all of them when ``limit`` is None)."""
    if limit is None or len(pairs) <= limit:
        return pairs
    keep = sorted(random.Random(seed).sample(range(len(pairs)), limit))
    return [pairs[i] for i in keep]


def share_of(limit: int | None, built: int, other: int) -> int | None:
    """The cap on ``other`` pairs that samples them at the rate ``limit`` samples ``built``."""
    if limit is None or built <= limit:
        return None
    return round(other * limit / built)
