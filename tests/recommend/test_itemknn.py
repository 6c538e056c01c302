"""ItemKNN: co-occurrence neighbours, scoring from the user's own (latest) history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.itemknn import ItemKNN, history_matrix, top_k_per_row


@pytest.fixture()
def fitted(two_groups: Interactions, context: FitContext) -> ItemKNN:
    model = ItemKNN()
    model.fit(two_groups, context)
    return model


def test_score_shape_and_type(fitted: ItemKNN, all_users: UserBatch, groups) -> None:
    scores = fitted.score(all_users)
    assert scores.shape == (len(all_users), groups.n_items) and scores.dtype == np.float32


def test_training_users_get_their_group_first(
    fitted: ItemKNN, all_users: UserBatch, training_groups: list[int], groups
) -> None:
    assert groups.misranked(fitted.score(all_users), training_groups, all_users.histories) == []


def test_unknown_users_are_scored_from_their_history(
    fitted: ItemKNN, all_users: UserBatch, as_unknown: UserBatch, groups
) -> None:
    assert np.array_equal(fitted.score(as_unknown), fitted.score(all_users))
    histories = [np.array([0, 1]), np.array([groups.group_size + 3]), np.array([], np.int64)]
    scores = fitted.score(UserBatch(np.array([-1, -1, -1]), histories))
    assert groups.misranked(scores[:2], [0, 1], histories[:2]) == []
    assert not scores[2].any()  # no history, no opinion


def test_similar_items_are_the_same_group(fitted: ItemKNN, groups) -> None:
    for row in range(groups.n_items):
        similar = fitted.similar_items(row)
        assert similar.shape == (groups.n_items,) and similar[row] == 0.0  # not its own
        assert similar[groups.same_group(row)].min() > 0.0
        assert not similar[groups.other_group(row)].any()
    with pytest.raises(ValueError, match="outside"):
        fitted.similar_items(groups.n_items)


def test_similarity_is_cosine_without_shrink(two_groups: Interactions) -> None:
    model = ItemKNN(shrink=0.0)
    model.fit(two_groups, FitContext())
    x = (two_groups.matrix.toarray() > 0).astype(np.float64)
    norms = np.linalg.norm(x, axis=0)
    expected = (x.T @ x) / np.outer(norms, norms)
    np.fill_diagonal(expected, 0.0)
    assert np.allclose(model.similarity.toarray(), expected, atol=1e-6)


def test_shrink_damps_similarity(two_groups: Interactions) -> None:
    plain, damped = ItemKNN(shrink=0.0), ItemKNN(shrink=10.0)
    plain.fit(two_groups, FitContext())
    damped.fit(two_groups, FitContext())
    assert (damped.similarity.toarray() <= plain.similarity.toarray() + 1e-7).all()
    assert damped.similarity.sum() < plain.similarity.sum()


def test_binary_false_uses_event_weights(two_groups: Interactions, groups) -> None:
    weighted = ItemKNN(binary=False)
    weighted.fit(two_groups, FitContext())
    binary = ItemKNN()
    binary.fit(two_groups, FitContext())
    assert not np.allclose(weighted.similarity.toarray(), binary.similarity.toarray())
    assert not weighted.similar_items(0)[groups.other_group(0)].any()


def test_neighbours_limit_keeps_the_strongest(two_groups: Interactions, groups) -> None:
    full = ItemKNN()
    full.fit(two_groups, FitContext())
    top2 = ItemKNN(neighbours=2)
    top2.fit(two_groups, FitContext())
    assert np.diff(top2.similarity.indptr).max() == 2
    for row in range(groups.n_items):
        kept = np.sort(top2.similar_items(row))[-2:]
        assert np.allclose(kept, np.sort(full.similar_items(row))[-2:])


def test_save_load_gives_identical_scores(
    fitted: ItemKNN, all_users: UserBatch, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "knn")
    loaded = ItemKNN.load(tmp_path / "knn")
    assert loaded.params == fitted.params and loaded.n_items == fitted.n_items
    assert np.array_equal(loaded.score(all_users), fitted.score(all_users))
    assert np.array_equal(loaded.similar_items(3), fitted.similar_items(3))


def test_deterministic(two_groups: Interactions, all_users: UserBatch) -> None:
    runs = []
    for _ in range(2):
        model = ItemKNN(neighbours=3, half_life=2.0)
        model.fit(two_groups, FitContext(seed=1))
        runs.append(model.score(all_users))
    assert np.array_equal(runs[0], runs[1])


def test_items_added_after_fit_are_ignored(fitted: ItemKNN, groups) -> None:
    scores = fitted.score(UserBatch(np.array([-1]), [np.array([0, groups.n_items + 5])]))
    assert np.array_equal(scores, fitted.score(UserBatch(np.array([-1]), [np.array([0])])))


@pytest.mark.parametrize(
    ("params", "message"), [({"neighbours": 0}, "neighbours"), ({"shrink": -1.0}, "shrink")]
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemKNN(**params)


# -- helpers -----------------------------------------------------------------------------------
def test_history_matrix_counts_repeats_and_weighs_recency() -> None:
    batch = UserBatch(np.array([-1, -1]), [np.array([2, 0, 2]), np.array([], dtype=np.int64)])
    plain = history_matrix(batch, 4).toarray()
    assert plain.tolist() == [[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    recent = history_matrix(batch, 4, half_life=1.0).toarray()
    assert np.allclose(recent[0], [0.5, 0.0, 1.0 + 0.25, 0.0])


def test_history_matrix_errors() -> None:
    with pytest.raises(ValueError, match="negative item row"):
        history_matrix(UserBatch(np.array([-1]), [np.array([-2])]), 4)
    with pytest.raises(ValueError, match="2 user_rows but 1 histories"):
        history_matrix(UserBatch(np.array([-1, -1]), [np.array([0])]), 4)


def test_top_k_per_row() -> None:
    dense = np.array([[0.1, 0.5, 0.0, 0.3], [0.0, 0.0, 0.0, 0.0], [0.2, 0.0, 0.9, 0.0]])
    one = top_k_per_row(sp.csr_matrix(dense, dtype=np.float32), 1).toarray()
    assert np.allclose(one, [[0, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 0.9, 0]])
    two = top_k_per_row(sp.csr_matrix(dense, dtype=np.float32), 2).toarray()
    assert np.allclose(two, [[0, 0.5, 0, 0.3], [0, 0, 0, 0], [0.2, 0, 0.9, 0]])
