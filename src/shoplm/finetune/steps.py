"""One optimisation step of encoder training, shared by the validated run and its refit.

A step draws no randomness of its own beyond dropout, so a run seeded with :func:`seed_all`
and fed the same batches takes the same steps, resumed or not.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shoplm.finetune.data import TrainingData, TrainingPair
from shoplm.finetune.loss import bank_mask, candidate_mask, ranking_loss, reverse_mask

if TYPE_CHECKING:
    from shoplm.finetune.train import FinetuneConfig


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def schedule(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to the full rate, then linear decay to zero at the last step."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def epoch_batch(
    pairs: Sequence[TrainingPair], seed: int, epoch: int, step_in_epoch: int, batch_size: int
) -> list[TrainingPair]:
    """The pairs of one step: each epoch walks a seeded permutation in batch-size slices."""
    order = np.random.default_rng(seed + epoch).permutation(len(pairs))
    start = step_in_epoch * batch_size
    return [pairs[i] for i in order[start : start + batch_size]]


def take_step(
    loss: Any, optimizer: Any, params: Sequence[Any], lr: float, max_grad_norm: float
) -> float:
    """Back-propagate ``loss`` and update at learning rate ``lr``; the loss as a float."""
    import torch

    for group in optimizer.param_groups:
        group["lr"] = lr
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return round(float(loss.detach()), 5)


def batch_loss(
    embed: Callable[[list[str]], Any],
    data: TrainingData,
    batch: Sequence[TrainingPair],
    config: FinetuneConfig,
    bank: tuple[list[str], Any] | None = None,
    log_q: Mapping[str, float] | None = None,
) -> Any:
    """The loss of one batch: every distinct text is encoded once.

    ``log_q``: each catalog item's log rate as a positive (:func:`positive_log_frequency`);
    given, the candidates' logits are corrected by it.
    """
    import torch

    keys: dict[tuple[str, str], int] = {}

    def slot(kind: str, value: str) -> int:
        return keys.setdefault((kind, value), len(keys))

    anchor_rows = []
    for pair in batch:
        if pair.anchor.text is not None:
            anchor_rows.append(([slot("text", pair.anchor.text)], [1.0]))
        else:
            rows = [slot("item", i) for i in pair.anchor.item_ids]
            anchor_rows.append((rows, pair.anchor.weights))
    width = max(len(p.negatives) for p in batch)
    negatives = [list(p.negatives) for p in batch] if width else [[] for _ in batch]
    positives = [p.positive for p in batch]
    exclude = [p.exclude for p in batch]
    candidates, allowed = candidate_mask(positives, negatives, exclude)
    candidate_rows = [slot("item", c) for c in candidates]
    texts = [data.corpus[v] if kind == "item" else v for kind, v in keys]
    vectors = embed(texts)
    mix = torch.zeros((len(batch), len(texts)), device=vectors.device)
    for i, (rows, weights) in enumerate(anchor_rows):
        for row, weight in zip(rows, weights, strict=True):
            mix[i, row] += weight
    anchors = torch.nn.functional.normalize(mix @ vectors, dim=-1)
    extra: tuple[Any, Any] | tuple[()] = ()
    if bank is not None:
        bank_ids, bank_vectors = bank
        extra = (bank_vectors, bank_mask(bank_ids, candidates, exclude))
    correction = None
    if log_q is not None:
        correction = torch.tensor([log_q[c] for c in candidates], dtype=anchors.dtype)
    loss = ranking_loss(
        anchors, vectors[candidate_rows], allowed, config.scale, *extra, log_q=correction
    )
    if not config.symmetric:
        return loss
    backward = reverse_mask([_anchor_key(p) for p in batch], positives, exclude)
    positive_vectors = vectors[candidate_rows[: len(batch)]]
    return (loss + ranking_loss(positive_vectors, anchors, backward, config.scale)) / 2


def _anchor_key(pair: TrainingPair) -> frozenset[Any]:
    """What an anchor is made of: its query text, or its item ids (comparable to ``exclude``)."""
    if pair.anchor.text is not None:
        return frozenset({("text", pair.anchor.text)})
    return frozenset(pair.anchor.item_ids)
