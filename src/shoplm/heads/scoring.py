"""From raw head outputs to predictions and metrics, the same way in training and serving.

Raw outputs: class logits ``[n, k]`` (classification), one logit ``[n]`` (binary), or a
standardised value ``[n]`` (regression; ``TargetScale`` turns it back into the target's
units).  Classification logits may carry per-class offsets chosen on validation
(:func:`fit_offsets`): argmax of ``logits + offsets`` is the prediction.  A task whose
labels are grouped (:class:`TaskSpec` ``groups``) is predicted and scored over its groups:
:func:`reported_logits` first, then the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, logsumexp

from shoplm.heads import metrics
from shoplm.heads.spec import TaskKind, TaskSpec

OFFSET_GRID = np.round(np.arange(-3.0, 3.0001, 0.1), 2)
OFFSET_ROUNDS = 3


@dataclass(frozen=True)
class TargetScale:
    """Regression targets are learnt standardised: value = output * std + mean."""

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, values: np.ndarray) -> TargetScale:
        std = float(np.std(values))
        return cls(mean=float(np.mean(values)), std=std if std > 1e-8 else 1.0)

    def to_values(self, outputs: np.ndarray) -> np.ndarray:
        return outputs * self.std + self.mean

    def to_outputs(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def reported_logits(spec: TaskSpec, logits: np.ndarray) -> np.ndarray:
    """Logits over ``spec.reported_labels``: a group's is the log of its labels' summed
    probability (the logits themselves when the task has no groups)."""
    if not spec.groups:
        return logits
    log_p = log_softmax(logits, axis=1)
    rows = spec.group_rows()
    groups = range(len(spec.reported_labels))
    return np.stack([logsumexp(log_p[:, rows == g], axis=1) for g in groups], axis=1)


def reported_truth(spec: TaskSpec, truth: np.ndarray) -> np.ndarray:
    """Class indices of ``spec.labels`` as indices of ``spec.reported_labels``."""
    return spec.group_rows()[truth] if spec.groups else truth


def classify(logits: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    return np.argmax(logits if offsets is None else logits + offsets, axis=1)


def fit_offsets(logits: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-class logit offsets maximising macro-F1 on these (validation) rows.

    Coordinate ascent over a grid, class 0 pinned at 0; a change must strictly improve
    macro-F1, so offsets stay at 0 unless they help.
    """
    n_classes = logits.shape[1]
    offsets = np.zeros(n_classes, dtype=np.float64)
    best = metrics.macro_f1(truth, classify(logits, offsets), n_classes)
    for _ in range(OFFSET_ROUNDS):
        improved = False
        for c in range(1, n_classes):
            for value in OFFSET_GRID:
                trial = offsets.copy()
                trial[c] = value
                score = metrics.macro_f1(truth, classify(logits, trial), n_classes)
                if score > best + 1e-12:
                    best, offsets, improved = score, trial, True
        if not improved:
            break
    return offsets


def task_metrics(
    spec: TaskSpec,
    outputs: np.ndarray,
    truth: np.ndarray,
    offsets: np.ndarray | None = None,
    scale: TargetScale | None = None,
) -> dict[str, float]:
    """The task's metrics: accuracy + macro-F1, AUC + log loss, or RMSE.

    Classification is scored over the reported labels (the groups, where the task has
    them); ``truth`` holds indices of ``spec.labels`` and ``offsets`` apply to the reported
    logits.
    """
    if spec.kind is TaskKind.CLASSIFICATION:
        truth = reported_truth(spec, truth)
        predicted = classify(reported_logits(spec, outputs), offsets)
        n = len(spec.reported_labels)
        result = {
            "accuracy": metrics.accuracy(truth, predicted),
            "macro_f1": metrics.macro_f1(truth, predicted, n),
        }
        if n <= 10:
            per_class = metrics.f1_per_class(truth, predicted, n)
            for i, label in enumerate(spec.reported_labels):
                result[f"f1_{label}"] = float(per_class[i])
        return result
    if spec.kind is TaskKind.BINARY:
        p = sigmoid(outputs)
        return {
            "auc": metrics.roc_auc(truth, p),
            "log_loss": metrics.log_loss(truth, p),
            "accuracy": metrics.accuracy(truth, (p >= 0.5).astype(truth.dtype)),
        }
    values = (scale or TargetScale()).to_values(outputs)
    return {"rmse": metrics.rmse(truth, values)}


def selection_score(spec: TaskSpec, scores: dict[str, float]) -> float:
    """Higher is better: macro-F1, minus log loss, or minus RMSE (early stopping, choices)."""
    if spec.kind is TaskKind.CLASSIFICATION:
        return scores["macro_f1"]
    if spec.kind is TaskKind.BINARY:
        return -scores["log_loss"]
    return -scores["rmse"]
