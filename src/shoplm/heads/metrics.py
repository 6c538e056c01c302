"""Quality of a head's predictions: accuracy and macro-F1, RMSE, ROC AUC and log loss.

Plain numpy (and scipy's ranking), written out so the definitions are visible:

- macro-F1: the unweighted mean of per-class F1 over the classes that occur in the truth
  or in the predictions (scikit-learn's default); a class never predicted scores 0.
- ROC AUC: the probability that a random positive scores above a random negative, ties
  counted as half (Mann-Whitney U from average ranks).
- log loss: mean binary cross-entropy, probabilities clipped to [1e-15, 1 - 1e-15].
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

EPS = 1e-15


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    truth, predicted = _pair(truth, predicted)
    return float((truth == predicted).mean())


def f1_per_class(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """F1 of each class 0..n_classes-1 (0 where it has neither true nor predicted rows)."""
    truth, predicted = _pair(truth, predicted)
    scores = np.zeros(n_classes, dtype=np.float64)
    for c in range(n_classes):
        tp = np.sum((predicted == c) & (truth == c))
        fp = np.sum((predicted == c) & (truth != c))
        fn = np.sum((predicted != c) & (truth == c))
        denominator = 2 * tp + fp + fn
        scores[c] = 2 * tp / denominator if denominator else 0.0
    return scores


def macro_f1(truth: np.ndarray, predicted: np.ndarray, n_classes: int | None = None) -> float:
    truth, predicted = _pair(truth, predicted)
    present = np.union1d(truth, predicted).astype(np.int64)
    if n_classes is None:
        n_classes = int(present.max()) + 1
    return float(f1_per_class(truth, predicted, n_classes)[present].mean())


def rmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    truth, predicted = _pair(truth, predicted)
    return float(np.sqrt(np.mean((truth.astype(np.float64) - predicted) ** 2)))


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of scores against 0/1 truth; needs both classes."""
    truth, scores = _pair(truth, scores)
    positive = truth == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative example")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(truth: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary cross-entropy of P(positive) against 0/1 truth."""
    truth, probabilities = _pair(truth, probabilities)
    p = np.clip(probabilities.astype(np.float64), EPS, 1 - EPS)
    y = truth.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"truth has {a.size} values but predictions have {b.size}")
    if a.size == 0:
        raise ValueError("no examples to score")
    return a, b
