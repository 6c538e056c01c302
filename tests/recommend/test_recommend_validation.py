"""The held-out newest item: what is removed, and how its rank is counted."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shoplm.interactions import Interactions
from shoplm.recommend.base import UserBatch
from shoplm.recommend.validation import hold_out_last, ndcg_from_ranks, target_ranks


def data() -> Interactions:
    histories = [np.array([0, 1, 2]), np.array([3, 4]), np.array([1, 2, 1]), np.array([4, 0, 3])]
    rows = np.concatenate([np.full(len(h), u) for u, h in enumerate(histories)])
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, np.concatenate(histories))), shape=(4, 5)
    )
    matrix.sum_duplicates()
    return Interactions(
        item_ids=list("abcde"),
        user_ids=["u0", "u1", "u2", "u3"],
        matrix=matrix,
        histories=histories,
        last_timestamps=np.full(5, np.nan),
    )


def test_hold_out_last_removes_the_newest_new_item() -> None:
    held = hold_out_last(data())
    # u1 is too short; u2's newest item repeats an earlier one: both keep everything.
    assert held.user_rows.tolist() == [0, 3] and held.targets.tolist() == [2, 3]
    assert [h.tolist() for h in held.inner.histories] == [[0, 1], [3, 4], [1, 2, 1], [4, 0]]
    dense = held.inner.matrix.toarray()
    assert dense[0].tolist() == [1, 1, 0, 0, 0] and dense[3].tolist() == [1, 0, 0, 0, 1]
    assert dense[2].tolist() == [0, 2, 1, 0, 0]
    batch = held.batch(np.array([1]))
    assert batch.user_rows.tolist() == [3] and batch.histories[0].tolist() == [4, 0]


def test_target_ranks_exclude_history_and_count_ties_against_the_target() -> None:
    batch = UserBatch(np.array([-1, -1]), [np.array([0]), np.array([], dtype=np.int64)])
    scores = np.array([[9.0, 1.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    ranks = target_ranks(scores, np.array([2, 0]), batch)
    assert ranks.tolist() == [1, 3]  # item 0 is seen; item 3 ties with the target
    assert scores[0, 0] == 9.0  # the caller's scores are not changed


def test_ndcg_from_ranks() -> None:
    assert ndcg_from_ranks(np.array([0, 1, 10])) == pytest.approx((1.0 + 1 / np.log2(3)) / 3)
    assert ndcg_from_ranks(np.zeros(0, dtype=np.int64)) == 0.0
