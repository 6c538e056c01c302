"""ALS via ``implicit``: orientation, structure, exact fold-in, persistence, determinism."""

from __future__ import annotations

import warnings
from pathlib import Path

import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from shoplm.interactions import Interactions
from shoplm.recommend.als import ALS
from shoplm.recommend.base import FitContext, UserBatch

# Two factors for two groups: more would let ALS reproduce each user's exact 0/1 pattern
# on data this small (every 3-of-6 taste occurs once), which is not what is tested here.
SMALL = {"factors": 2, "regularization": 0.1, "iterations": 10}


@pytest.fixture()
def fitted(two_groups: Interactions, context: FitContext) -> ALS:
    model = ALS(**SMALL)
    model.fit(two_groups, context)
    return model


def test_factors_follow_the_user_items_orientation(fitted: ALS, two_groups: Interactions) -> None:
    """implicit >= 0.5 takes a users x items matrix; a transposed one swaps these shapes."""
    assert two_groups.n_users != two_groups.n_items
    assert fitted.user_factors.shape == (two_groups.n_users, 2)
    assert fitted.item_factors.shape == (two_groups.n_items, 2)
    assert fitted.user_factors.dtype == fitted.item_factors.dtype == np.float32
    assert fitted.n_items == two_groups.n_items


def test_score_shape_and_type(fitted: ALS, all_users: UserBatch, groups) -> None:
    scores = fitted.score(all_users)
    assert scores.shape == (len(all_users), groups.n_items) and scores.dtype == np.float32
    assert np.allclose(scores, fitted.user_factors @ fitted.item_factors.T)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_users_get_their_group_first(
    two_groups: Interactions, all_users: UserBatch, training_groups: list[int], groups, seed: int
) -> None:
    model = ALS(**SMALL)
    model.fit(two_groups, FitContext(seed=seed))
    assert groups.misranked(model.score(all_users), training_groups, all_users.histories) == []


def test_unknown_users_are_folded_in_from_history(
    fitted: ALS, as_unknown: UserBatch, training_groups: list[int], groups
) -> None:
    scores = fitted.score(as_unknown)
    assert groups.misranked(scores, training_groups, as_unknown.histories) == []


def test_fold_in_matches_implicits_own_least_squares(fitted: ALS, groups) -> None:
    histories = [np.array([0, 1, 1, 4]), np.array([7]), np.array([], dtype=np.int64)]
    ours = fitted.unknown_user_factors(UserBatch(np.full(3, -1), histories))
    reference = AlternatingLeastSquares(factors=2, regularization=SMALL["regularization"])
    reference.item_factors = fitted.item_factors
    counts = sp.csr_matrix(
        ([1.0, 2.0, 1.0, 1.0], ([0, 0, 0, 1], [0, 1, 4, 7])),
        shape=(3, groups.n_items),
        dtype=np.float32,
    )
    expected = reference.recalculate_user(np.arange(3), counts)
    assert np.allclose(ours, expected, atol=1e-5)
    assert not ours[2].any()  # no history: zero factor, all-zero scores


def test_fold_in_respects_alpha(two_groups: Interactions) -> None:
    model = ALS(factors=2, alpha=4.0, regularization=0.1, iterations=5)
    model.fit(two_groups, FitContext(seed=3))
    reference = AlternatingLeastSquares(factors=2, regularization=0.1, alpha=4.0)
    reference.item_factors = model.item_factors
    history = sp.csr_matrix(([1.0, 1.0], ([0, 0], [2, 3])), shape=(1, two_groups.n_items))
    ours = model.unknown_user_factors(UserBatch(np.array([-1]), [np.array([2, 3])]))
    assert np.allclose(ours, reference.recalculate_user([0], history.astype(np.float32)), atol=1e-5)


def test_similar_items_are_the_same_group(fitted: ALS, groups) -> None:
    for row in range(groups.n_items):
        similar = fitted.similar_items(row)
        assert similar[groups.same_group(row)].min() > similar[groups.other_group(row)].max()


def test_mixed_batch_of_known_and_unknown_users(fitted: ALS, all_users: UserBatch) -> None:
    rows = np.array([3, -1, 0])
    histories = [all_users.histories[3], np.array([1, 2]), all_users.histories[0]]
    scores = fitted.score(UserBatch(rows, histories))
    known = fitted.score(UserBatch(np.array([3, 0]), [histories[0], histories[2]]))
    alone = fitted.score(UserBatch(np.array([-1]), [histories[1]]))
    assert np.allclose(scores[[0, 2]], known) and np.allclose(scores[1], alone[0])


def test_bad_user_rows_are_rejected(fitted: ALS, two_groups: Interactions) -> None:
    empty = np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match=r"user_rows\[0\]"):
        fitted.score(UserBatch(np.array([two_groups.n_users]), [empty]))
    with pytest.raises(ValueError, match=r"user_rows\[1\]"):
        fitted.score(UserBatch(np.array([0, -2]), [empty, empty]))
    with pytest.raises(ValueError, match="2 user_rows but 1 histories"):
        fitted.score(UserBatch(np.array([0, 1]), [empty]))


def test_save_load_gives_identical_scores(
    fitted: ALS, all_users: UserBatch, as_unknown: UserBatch, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "als")
    loaded = ALS.load(tmp_path / "als")
    assert loaded.params == fitted.params
    assert np.array_equal(loaded.score(all_users), fitted.score(all_users))
    assert np.array_equal(loaded.score(as_unknown), fitted.score(as_unknown))


def test_same_seed_same_model_even_with_all_cores(two_groups: Interactions) -> None:
    """ALS solves each user (item) independently, so threads do not change the result."""
    runs = []
    for threads in (1, 0, 0):
        model = ALS(factors=4, iterations=5, num_threads=threads)
        model.fit(two_groups, FitContext(seed=11))
        runs.append(model.item_factors)
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[1], runs[2])
    other = ALS(factors=4, iterations=5)
    other.fit(two_groups, FitContext(seed=12))
    assert not np.array_equal(runs[0], other.item_factors)


def test_fit_runs_without_the_blas_threads_warning(
    two_groups: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """implicit warns when BLAS is multi-threaded; fit limits BLAS to one thread."""
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ALS(factors=2, iterations=2).fit(two_groups, FitContext())


@pytest.mark.parametrize(
    "params",
    [{"factors": 0}, {"iterations": 0}, {"regularization": -1.0}, {"alpha": 0.0}],
)
def test_bad_parameters(params: dict) -> None:
    with pytest.raises(ValueError):
        ALS(**params)
