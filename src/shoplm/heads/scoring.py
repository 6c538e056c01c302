"""From raw head outputs to predictions and metrics, the same way in training and serving.

Raw outputs: class logits ``[n, k]`` (classification), one logit ``[n]`` (binary), or a
standardised value ``[n]`` (regression and ordinal; ``TargetScale`` turns it back into the
target's units, for ordinal the position on the label scale).

What turns outputs into classes may be chosen on validation, the head's *calibration*:
per-class logit offsets for classification (:func:`fit_offsets`; argmax of ``logits +
offsets`` is the prediction), the cutpoints between neighbouring classes on the scale for
ordinal (:func:`fit_cutpoints`; a value's class is how many cutpoints lie at or below it).
A task whose labels are grouped (:class:`TaskSpec` ``groups``) is predicted and scored over
its groups: :func:`reported_logits` first, then the offsets; an ordinal task's cutpoints
separate its groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, logsumexp

from shoplm.heads import metrics
from shoplm.heads.spec import TaskKind, TaskSpec

OFFSET_GRID = np.round(np.arange(-3.0, 3.0001, 0.1), 2)
OFFSET_ROUNDS = 3
CUTPOINT_CANDIDATES = 199  # quantiles of the validation values a cutpoint may move to


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
    return _coordinate_ascent(
        np.zeros(n_classes, dtype=np.float64),
        range(1, n_classes),
        lambda _c, _current: OFFSET_GRID,
        lambda offsets: metrics.macro_f1(truth, classify(logits, offsets), n_classes),
    )


def _coordinate_ascent(
    start: np.ndarray,
    coordinates: range,
    choices: Callable[[int, np.ndarray], np.ndarray],
    score: Callable[[np.ndarray], float],
) -> np.ndarray:
    """Each coordinate in turn takes the best of its ``choices`` (given the others), for at
    most ``OFFSET_ROUNDS`` rounds; a change must strictly improve ``score``."""
    current = start.copy()
    best = score(current)
    for _ in range(OFFSET_ROUNDS):
        improved = False
        for c in coordinates:
            for value in choices(c, current):
                trial = current.copy()
                trial[c] = value
                trial_score = score(trial)
                if trial_score > best + 1e-12:
                    best, current, improved = trial_score, trial, True
        if not improved:
            break
    return current


def default_cutpoints(spec: TaskSpec) -> np.ndarray:
    """Cutpoints halfway between neighbouring reported classes on an ordinal label scale:
    with labels 0-4 grouped (0, 1), (2), (3, 4) they are 1.5 and 2.5."""
    rows = spec.group_rows()
    return np.array(
        [i + 0.5 for i in range(len(rows) - 1) if rows[i] != rows[i + 1]], dtype=np.float64
    )


def cut(values: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """Each value's class: how many of the (increasing) cutpoints lie at or below it."""
    return np.searchsorted(cutpoints, values, side="right")


def fit_cutpoints(values: np.ndarray, truth: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Cutpoints maximising macro-F1 on these (validation) rows, from ``start``.

    Coordinate ascent: each cutpoint in turn moves to the best of the values' quantiles
    between its neighbours; a move must strictly improve macro-F1, so the cutpoints stay at
    ``start`` unless moving helps.
    """
    n_classes = len(start) + 1
    candidates = np.unique(np.quantile(values, np.linspace(0.005, 0.995, CUTPOINT_CANDIDATES)))

    def between_neighbours(c: int, cutpoints: np.ndarray) -> np.ndarray:
        low = cutpoints[c - 1] if c > 0 else -np.inf
        high = cutpoints[c + 1] if c + 1 < len(cutpoints) else np.inf
        return candidates[(candidates > low) & (candidates < high)]

    return _coordinate_ascent(
        np.asarray(start, dtype=np.float64),
        range(len(start)),
        between_neighbours,
        lambda cutpoints: metrics.macro_f1(truth, cut(values, cutpoints), n_classes),
    )


def calibrate(
    spec: TaskSpec, outputs: np.ndarray, truth: np.ndarray, scale: TargetScale | None
) -> np.ndarray | None:
    """The calibration these (validation) outputs call for: class offsets (classification),
    cutpoints (ordinal), none for the other kinds."""
    if spec.kind is TaskKind.CLASSIFICATION:
        return fit_offsets(reported_logits(spec, outputs), reported_truth(spec, truth))
    if spec.kind is TaskKind.ORDINAL:
        values = (scale or TargetScale()).to_values(outputs)
        return fit_cutpoints(values, reported_truth(spec, truth), default_cutpoints(spec))
    return None


def predict_classes(
    spec: TaskSpec,
    outputs: np.ndarray,
    calibration: np.ndarray | None = None,
    scale: TargetScale | None = None,
) -> np.ndarray:
    """Indices into ``spec.reported_labels`` (classification and ordinal), binary at p >= 0.5."""
    if spec.kind is TaskKind.CLASSIFICATION:
        return classify(reported_logits(spec, outputs), calibration)
    if spec.kind is TaskKind.ORDINAL:
        values = (scale or TargetScale()).to_values(outputs)
        return cut(values, default_cutpoints(spec) if calibration is None else calibration)
    if spec.kind is TaskKind.BINARY:
        return (sigmoid(outputs) >= 0.5).astype(np.int64)
    raise ValueError(f"task {spec.name!r} is a regression: it predicts values, not classes")


def task_metrics(
    spec: TaskSpec,
    outputs: np.ndarray,
    truth: np.ndarray,
    calibration: np.ndarray | None = None,
    scale: TargetScale | None = None,
) -> dict[str, float]:
    """The task's metrics: accuracy + macro-F1, AUC + log loss, or RMSE.

    Classification and ordinal tasks are scored over the reported labels (the groups, where
    the task has them); ``truth`` holds indices of ``spec.labels`` and ``calibration`` is
    the head's (offsets on the reported logits, or cutpoints).  An ordinal task also reports
    the RMSE of its values in label steps (how far off the scale, before cutting).
    """
    if spec.kind in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL):
        predicted = predict_classes(spec, outputs, calibration, scale)
        result = _class_scores(spec, reported_truth(spec, truth), predicted)
        if spec.kind is TaskKind.ORDINAL:
            values = (scale or TargetScale()).to_values(outputs)
            result["rmse"] = metrics.rmse(truth, values)
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


def _class_scores(spec: TaskSpec, truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
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


def constant_metrics(spec: TaskSpec, y_train: np.ndarray, y_eval: np.ndarray) -> dict[str, float]:
    """The metrics on ``y_eval`` of a prediction that ignores the text: the majority class,
    the positive rate, or the mean of ``y_train`` (indices of ``spec.labels`` or values)."""
    n = len(y_eval)
    if spec.kind in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL):
        groups = spec.group_rows()
        majority = np.bincount(groups[y_train], minlength=len(spec.reported_labels)).argmax()
        if spec.kind is TaskKind.ORDINAL:  # the middle of the majority class's labels
            scale = TargetScale.fit(y_train.astype(np.float64))
            middle = np.full(n, np.flatnonzero(groups == majority).mean())
            return task_metrics(spec, scale.to_outputs(middle), y_eval, scale=scale)
        logits = np.where(groups == majority, 30.0, -30.0)[None, :].repeat(n, axis=0)
        return task_metrics(spec, logits, y_eval)
    if spec.kind is TaskKind.BINARY:
        p = float(np.clip(y_train.mean(), 1e-6, 1 - 1e-6))
        return task_metrics(spec, np.full(n, np.log(p / (1 - p))), y_eval)
    return task_metrics(spec, np.zeros(n), y_eval, scale=TargetScale.fit(y_train))


def beats_constant(spec: TaskSpec, score: float, y_valid: np.ndarray) -> bool:
    """Whether a head's validation ``score`` (:func:`selection_score`) beats the best text-free
    prediction of the validation rows themselves.  A head that does not has collapsed (say,
    to the majority class after too high a learning rate) and learnt nothing from the text."""
    baseline = constant_metrics(spec, y_valid, y_valid)
    return score > selection_score(spec, baseline) + 1e-9


def selection_score(spec: TaskSpec, scores: dict[str, float]) -> float:
    """Higher is better: macro-F1, minus log loss, or minus RMSE (early stopping, choices)."""
    if spec.kind in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL):
        return scores["macro_f1"]
    if spec.kind is TaskKind.BINARY:
        return -scores["log_loss"]
    return -scores["rmse"]


HEADLINE = ("macro_f1", "accuracy", "auc", "log_loss", "rmse")


def brief_scores(scores: dict[str, float]) -> str:
    """The headline metrics present in ``scores``, for a progress line or a listing."""
    return ", ".join(f"{k} {scores[k]:.4f}" for k in HEADLINE if k in scores)
