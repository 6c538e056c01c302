"""One optimisation step of encoder training, shared by the validated run and its refit.

:class:`Stepper` holds what every step of a run needs (optimiser, catalog bank, popularity
rates) and takes one step on a batch; :func:`epoch_batch` says which pairs that batch holds.
A step draws no randomness of its own beyond dropout, so a run seeded with :func:`seed_all`
and fed the same batches takes the same steps, resumed or not.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shoplm.finetune.data import TrainingData, TrainingPair
from shoplm.finetune.loss import (
    bank_mask,
    candidate_mask,
    positive_log_frequency,
    ranking_loss,
    reverse_mask,
)

if TYPE_CHECKING:
    from shoplm.finetune.train import FinetuneConfig


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def schedule(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to the full rate, then linear decay to zero at the last step (the
    encoder's runs and, as a ``LambdaLR`` factor, the task heads')."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def matching_step(step: int, per_epoch: int, new_per_epoch: int) -> int:
    """The step of a run of ``new_per_epoch`` batches an epoch that has seen as many epochs as
    ``step`` of a run of ``per_epoch``: how long a refit on more data trains (encoder and heads)."""
    return round(step * new_per_epoch / per_epoch)


def steps_per_epoch(pairs: int, batch_size: int) -> int:
    """Full batches an epoch of ``pairs`` holds (the last, partial one is dropped), at least 1."""
    return max(1, pairs // batch_size)


def epoch_batch(
    pairs: Sequence[TrainingPair], seed: int, epoch: int, step_in_epoch: int, batch_size: int
) -> list[TrainingPair]:
    """The pairs of one step: each epoch walks a seeded permutation in batch-size slices."""
    order = _epoch_order(seed + epoch, len(pairs))
    start = step_in_epoch * batch_size
    return [pairs[i] for i in order[start : start + batch_size]]


@functools.lru_cache(maxsize=2)
def _epoch_order(seed: int, n: int) -> np.ndarray:
    """An epoch's permutation, drawn once per epoch rather than at every step."""
    return np.random.default_rng(seed).permutation(n)


class Stepper:
    """Takes the optimisation steps of one run over ``pairs`` (the run's, or a refit's).

    ``encode`` (texts -> unit vectors, no gradient) refreshes the catalog bank of ``bank_ids``
    every ``config.bank_every`` steps (no bank: it may be None); the popularity rates are
    counted once over ``pairs``.
    """

    def __init__(
        self,
        model: Any,
        embed: Callable[[list[str]], Any],
        encode: Callable[[Sequence[str]], np.ndarray] | None,
        data: TrainingData,
        pairs: Sequence[TrainingPair],
        bank_ids: Sequence[str],
        config: FinetuneConfig,
    ) -> None:
        import torch

        if config.bank_every and encode is None:
            raise ValueError("a catalog bank (bank_every) needs an encode function")
        self.embed, self.encode, self.data, self.config = embed, encode, data, config
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.lr, weight_decay=config.weight_decay
        )
        self.bank_ids = list(bank_ids) if config.bank_every else []
        self.bank: Any = None
        self.log_q = (
            positive_log_frequency([p.positive for p in pairs], list(data.corpus))
            if config.popularity_correction
            else None
        )

    def step(self, batch: Sequence[TrainingPair], step: int, lr: float) -> float:
        """One update on ``batch`` as the run's ``step``-th (0-based); the loss as a float."""
        import torch

        config = self.config
        if self.bank_ids and (self.bank is None or step % config.bank_every == 0):
            assert self.encode is not None  # checked in __init__
            vectors = self.encode([self.data.corpus[i] for i in self.bank_ids])
            self.bank = torch.from_numpy(vectors)
        bank = (self.bank_ids, self.bank) if self.bank_ids else None
        loss = batch_loss(self.embed, self.data, batch, config, bank, self.log_q)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
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
