"""Content: taste vector from history item vectors, cosine against every item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.content import ContentModel


@pytest.fixture()
def fitted(two_groups: Interactions, context: FitContext) -> ContentModel:
    model = ContentModel()
    model.fit(two_groups, context)
    return model


def _one(history: list[int]) -> UserBatch:
    return UserBatch(np.array([-1]), [np.array(history, dtype=np.int64)])


def test_fit_keeps_normalised_vectors(fitted: ContentModel, group_embeddings: np.ndarray) -> None:
    assert fitted.n_items == len(group_embeddings)
    assert np.allclose(np.linalg.norm(fitted.item_embeddings, axis=1), 1.0)
    assert fitted.item_embeddings.dtype == np.float32


def test_score_shape_and_type(fitted: ContentModel, all_users: UserBatch, groups) -> None:
    scores = fitted.score(all_users)
    assert scores.shape == (len(all_users), groups.n_items) and scores.dtype == np.float32
    assert scores.max() <= 1.0 + 1e-5 and scores.min() >= -1.0 - 1e-5


def test_users_get_their_group_first(
    fitted: ContentModel,
    all_users: UserBatch,
    as_unknown: UserBatch,
    training_groups: list[int],
    groups,
) -> None:
    assert groups.misranked(fitted.score(all_users), training_groups, all_users.histories) == []
    # Content ignores the user row entirely: unknown users score the same from history.
    assert np.array_equal(fitted.score(as_unknown), fitted.score(all_users))


def test_no_history_scores_zero(fitted: ContentModel, groups) -> None:
    scores = fitted.score(_one([]))
    assert scores.shape == (1, groups.n_items) and not scores.any()


def test_recent_items_weigh_more(fitted: ContentModel, groups) -> None:
    b = groups.group_size  # first item of group B
    newest_b = fitted.score(_one([0, 1, b]))[0]  # two A items, then the latest is B
    assert newest_b[b + 1] < newest_b[2]  # half_life=5: the two A items still outweigh
    short = ContentModel(half_life=0.25)
    short.item_embeddings, short.n_items = fitted.item_embeddings, fitted.n_items
    recent = short.score(_one([0, 1, b]))[0]
    assert recent[b + 1] > recent[2]  # a short half-life follows the latest item


def test_similar_items_are_the_same_group(fitted: ContentModel, groups) -> None:
    for row in range(groups.n_items):
        similar = fitted.similar_items(row)
        assert np.isclose(similar[row], 1.0)  # itself: the engine masks it
        assert similar[groups.same_group(row)].min() > similar[groups.other_group(row)].max()


def test_add_items_makes_new_items_recommendable(fitted: ContentModel, groups) -> None:
    new = np.zeros((2, fitted.item_embeddings.shape[1]), dtype=np.float32)
    new[0, 0], new[1, 1] = 3.0, 3.0  # one like group A, one like group B
    rows = fitted.add_items(new)
    assert rows.tolist() == [groups.n_items, groups.n_items + 1]
    assert fitted.n_items == groups.n_items + 2
    scores = fitted.score(_one([0, 1]))[0]
    assert scores.shape == (groups.n_items + 2,)
    assert scores[rows[0]] > scores[rows[1]]
    # And a user who took the new item gets its group's items.
    group_b = fitted.score(_one([int(rows[1])]))[0, groups.group_size : groups.n_items]
    assert group_b.min() > 0.5


def test_add_items_checks_dimension(fitted: ContentModel) -> None:
    with pytest.raises(ValueError, match="dimension 3"):
        fitted.add_items(np.ones((1, 3), dtype=np.float32))


def test_fit_needs_aligned_finite_embeddings(
    two_groups: Interactions, group_embeddings: np.ndarray
) -> None:
    model = ContentModel()
    with pytest.raises(ValueError, match="item_embeddings is None"):
        model.fit(two_groups, FitContext())
    with pytest.raises(ValueError, match="rows must align"):
        model.fit(two_groups, FitContext(item_embeddings=group_embeddings[:-1]))
    broken = group_embeddings.copy()
    broken[4, 2] = np.nan
    with pytest.raises(ValueError, match="row 4 holds NaN"):
        model.fit(two_groups, FitContext(item_embeddings=broken))
    with pytest.raises(ValueError, match="2-D"):
        model.fit(two_groups, FitContext(item_embeddings=group_embeddings[0]))


def test_bad_half_life() -> None:
    with pytest.raises(ValueError, match="half_life"):
        ContentModel(half_life=0)


def test_save_load_gives_identical_scores(
    fitted: ContentModel, all_users: UserBatch, tmp_path: Path
) -> None:
    fitted.add_items(np.ones((1, fitted.item_embeddings.shape[1]), dtype=np.float32))
    fitted.save(tmp_path / "content")
    loaded = ContentModel.load(tmp_path / "content")
    assert loaded.n_items == fitted.n_items and loaded.half_life == fitted.half_life
    assert np.array_equal(loaded.score(all_users), fitted.score(all_users))


def test_deterministic(two_groups: Interactions, context: FitContext, all_users) -> None:
    first, second = ContentModel(), ContentModel()
    first.fit(two_groups, context)
    second.fit(two_groups, context)
    assert np.array_equal(first.score(all_users), second.score(all_users))
