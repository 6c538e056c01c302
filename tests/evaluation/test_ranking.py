"""Exact, deterministic top-k: ties, exclusions, -1 padding and bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from shoplm.evaluation.ranking import mask_excluded, top_k_from_scores


def _reference_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Full sort by (score desc, item row asc), -1 for -inf: slow but obviously right."""
    out = []
    for row in scores:
        order = np.lexsort((np.arange(len(row)), -row))[:k]
        out.append([i if np.isfinite(row[i]) else -1 for i in order])
    return np.array(out, dtype=np.int64)


def test_orders_by_score_then_lower_row():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.2], [1.0, 1.0, 1.0, 1.0, 1.0]])
    top = top_k_from_scores(scores, 3)
    assert top.dtype == np.int64
    assert top.tolist() == [[1, 3, 2], [0, 1, 2]]


def test_ties_straddling_the_cut_pick_lowest_rows():
    # kth value 0.5 is shared by items 1, 2, 4; only one fits after item 3
    scores = np.array([[0.1, 0.5, 0.5, 0.8, 0.5]])
    assert top_k_from_scores(scores, 2).tolist() == [[3, 1]]
    assert top_k_from_scores(scores, 3).tolist() == [[3, 1, 2]]


def test_matches_full_sort_on_random_scores_with_ties():
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 5, size=(64, 40)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    for k in (1, 5, 40):
        np.testing.assert_array_equal(top_k_from_scores(scores, k), _reference_top_k(scores, k))


def test_exclusions_as_arrays_and_sparse_agree():
    scores = np.array([[0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4]])
    exclude = [np.array([0, 2]), np.array([], dtype=np.int64)]
    top = top_k_from_scores(scores, 2, exclude=exclude)
    assert top.tolist() == [[1, 3], [3, 2]]
    matrix = sp.csr_matrix(([1, 1], ([0, 0], [0, 2])), shape=(2, 4))
    np.testing.assert_array_equal(top_k_from_scores(scores, 2, exclude=matrix), top)
    np.testing.assert_array_equal(top_k_from_scores(scores, 2, exclude=sp.csr_array(matrix)), top)


def test_excluded_items_leave_minus_one_padding():
    scores = np.array([[0.5, 0.4, 0.3], [0.5, 0.4, 0.3]])
    top = top_k_from_scores(scores, 3, exclude=[np.array([0, 1]), np.array([0, 1, 2])])
    assert top.tolist() == [[2, -1, -1], [-1, -1, -1]]


def test_input_scores_are_not_modified_and_k_is_capped():
    scores = np.array([[0.3, 0.2, 0.1]])
    before = scores.copy()
    top = top_k_from_scores(scores, 10, exclude=[np.array([0])])
    assert top.tolist() == [[1, 2, -1]]
    np.testing.assert_array_equal(scores, before)
    assert top_k_from_scores(np.zeros((0, 5)), 3).shape == (0, 3)


def test_mask_excluded_in_place():
    scores = np.zeros((2, 3))
    mask_excluded(scores, [np.array([1]), np.array([0, 2])])
    assert np.isneginf(scores).tolist() == [[False, True, False], [True, False, True]]
    mask_excluded(scores, None)  # no-op
    assert np.isneginf(scores).sum() == 3


def test_nan_scores_are_an_error_naming_the_row():
    scores = np.array([[0.1, 0.2], [0.3, np.nan]])
    with pytest.raises(ValueError, match=r"NaN.*row 1"):
        top_k_from_scores(scores, 1)


@pytest.mark.parametrize(
    ("scores", "k", "exclude", "message"),
    [
        (np.zeros((1, 3)), 0, None, "k must be positive"),
        (np.zeros(3), 1, None, "2-D"),
        (np.zeros((2, 3)), 1, [np.array([0])], "exclude has 1 rows but scores have 2"),
        (np.zeros((1, 3)), 1, [np.array([3])], "exclude row 0 names item row 3"),
        (np.zeros((1, 3)), 1, [np.array([-1])], r"outside 0\.\.2"),
        (np.zeros((2, 3)), 1, sp.csr_matrix((1, 3)), "exclude has 1 rows"),
    ],
)
def test_bad_input_is_rejected(scores, k, exclude, message):
    with pytest.raises(ValueError, match=message):
        top_k_from_scores(scores, k, exclude=exclude)
