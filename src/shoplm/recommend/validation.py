"""A validation split inside the training data: each user's newest item is held out.

Every choice a model makes about itself (hyperparameters, the epoch to stop at, the hybrid
ranker's weights) is judged on how well it finds the newest training item from the ones
before it.  Under leave-one-out evaluation that item is the second-to-last of the whole
sequence, i.e. the validation item, so no choice ever looks at the test item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from shoplm.interactions import Interactions
from shoplm.recommend.base import UserBatch


@dataclass
class HeldOut:
    """Training data without each eligible user's newest item, and those items as targets.

    ``user_rows`` index users in both ``inner`` and the original data (same user order);
    ``targets`` are the held-out item rows.  Users with fewer than ``min_length`` items, or
    whose newest item repeats an earlier one (nothing new to find), keep all their items
    and have no target.
    """

    inner: Interactions
    user_rows: np.ndarray
    targets: np.ndarray

    def batch(self, rows: np.ndarray | None = None) -> UserBatch:
        """The target users (or a subset, by position in ``user_rows``) with inner histories."""
        users = self.user_rows if rows is None else self.user_rows[rows]
        return UserBatch.for_training_users(self.inner, users)


def hold_out_last(data: Interactions, min_length: int = 3) -> HeldOut:
    """Remove each eligible user's newest history item from the histories and the matrix."""
    histories, users, targets = [], [], []
    drop_rows, drop_cols = [], []
    for row, history in enumerate(data.histories):
        history = np.asarray(history, dtype=np.int64)
        if len(history) >= min_length and history[-1] not in history[:-1]:
            histories.append(history[:-1])
            users.append(row)
            targets.append(int(history[-1]))
            drop_rows.append(row)
            drop_cols.append(int(history[-1]))
        else:
            histories.append(history)
    matrix = data.matrix.tocsr(copy=True)
    if drop_rows:
        mask = sp.csr_matrix(
            (np.ones(len(drop_rows), dtype=np.float32), (drop_rows, drop_cols)), shape=matrix.shape
        )
        matrix = matrix - matrix.multiply(mask)
        matrix.eliminate_zeros()
    inner = Interactions(
        item_ids=data.item_ids,
        user_ids=data.user_ids,
        matrix=matrix.tocsr().astype(np.float32),
        histories=histories,
        last_timestamps=data.last_timestamps,
    )
    return HeldOut(inner, np.asarray(users, dtype=np.int64), np.asarray(targets, dtype=np.int64))


def target_ranks(scores: np.ndarray, targets: np.ndarray, batch: UserBatch) -> np.ndarray:
    """0-based rank of each row's target among all items, the row's history excluded.

    Ties count against the target (an item scored equal to it ranks above), so a model
    that scores everything the same gets no credit.
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    for b, history in enumerate(batch.histories):
        history = np.asarray(history, dtype=np.int64)
        scores[b, history[history < scores.shape[1]]] = -np.inf
    target_scores = scores[np.arange(len(targets)), targets]
    return (scores >= target_scores[:, None]).sum(axis=1) - 1


def ndcg_from_ranks(ranks: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k of one relevant item per user at these 0-based ranks."""
    if len(ranks) == 0:
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(np.asarray(ranks, dtype=np.float64) + 2.0), 0.0)
    return float(gains.mean())
