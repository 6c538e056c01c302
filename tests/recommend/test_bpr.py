"""BPR via ``implicit``: bias column, structure, unknown users, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.bpr import BPR

# Tiny data needs a larger step than the default to converge in 100 epochs.
SMALL = {"factors": 4, "learning_rate": 0.05, "iterations": 100}


@pytest.fixture()
def fitted(two_groups: Interactions, context: FitContext) -> BPR:
    model = BPR(**SMALL)
    model.fit(two_groups, context)
    return model


def test_factors_have_a_bias_column(fitted: BPR, two_groups: Interactions) -> None:
    """implicit appends the item bias; each trained user's last factor is fixed at 1."""
    assert fitted.user_factors.shape == (two_groups.n_users, 5)
    assert fitted.item_factors.shape == (two_groups.n_items, 5)
    assert np.array_equal(fitted.user_factors[:, -1], np.ones(two_groups.n_users))


def test_score_shape_and_type(fitted: BPR, all_users: UserBatch, groups) -> None:
    scores = fitted.score(all_users)
    assert scores.shape == (len(all_users), groups.n_items) and scores.dtype == np.float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_users_get_their_group_first(
    two_groups: Interactions,
    all_users: UserBatch,
    as_unknown: UserBatch,
    training_groups: list[int],
    groups,
    seed: int,
) -> None:
    model = BPR(**SMALL)
    model.fit(two_groups, FitContext(seed=seed))
    # SGD on 120 events is noisy: allow one stray trained user, none among folded-in ones.
    assert len(groups.misranked(model.score(all_users), training_groups, all_users.histories)) <= 1
    assert groups.misranked(model.score(as_unknown), training_groups, as_unknown.histories) == []


def test_unknown_user_factor_is_the_mean_of_history_items(fitted: BPR) -> None:
    histories = [np.array([0, 2, 2]), np.array([], dtype=np.int64)]
    factors = fitted.unknown_user_factors(UserBatch(np.array([-1, -1]), histories))
    expected = fitted.item_factors[[0, 2, 2], :-1].mean(axis=0)
    assert np.allclose(factors[0, :-1], expected) and factors[0, -1] == 1.0
    assert not factors[1].any()  # no history: all-zero scores, popularity's job
    scores = fitted.score(UserBatch(np.array([-1, -1]), histories))
    assert np.allclose(scores[0], fitted.item_factors @ factors[0]) and not scores[1].any()


def test_similar_items_are_the_same_group(fitted: BPR, groups) -> None:
    for row in range(groups.n_items):
        similar = fitted.similar_items(row)
        assert similar[groups.same_group(row)].min() > similar[groups.other_group(row)].max()


def test_save_load_gives_identical_scores(
    fitted: BPR, all_users: UserBatch, as_unknown: UserBatch, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "bpr")
    loaded = BPR.load(tmp_path / "bpr")
    assert loaded.params == fitted.params
    assert np.array_equal(loaded.score(all_users), fitted.score(all_users))
    assert np.array_equal(loaded.score(as_unknown), fitted.score(as_unknown))


def test_default_is_single_threaded_and_reproducible(two_groups: Interactions) -> None:
    assert BPR().params["num_threads"] == 1
    runs = []
    for seed in (5, 5, 6):
        model = BPR(factors=4, iterations=20)
        model.fit(two_groups, FitContext(seed=seed))
        runs.append(model.item_factors)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize(
    "params",
    [{"factors": 0}, {"iterations": 0}, {"learning_rate": 0.0}, {"regularization": -1.0}],
)
def test_bad_parameters(params: dict) -> None:
    with pytest.raises(ValueError):
        BPR(**params)
