"""Every metric against values worked out by hand in the comments."""

from math import log2

import numpy as np
import pytest

from shoplm.evaluation.metrics import (
    RANKING_METRICS,
    dcg,
    graded_ndcg,
    item_coverage,
    ranking_metrics,
    ranking_metrics_per_user,
    search_metrics,
    search_metrics_per_query,
)

# Three users, one target each:
#   user 0: target 7 at rank 3 -> NDCG 1/log2(4) = 0.5, RR 1/3
#   user 1: target 0 at rank 1 -> NDCG 1, RR 1
#   user 2: target 4 absent    -> 0 everywhere
RANKED = np.array([[5, 3, 7, 1, 2], [0, 1, 2, 3, 4], [9, 8, 7, 6, 5]], dtype=np.int64)
TARGETS = np.array([7, 0, 4], dtype=np.int64)


def test_single_target_hand_values():
    m = ranking_metrics(RANKED, TARGETS, ks=(1, 3, 5))
    assert m["n_users"] == 3
    assert m["HR@1"] == pytest.approx(1 / 3)
    assert m["HR@3"] == pytest.approx(2 / 3)
    assert m["HR@5"] == pytest.approx(2 / 3)
    assert m["NDCG@1"] == pytest.approx(1 / 3)
    assert m["NDCG@3"] == pytest.approx((1 / log2(4) + 1) / 3)  # = 0.5
    assert m["NDCG@3"] == pytest.approx(0.5)
    assert m["NDCG@5"] == pytest.approx(0.5)
    assert m["MRR@1"] == pytest.approx(1 / 3)
    assert m["MRR@3"] == pytest.approx((1 / 3 + 1) / 3)  # = 4/9
    assert m["MRR@5"] == pytest.approx(4 / 9)
    # One relevant item per user: recall equals hit rate.
    for k in (1, 3, 5):
        assert m[f"Recall@{k}"] == pytest.approx(m[f"HR@{k}"])


def test_per_user_rows_are_the_hand_values_in_user_order():
    rows = ranking_metrics_per_user(RANKED, TARGETS, ks=(3,))
    assert rows["NDCG@3"] == pytest.approx([0.5, 1.0, 0.0])
    assert rows["MRR@3"] == pytest.approx([1 / 3, 1.0, 0.0])
    assert rows["HR@3"].tolist() == [1.0, 1.0, 0.0]
    # A user without a target has no row: rows stay paired only for users with one.
    skipped = ranking_metrics_per_user(RANKED, np.array([7, -1, 4]), ks=(3,))
    assert skipped["NDCG@3"] == pytest.approx([0.5, 0.0])


def test_keys_are_exact():
    m = ranking_metrics(RANKED, TARGETS, ks=(2, 5))
    expected = {f"{name}@{k}" for name in RANKING_METRICS for k in (2, 5)}
    assert set(m) == expected | {"n_users"}
    assert all(isinstance(v, float) for k, v in m.items() if k != "n_users")


def test_single_target_path_matches_set_path():
    rng = np.random.default_rng(0)
    ranked = np.stack([rng.permutation(50)[:10] for _ in range(200)])
    targets = rng.integers(0, 50, size=200)
    fast = ranking_metrics(ranked, targets, ks=(5, 10))
    as_sets = ranking_metrics(ranked, [{int(t)} for t in targets], ks=(5, 10))
    assert fast == pytest.approx(as_sets)
    assert fast["HR@10"] > 0  # the random data does produce hits


def test_users_without_target_are_skipped_and_empty_slots_never_hit():
    ranked = np.array([[3, -1, -1], [-1, -1, -1], [2, 1, 0]], dtype=np.int64)
    targets = np.array([3, -1, 0], dtype=np.int64)
    m = ranking_metrics(ranked, targets, ks=(3,))
    assert m["n_users"] == 2
    # user 0: rank 1 -> 1.0; user 2: rank 3 -> 1/log2(4) = 0.5
    assert m["NDCG@3"] == pytest.approx((1 + 0.5) / 2)
    assert m["MRR@3"] == pytest.approx((1 + 1 / 3) / 2)


def test_multi_target_hand_values():
    # User 0: relevant {2, 4, 9}, ranked 1 2 3 4 -> hits at ranks 2 and 4.
    # User 1: nothing relevant -> skipped.
    ranked = np.array([[1, 2, 3, 4], [1, 2, 3, 4]], dtype=np.int64)
    m = ranking_metrics(ranked, [{2, 4, 9}, set()], ks=(2, 4))
    assert m["n_users"] == 1
    assert m["HR@2"] == 1.0
    assert m["HR@4"] == 1.0
    # Recall@K = hits / |relevant| = 1/3 and 2/3
    assert m["Recall@2"] == pytest.approx(1 / 3)
    assert m["Recall@4"] == pytest.approx(2 / 3)
    # NDCG@2: DCG = 1/log2(3) = 0.6309; IDCG over min(3, 2) = 2 hits = 1 + 1/log2(3) = 1.6309
    assert m["NDCG@2"] == pytest.approx((1 / log2(3)) / (1 + 1 / log2(3)))
    assert m["NDCG@2"] == pytest.approx(0.386853, abs=1e-6)
    # NDCG@4: DCG = 1/log2(3) + 1/log2(5) = 1.061606; IDCG = 1 + 0.630930 + 0.5 = 2.130930
    assert m["NDCG@4"] == pytest.approx((1 / log2(3) + 1 / log2(5)) / (1 + 1 / log2(3) + 0.5))
    assert m["NDCG@4"] == pytest.approx(0.498189, abs=1e-6)
    # first relevant at rank 2
    assert m["MRR@2"] == pytest.approx(0.5)
    assert m["MRR@4"] == pytest.approx(0.5)


def test_multi_target_accepts_arrays_and_ignores_padding_and_duplicates():
    ranked = np.array([[1, 2, 3, 4]], dtype=np.int64)
    m_set = ranking_metrics(ranked, [{2, 4, 9}], ks=(4,))
    m_arr = ranking_metrics(ranked, np.array([[2, 4, 9, -1, 4]]), ks=(4,))
    assert m_arr == pytest.approx(m_set)


def test_perfect_multi_target_list_scores_one():
    ranked = np.array([[7, 8, 0, 1]], dtype=np.int64)
    m = ranking_metrics(ranked, [[8, 7]], ks=(2, 4))
    assert m["NDCG@2"] == pytest.approx(1.0)
    assert m["NDCG@4"] == pytest.approx(1.0)
    assert m["Recall@2"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ranked", "relevant", "ks", "message"),
    [
        (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), (5,), "columns"),
        (np.zeros(3, dtype=np.int64), np.array([0, 1, 2]), (1,), "2-D"),
        (np.zeros((2, 3)), np.array([0, 1]), (3,), "integer item rows"),
        (np.array([[0, 1, 0]]), np.array([0]), (3,), "row 0 repeats"),
        (np.array([[0, 1], [0, -2]]), np.array([0, 0]), (2,), "row 1"),
        (np.array([[0, 1]]), np.array([0, 1]), (2,), "2 targets"),
        (np.array([[0, 1]]), np.array([0.0]), (2,), "integer"),
        (np.array([[0, 1]]), np.array([-1]), (2,), "no user"),
        (np.array([[0, 1]]), [[0], [1]], (2,), "2 entries"),
        (np.array([[0, 1]]), [[0.5]], (2,), "integer"),
        (np.array([[0, 1]]), [[-3]], (2,), "user 0"),
        (np.array([[0, 1]]), np.array([0]), (0,), "positive"),
    ],
)
def test_ranking_metrics_rejects_bad_input(ranked, relevant, ks, message):
    with pytest.raises(ValueError, match=message):
        ranking_metrics(ranked, relevant, ks)


def test_item_coverage():
    ranked = np.array([[0, 1, -1], [1, 2, -1]], dtype=np.int64)
    assert item_coverage(ranked, n_items=10, k=3) == pytest.approx(3 / 10)  # {0, 1, 2}
    assert item_coverage(ranked, n_items=10, k=1) == pytest.approx(2 / 10)  # {0, 1}
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        item_coverage(ranked, n_items=2, k=3)
    with pytest.raises(ValueError, match="n_items"):
        item_coverage(ranked, n_items=0)
    with pytest.raises(ValueError, match="k must be positive"):
        item_coverage(ranked, n_items=10, k=0)


def test_dcg_and_graded_ndcg():
    # DCG@3 of [3, 2, 1] = 3/1 + 2/log2(3) + 1/log2(4) = 3 + 1.26186 + 0.5
    assert dcg([3, 2, 1], 3) == pytest.approx(3 + 2 / log2(3) + 0.5)
    assert dcg([3, 2, 1], 1) == pytest.approx(3.0)
    # Ranked gains [0, 2, 1], judged gains {2, 1, 1, 0}, k = 3:
    #   DCG  = 0 + 2/log2(3) + 1/log2(4)       = 1.26186 + 0.5       = 1.76186
    #   IDCG = 2 + 1/log2(3) + 1/log2(4)       = 2 + 0.63093 + 0.5   = 3.13093
    #   NDCG = 1.76186 / 3.13093               = 0.56273
    value = graded_ndcg([0, 2, 1], [1, 0, 2, 1], k=3)
    assert value == pytest.approx((2 / log2(3) + 0.5) / (2 + 1 / log2(3) + 0.5))
    assert value == pytest.approx(0.56273, abs=1e-5)
    with pytest.raises(ValueError, match="undefined"):
        graded_ndcg([1.0], [0.0, 0.0], k=3)


def test_search_metrics_hand_values():
    # Query A: relevance a=3, b=2, c=1, d=2.5 -> gains (relevance - 1) a=2, b=1, c=0, d=1.5;
    #   3 relevant items (a, b, d).  Ranked x (unjudged, gain 0), b, a, c.
    #   DCG@3  = 0 + 1/log2(3) + 2/log2(4)         = 0.63093 + 1       = 1.63093
    #   IDCG@3 = 2 + 1.5/log2(3) + 1/log2(4)       = 2 + 0.94639 + 0.5 = 3.44639
    #   NDCG@3 = 0.47323; MRR@3 = 1/2 (b at rank 2)
    #   Recall@2 = 1/3 (b); Recall@4 = 2/3 (b, a)
    # Query B: every relevance is 1 -> no gain -> excluded, counted as no-relevant.
    # Query C: m=2 ranked first -> NDCG 1, MRR 1, Recall 1.
    ranked = [["x", "b", "a", "c"], ["p", "q"], ["m"]]
    judgments = [{"a": 3, "b": 2, "c": 1, "d": 2.5}, {"p": 1, "q": 1}, {"m": 2}]
    m = search_metrics(ranked, judgments, ks=(3,), recall_ks=(2, 4))
    ndcg_a = (1 / log2(3) + 2 / log2(4)) / (2 + 1.5 / log2(3) + 1 / log2(4))
    assert ndcg_a == pytest.approx(0.47323, abs=1e-5)
    assert m["NDCG@3"] == pytest.approx((ndcg_a + 1) / 2)
    assert m["MRR@3"] == pytest.approx((0.5 + 1) / 2)
    assert m["Recall@2"] == pytest.approx((1 / 3 + 1) / 2)
    assert m["Recall@4"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["n_queries"] == 2
    assert m["n_queries_no_relevant"] == 1
    assert set(m) == {
        "NDCG@3",
        "MRR@3",
        "Recall@2",
        "Recall@4",
        "n_queries",
        "n_queries_no_relevant",
    }


def test_search_rows_per_query_leave_out_the_unjudged_query():
    ranked = [["x", "b", "a", "c"], ["p", "q"], ["m"]]
    judgments = [{"a": 3, "b": 2, "c": 1, "d": 2.5}, {"p": 1, "q": 1}, {"m": 2}]
    rows, left_out = search_metrics_per_query(ranked, judgments, ks=(3,), recall_ks=(2,))
    assert left_out == 1
    assert rows["NDCG@3"] == pytest.approx([0.47323, 1.0], abs=1e-5)  # queries A and C above
    assert rows["Recall@2"] == pytest.approx([1 / 3, 1.0])


def test_search_metrics_default_keys_and_gain_offset():
    ranked = [["p", "q"]]
    judgments = [{"q": 1}]
    # Offset 1: relevance 1 is worth nothing, so the only query has nothing to find.
    with pytest.raises(ValueError, match="no query"):
        search_metrics(ranked, judgments)
    # Offset 0: q (gain 1) at rank 2 -> NDCG = (1/log2(3)) / 1, MRR = 1/2, Recall@100 = 1.
    m = search_metrics(ranked, judgments, gain_offset=0.0)
    assert set(m) == {"NDCG@10", "MRR@10", "Recall@100", "n_queries", "n_queries_no_relevant"}
    assert m["NDCG@10"] == pytest.approx(1 / log2(3))
    assert m["MRR@10"] == pytest.approx(0.5)
    assert m["Recall@100"] == pytest.approx(1.0)


def test_search_metrics_relevant_item_beyond_k():
    # the only relevant item sits at rank 3: outside k = 2 for NDCG and MRR, inside recall@3
    m = search_metrics([["a", "b", "c"]], [{"c": 3}], ks=(2,), recall_ks=(3,))
    assert m["NDCG@2"] == 0.0
    assert m["MRR@2"] == 0.0
    assert m["Recall@3"] == 1.0


@pytest.mark.parametrize(
    ("ranked", "judgments", "message"),
    [
        ([["a"]], [], "1 ranked lists but 0"),
        ([["a", "a"]], [{"a": 3}], "query 0: item 'a' appears twice"),
        ([["a"]], [{"a": float("nan")}], "query 0: relevance of item 'a'"),
        (["ab"], [{"a": 3}], "query 0: ranked must be a list"),
    ],
)
def test_search_metrics_rejects_bad_input(ranked, judgments, message):
    with pytest.raises(ValueError, match=message):
        search_metrics(ranked, judgments)
