"""Multiple-negatives ranking loss with hard negatives and masked false negatives.

Each anchor must pick its positive among every positive and hard negative of the batch.
Candidates known to be relevant to an anchor (the same item as its positive, or one in its
``exclude`` list: the user's other items, the query's other judged items) are masked out
instead of being pushed away.

Optionally each anchor also ranks its positive against a *bank*: the vectors of every item
of the catalog as the encoder gave them at the last refresh (no gradient flows into them).
A batch of 32 random items is an easy exam; the whole catalog is the one recommendation
and search are scored on, and it keeps the anchors from drifting onto crowded regions.

With a *popularity correction* (logQ, Yi et al. 2019, "Sampling-bias-corrected neural
modeling"), each candidate's logit is lowered by the log of how often it is a positive: in-batch
negatives are other pairs' positives, so a popular item is a negative far more often than the
catalog share of it, and the uncorrected loss learns to push bestsellers away from everything.

A *symmetric* loss also asks each positive to pick its own anchor among the batch's anchors:
co-purchases run both ways, so every pair teaches twice per encoding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any


def candidate_mask(
    positives: Sequence[str], negatives: Sequence[Sequence[str]], exclude: Sequence[Sequence[str]]
) -> tuple[list[str], Any]:
    """Candidate ids (positives, then each pair's negatives) and a bool [B, C] mask of allowed."""
    import torch

    candidates = list(positives) + [n for negs in negatives for n in negs]
    allowed = torch.ones((len(positives), len(candidates)), dtype=torch.bool)
    for i, (positive, banned) in enumerate(zip(positives, exclude, strict=True)):
        banned_set = set(banned) | {positive}
        for j, candidate in enumerate(candidates):
            if j != i and candidate in banned_set:
                allowed[i, j] = False
    return candidates, allowed


def bank_mask(
    bank_ids: Sequence[str], candidates: Sequence[str], exclude: Sequence[Sequence[str]]
) -> Any:
    """bool [B, N]: which bank rows each anchor may use as negatives.

    Never the batch's own candidates (they are in the batch with fresh vectors, the
    positives among them) nor the anchor's ``exclude`` items.
    """
    import torch

    row_of = {item_id: row for row, item_id in enumerate(bank_ids)}
    allowed = torch.ones((len(exclude), len(bank_ids)), dtype=torch.bool)
    in_batch = [row_of[c] for c in set(candidates) if c in row_of]
    allowed[:, in_batch] = False
    for i, banned in enumerate(exclude):
        rows = [row_of[b] for b in banned if b in row_of]
        allowed[i, rows] = False
    return allowed


def reverse_mask(
    anchor_keys: Sequence[frozenset[Any]],
    positives: Sequence[str],
    exclude: Sequence[Sequence[str]],
) -> Any:
    """bool [B, B]: which of the batch's anchors positive ``j`` may treat as a wrong answer.

    ``anchor_keys[i]`` is what anchor ``i`` is made of (its item ids, or its query text).
    Another anchor is no negative for ``j`` when it is the same anchor, leads to the same
    positive, or uses an item of ``j``'s ``exclude`` list (``j``'s user bought it too).
    """
    import torch

    size = len(positives)
    allowed = torch.ones((size, size), dtype=torch.bool)
    for j in range(size):
        related = set(exclude[j]) | {positives[j]}
        for i in range(size):
            if i == j:
                continue
            if (
                anchor_keys[i] == anchor_keys[j]
                or positives[i] == positives[j]
                or anchor_keys[i] & related
            ):
                allowed[j, i] = False
    return allowed


def positive_log_frequency(
    positives: Sequence[str], catalog: Sequence[str] = ()
) -> dict[str, float]:
    """log(share of the pairs whose positive is this item): the in-batch sampling rate.

    A ``catalog`` item that is never a positive (it can still come in as a hard negative)
    takes the rarest positive's rate, so every candidate of a batch has one.
    """
    counts = Counter(positives)
    total = sum(counts.values())
    rates = {item: math.log(count / total) for item, count in counts.items()}
    floor = min(rates.values(), default=0.0)
    return {**dict.fromkeys(catalog, floor), **rates}


def ranking_loss(
    anchors: Any,
    candidates: Any,
    allowed: Any,
    scale: float = 20.0,
    bank: Any = None,
    bank_allowed: Any = None,
    log_q: Any = None,
) -> Any:
    """Cross-entropy of each anchor over its allowed candidates; anchor i's answer is column i.

    ``anchors`` [B, d] and ``candidates`` [C, d] are unit vectors (cosine = dot product);
    ``bank`` [N, d] (fixed unit vectors) with ``bank_allowed`` [B, N] adds more negatives;
    ``log_q`` [C], each candidate's log sampling rate, is subtracted from its column's logits
    (the bank is a uniform draw of the catalog and is left as it is).
    """
    import torch
    import torch.nn.functional as F

    lowest = torch.finfo(anchors.dtype).min
    scores = anchors @ candidates.T * scale
    if log_q is not None:
        scores = scores - log_q.to(scores.device)
    scores = scores.masked_fill(~allowed.to(scores.device), lowest)
    if bank is not None:
        extra = anchors @ bank.to(anchors.device).T * scale
        extra = extra.masked_fill(~bank_allowed.to(extra.device), lowest)
        scores = torch.cat([scores, extra], dim=1)
    labels = torch.arange(len(anchors), device=scores.device)
    return F.cross_entropy(scores, labels)
