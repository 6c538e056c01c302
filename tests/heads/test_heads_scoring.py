"""From head outputs to predictions: grouped labels, offsets, ordinal cutpoints, and metrics
over the groups."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.heads import TaskSpec
from shoplm.heads.scoring import (
    beats_constant,
    calibrate,
    cut,
    default_cutpoints,
    fit_cutpoints,
    fit_offsets,
    predict_classes,
    reported_logits,
    reported_truth,
    softmax,
    task_metrics,
)

STARS = TaskSpec(
    "sentiment",
    "classification",
    ("1", "2", "3", "4", "5"),
    ("negative", "negative", "neutral", "positive", "positive"),
)
PLAIN = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))


def test_a_groups_probability_is_the_sum_of_its_labels() -> None:
    logits = np.array([[2.0, 1.0, 0.0, -1.0, 3.0], [0.0, 0.0, 5.0, 0.0, 0.0]])
    p = softmax(logits)
    grouped = softmax(reported_logits(STARS, logits))
    expected = np.stack([p[:, 0] + p[:, 1], p[:, 2], p[:, 3] + p[:, 4]], axis=1)
    np.testing.assert_allclose(grouped, expected, rtol=1e-12)
    # ungrouped tasks keep their logits untouched
    np.testing.assert_array_equal(reported_logits(PLAIN, logits[:, :3]), logits[:, :3])


def test_metrics_of_a_grouped_task_count_the_groups_not_the_labels() -> None:
    # truth: 2 stars, 4 stars, 3 stars; predictions: 1 star, 5 stars, 3 stars.  Every star
    # guess is wrong but 1 vs 2 and 4 vs 5 are the same group, so all three groups are right.
    truth = np.array([1, 3, 2])
    logits = np.full((3, 5), -5.0)
    logits[[0, 1, 2], [0, 4, 2]] = 5.0
    np.testing.assert_array_equal(reported_truth(STARS, truth), [0, 2, 1])
    scores = task_metrics(STARS, logits, truth)
    assert scores["accuracy"] == 1.0 and scores["macro_f1"] == 1.0
    assert {"f1_negative", "f1_neutral", "f1_positive"} <= set(scores)
    assert not any(key.startswith("f1_1") for key in scores)


def test_offsets_are_fitted_and_applied_over_the_groups() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=200)
    logits = rng.normal(size=(200, 5))
    logits[np.arange(200), truth] += 1.0
    logits[:, 2] -= 2.0  # the neutral star is under-predicted until an offset lifts it
    grouped, grouped_truth = reported_logits(STARS, logits), reported_truth(STARS, truth)
    offsets = fit_offsets(grouped, grouped_truth)
    assert offsets.shape == (3,) and offsets[1] > 0
    with_offsets = task_metrics(STARS, logits, truth, offsets)["macro_f1"]
    assert with_offsets > task_metrics(STARS, logits, truth)["macro_f1"]


ORDINAL = TaskSpec(
    "sentiment",
    "ordinal",
    ("1", "2", "3", "4", "5"),
    ("negative", "negative", "neutral", "positive", "positive"),
)


def test_default_cutpoints_lie_between_neighbouring_groups() -> None:
    np.testing.assert_array_equal(default_cutpoints(ORDINAL), [1.5, 2.5])
    ungrouped = TaskSpec("size", "ordinal", ("S", "M", "L"))
    np.testing.assert_array_equal(default_cutpoints(ungrouped), [0.5, 1.5])
    # a value on a cutpoint belongs to the class above it
    np.testing.assert_array_equal(
        cut(np.array([-1.0, 1.5, 2.0, 2.5, 9.0]), [1.5, 2.5]), [0, 1, 1, 2, 2]
    )


def test_ordinal_metrics_cut_the_values_and_score_the_groups() -> None:
    # truth: 1, 2, 3, 4, 5 stars (indices 0-4); predicted positions on the scale below.
    truth = np.arange(5)
    values = np.array([0.2, 1.7, 2.2, 2.4, 3.9])
    scores = task_metrics(ORDINAL, values, truth)  # default cutpoints 1.5 and 2.5
    # classes: neg, neu, neu, neu, pos against truth neg, neg, neu, pos, pos
    assert scores["accuracy"] == 0.6
    assert scores["f1_negative"] == 2 / 3 and scores["f1_neutral"] == 0.5
    assert scores["f1_positive"] == 2 / 3
    assert abs(scores["rmse"] - np.sqrt(np.mean((values - truth) ** 2))) < 1e-12
    # cutpoints that fit these rows: every group right
    perfect = task_metrics(ORDINAL, values, truth, calibration=np.array([1.9, 2.3]))
    assert perfect["macro_f1"] == 1.0 and perfect["accuracy"] == 1.0


def test_fitted_cutpoints_follow_where_the_classes_really_part() -> None:
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 2, 4], 100)  # 1, 3 and 5 stars
    # the head squeezes the scale: 1-star reviews sit near 1.0, 3-star near 1.4, 5-star near
    # 2.2, so the default cutpoints (1.5, 2.5) call most 3-star reviews negative and most
    # 5-star ones neutral
    values = np.repeat([1.0, 1.4, 2.2], 100) + rng.normal(0, 0.05, 300)
    start = default_cutpoints(ORDINAL)
    fitted = fit_cutpoints(values, reported_truth(ORDINAL, truth), start)
    assert 1.1 < fitted[0] < 1.3 and 1.5 < fitted[1] < 2.1
    before = task_metrics(ORDINAL, values, truth)["macro_f1"]
    after = task_metrics(ORDINAL, values, truth, fitted)["macro_f1"]
    assert after > before and after > 0.95
    np.testing.assert_array_equal(calibrate(ORDINAL, values, truth, None), fitted)


def test_cutpoints_stay_put_when_no_move_helps() -> None:
    truth = np.array([0, 1, 2])
    values = np.array([0.0, 2.0, 4.0])
    start = np.array([1.5, 2.5])
    np.testing.assert_array_equal(fit_cutpoints(values, truth, start), start)


def test_classes_of_each_kind_and_none_for_a_regression() -> None:
    np.testing.assert_array_equal(
        predict_classes(TaskSpec("click", "binary"), np.array([-1.0, 2.0])), [0, 1]
    )
    with pytest.raises(ValueError, match="regression"):
        predict_classes(TaskSpec("rating", "regression"), np.zeros(2))
    assert calibrate(TaskSpec("rating", "regression"), np.zeros(2), np.zeros(2), None) is None


def test_a_head_must_beat_the_best_constant_prediction_of_validation() -> None:
    y = np.array([0, 0, 0, 1, 2])  # all "negative": F1 0.75 on it, 0 on the others
    assert not beats_constant(PLAIN, 0.25, y)  # what a head stuck on the majority scores
    assert beats_constant(PLAIN, 0.26, y)
    binary = TaskSpec("click", "binary")
    y = np.array([0, 1, 1, 1])  # a constant 0.75 has log loss 0.5623
    constant_loss = -(np.log(0.25) + 3 * np.log(0.75)) / 4
    assert not beats_constant(binary, -constant_loss, y)
    assert beats_constant(binary, -constant_loss + 0.01, y)
    rating = TaskSpec("rating", "regression")
    y = np.array([1.0, 3.0, 5.0])  # the mean's RMSE is their standard deviation
    assert not beats_constant(rating, -float(np.std(y)), y)
    assert beats_constant(rating, -float(np.std(y)) + 0.01, y)
