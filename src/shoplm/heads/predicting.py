"""What every trained head predicts from its raw outputs, one head or several averaged.

A subclass gives ``spec``, ``scale``, ``calibration`` and ``network_outputs(texts)`` (raw
outputs, see :mod:`shoplm.heads.scoring`), and may hold a word classifier blended into them
(``lexical``, :mod:`shoplm.heads.blend`); this turns them into probabilities, values, labels
and metrics the same way for a :class:`~shoplm.heads.head.TaskHead` and a
:class:`~shoplm.heads.ensemble.HeadEnsemble`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from shoplm.heads.scoring import (
    TargetScale,
    predict_classes,
    reported_logits,
    sigmoid,
    softmax,
    task_metrics,
)
from shoplm.heads.spec import Examples, TaskKind, TaskSpec, check_texts, encode_targets
from shoplm.heads.train import SQUARED_ERROR

if TYPE_CHECKING:
    from shoplm.heads.blend import LexicalBlend


@dataclass
class Scored:
    """A head's metrics on labelled rows, with what they were computed from: raw outputs,
    truth and the head's calibration and scale (what a bootstrap interval resamples)."""

    metrics: dict[str, float]
    outputs: np.ndarray
    truth: np.ndarray
    calibration: np.ndarray | None = None
    scale: TargetScale | None = None

    @classmethod
    def of(
        cls,
        spec: TaskSpec,
        outputs: np.ndarray,
        truth: np.ndarray,
        calibration: np.ndarray | None = None,
        scale: TargetScale | None = None,
    ) -> Scored:
        """The task's metrics of these raw outputs against ``truth``, with what they came from."""
        metrics = task_metrics(spec, outputs, truth, calibration, scale)
        return cls(metrics, outputs, truth, calibration, scale)


class Predicting:
    """Predictions and metrics from ``outputs``; see the module docstring."""

    spec: TaskSpec
    scale: TargetScale | None
    calibration: np.ndarray | None

    lexical: LexicalBlend | None = None  # a word classifier blended in, if any

    def network_outputs(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """The raw outputs of the network (one head, or several averaged), before any blend."""
        raise NotImplementedError

    def outputs(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Raw outputs: logits ``[n, k]``, one logit ``[n]`` or a standardised value ``[n]``;
        with a lexical blend, the blended log-probabilities ``[n, k]``."""
        texts = check_texts(texts)
        network = self.network_outputs(texts, show_progress)
        return network if self.lexical is None else self.lexical.combine(network, texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[n, k]``, columns in ``spec.reported_labels`` order (binary:
        k=2)."""
        return self.probabilities_of(self.outputs(texts))

    def predict_values(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted numbers in the target's units (regression), or positions on the label
        scale (ordinal: 0 is the first label, 2.6 lies between the third and fourth)."""
        if self.spec.kind not in SQUARED_ERROR:
            raise ValueError(f"task {self.spec.name!r} predicts labels: use predict/predict_proba")
        return self.values_of(self.outputs(texts))

    def predict(self, texts: Sequence[str]) -> list[str] | np.ndarray:
        """Label names (classification, ordinal, binary at p >= 0.5) or values (regression)."""
        if self.spec.kind is TaskKind.REGRESSION:
            return self.predict_values(texts)
        return self.labels_of(self.outputs(texts))

    # The same from raw outputs already computed, so one pass can give several of them.
    def probabilities_of(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` of raw outputs."""
        if self.spec.kind is TaskKind.CLASSIFICATION:
            logits = reported_logits(self.spec, raw)
            return softmax(logits if self.calibration is None else logits + self.calibration)
        if self.spec.kind is TaskKind.BINARY:
            p = sigmoid(raw)
            return np.stack([1.0 - p, p], axis=1)
        use = (
            "predict_values"
            if self.spec.kind is TaskKind.REGRESSION
            else "predict or predict_values"
        )
        raise ValueError(
            f"task {self.spec.name!r} ({self.spec.kind.value}) has no probabilities: use {use}"
        )

    def values_of(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`predict_values` of raw outputs."""
        return (self.scale or TargetScale()).to_values(raw)

    def labels_of(self, raw: np.ndarray) -> list[str]:
        """:meth:`predict`'s label names of raw outputs (not for regression)."""
        rows = predict_classes(self.spec, raw, self.calibration, self.scale)
        return [self.spec.reported_labels[int(i)] for i in rows]

    def evaluate(self, examples: Examples, show_progress: bool = False) -> dict[str, float]:
        """The task's metrics on labelled examples (test rows, say)."""
        return self.score(examples, show_progress).metrics

    def score(self, examples: Examples, show_progress: bool = False) -> Scored:
        """:meth:`evaluate`'s metrics with the outputs and truth behind them."""
        truth = encode_targets(self.spec, examples.targets)
        return self.scored(self.outputs(examples.texts, show_progress), truth)

    def scored(self, outputs: np.ndarray, truth: np.ndarray) -> Scored:
        """Metrics of these raw outputs against ``truth`` (indices of ``spec.labels``)."""
        return Scored.of(self.spec, outputs, truth, self.calibration, self.scale)
