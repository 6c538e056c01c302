"""Multiple-negatives ranking loss with hard negatives and masked false negatives.

Each anchor must pick its positive among every positive and hard negative of the batch.
Candidates known to be relevant to an anchor (the same item as its positive, or one in its
``exclude`` list: the user's other items, the query's other judged items) are masked out
instead of being pushed away.
"""

from __future__ import annotations

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


def ranking_loss(anchors: Any, candidates: Any, allowed: Any, scale: float = 20.0) -> Any:
    """Cross-entropy of each anchor over its allowed candidates; anchor i's answer is column i.

    ``anchors`` [B, d] and ``candidates`` [C, d] are unit vectors (cosine = dot product).
    """
    import torch
    import torch.nn.functional as F

    scores = anchors @ candidates.T * scale
    scores = scores.masked_fill(~allowed.to(scores.device), torch.finfo(scores.dtype).min)
    labels = torch.arange(len(anchors), device=scores.device)
    return F.cross_entropy(scores, labels)
