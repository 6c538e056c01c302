"""Bootstrap intervals of a head's test figure: seeded, around the figure, as wide as the
rows allow."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.heads import TaskSpec
from shoplm.heads.intervals import (
    bootstrap_interval,
    headline_metric,
    interval_columns,
    paired_bootstrap,
)
from shoplm.heads.predicting import Scored
from shoplm.heads.scoring import TargetScale, task_metrics

SPEC = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))


def _scored(
    spec: TaskSpec, outputs: np.ndarray, truth: np.ndarray, scale: TargetScale | None = None
) -> Scored:
    return Scored(task_metrics(spec, outputs, truth, scale=scale), outputs, truth, None, scale)


def _noisy_logits(truth: np.ndarray, right: float, seed: int) -> np.ndarray:
    """One-hot logits that name the true class for a share ``right`` of the rows."""
    rng = np.random.default_rng(seed)
    guess = np.where(rng.random(len(truth)) < right, truth, rng.integers(0, 3, len(truth)))
    return np.eye(3)[guess] * 5.0


def test_the_interval_holds_the_figure_and_narrows_with_more_rows() -> None:
    widths = []
    for n in (300, 3000):
        truth = np.random.default_rng(1).integers(0, 3, n)
        logits = _noisy_logits(truth, 0.7, 2)
        scored = _scored(SPEC, logits, truth)
        found = bootstrap_interval(SPEC, scored, rounds=400, seed=3)
        figure = task_metrics(SPEC, logits, truth)["macro_f1"]
        assert found["metric"] == "macro_f1" and found["rounds"] == 400
        assert found["low"] < figure < found["high"]
        # the standard error of a share near 0.8 over n rows is about sqrt(0.16 / n)
        assert 0.5 * np.sqrt(0.16 / n) < found["se"] < 2.0 * np.sqrt(0.16 / n)
        widths.append(found["high"] - found["low"])
        assert (
            bootstrap_interval(SPEC, _scored(SPEC, logits, truth), rounds=400, seed=3) == found
        )  # seeded
    assert widths[1] < widths[0] / 2  # ten times the rows: about a third of the width


def test_perfect_predictions_have_no_spread() -> None:
    truth = np.array([0, 1, 2, 0, 1, 2, 2, 2])
    found = bootstrap_interval(SPEC, _scored(SPEC, np.eye(3)[truth] * 5.0, truth), rounds=50)
    assert found["low"] == found["high"] == 1.0 and found["se"] == 0.0
    assert interval_columns(found) == {
        "macro_f1_low": 1.0,
        "macro_f1_high": 1.0,
        "macro_f1_se": 0.0,
    }


def test_each_kind_of_task_has_its_headline_figure() -> None:
    binary = TaskSpec("click", "binary", ("no", "yes"))
    rating = TaskSpec("rating", "regression")
    assert headline_metric(SPEC) == "macro_f1"
    assert headline_metric(binary) == "auc" and headline_metric(rating) == "rmse"
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 500)
    logits = truth * 2.0 - 1.0 + rng.normal(0, 1.5, 500)
    found = bootstrap_interval(binary, _scored(binary, logits, truth), rounds=100)
    assert found["low"] < task_metrics(binary, logits, truth)["auc"] < found["high"]
    stars = rng.uniform(1, 5, 500)
    scale = TargetScale.fit(stars)
    outputs = scale.to_outputs(stars + rng.normal(0, 0.5, 500))
    found = bootstrap_interval(rating, _scored(rating, outputs, stars, scale), rounds=100)
    assert found["metric"] == "rmse" and found["low"] < 0.5 < found["high"]


def test_too_few_rows_or_rounds_are_refused() -> None:
    truth = np.array([0, 1])
    with pytest.raises(ValueError, match="at least 2 rounds"):
        bootstrap_interval(SPEC, _scored(SPEC, np.eye(3)[truth], truth), rounds=1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        bootstrap_interval(SPEC, _scored(SPEC, np.eye(3)[:1], truth[:1]))
    with pytest.raises(ValueError, match="same rows"):
        paired_bootstrap(
            SPEC, _scored(SPEC, np.eye(3)[truth], truth), _scored(SPEC, np.eye(3)[:1], truth[:1])
        )


def test_a_paired_interval_is_narrower_than_either_heads_own() -> None:
    truth = np.random.default_rng(1).integers(0, 3, 2000)
    weaker = _noisy_logits(truth, 0.70, 2)
    # the stronger head is the weaker one put right on a further 3% of the rows
    fixed = np.random.default_rng(4).random(len(truth)) < 0.03
    stronger = np.where(fixed[:, None], np.eye(3)[truth] * 5.0, weaker)
    a, b = _scored(SPEC, weaker, truth), _scored(SPEC, stronger, truth)
    found = paired_bootstrap(SPEC, a, b, rounds=300, seed=5)
    assert found["difference"] == pytest.approx(b.metrics["macro_f1"] - a.metrics["macro_f1"])
    assert 0.0 < found["low"] < found["difference"] < found["high"]
    assert found["candidate_better"] == 1.0
    alone = bootstrap_interval(SPEC, b, rounds=300, seed=5)
    assert found["high"] - found["low"] < (alone["high"] - alone["low"]) / 2
    # the other way round: the same interval, negated
    back = paired_bootstrap(SPEC, b, a, rounds=300, seed=5)
    assert back["low"] == pytest.approx(-found["high"]) and back["candidate_better"] == 0.0
