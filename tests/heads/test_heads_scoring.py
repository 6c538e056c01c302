"""From head outputs to predictions: grouped labels, offsets, and metrics over the groups."""

from __future__ import annotations

import numpy as np

from shoplm.heads import TaskSpec
from shoplm.heads.scoring import (
    fit_offsets,
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
