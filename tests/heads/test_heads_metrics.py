"""Metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shoplm.heads import metrics


def test_accuracy_and_macro_f1_on_a_hand_example() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 2, fp 1 -> 0.8; class 2: tp 1, fn 1 -> 2/3
    np.testing.assert_allclose(
        metrics.f1_per_class(truth, predicted, 3), [0.5, 0.8, 2 / 3], rtol=1e-12
    )
    assert metrics.accuracy(truth, predicted) == pytest.approx(4 / 6)
    assert metrics.macro_f1(truth, predicted, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_macro_f1_counts_a_never_predicted_class_as_zero_and_skips_absent_ones() -> None:
    truth = np.array([0, 0, 1, 1])
    predicted = np.array([0, 0, 0, 0])
    # class 0: tp 2, fp 2 -> 2/3; class 1 never predicted -> 0; class 2 absent -> not averaged
    assert metrics.macro_f1(truth, predicted, 3) == pytest.approx((2 / 3 + 0.0) / 2)


def test_roc_auc_counts_ties_as_half() -> None:
    truth = np.array([0, 0, 1, 1])
    assert metrics.roc_auc(truth, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert metrics.roc_auc(truth, np.array([0.5, 0.2, 0.5, 0.9])) == pytest.approx(3.5 / 4)
    with pytest.raises(ValueError, match="positive and one negative"):
        metrics.roc_auc(np.array([1, 1]), np.array([0.2, 0.3]))


def test_log_loss_and_rmse() -> None:
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert metrics.log_loss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(expected)
    assert math.isfinite(metrics.log_loss(np.array([1]), np.array([0.0])))  # clipped
    assert metrics.rmse(np.array([1, 2, 3]), np.array([1, 3, 5])) == pytest.approx(math.sqrt(5 / 3))


def test_mismatched_or_empty_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="truth has 2 values but predictions have 3"):
        metrics.accuracy(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="no examples"):
        metrics.rmse(np.array([]), np.array([]))
