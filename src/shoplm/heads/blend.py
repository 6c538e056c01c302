"""A classification head's outputs blended with a word-level classifier's.

The blend is ``(1 - w) * log p_head + w * log p_words`` over the head's labels (a weighted
geometric mean of the two distributions), with ``w`` chosen on validation from
:data:`WEIGHTS` after each candidate's own class offsets are fitted there too; ``w = 0`` (the
head alone) wins ties, so the blend is kept only where it validates better.  Both parts were
trained on the training rows only.  The head's own offsets and the word classifier's are
kept as well, so either can still be scored alone (``evaluate heads`` reports all three).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_softmax

from shoplm.heads import storage
from shoplm.heads.lexical import LexicalClassifier, LexicalSettings
from shoplm.heads.predicting import Scored
from shoplm.heads.spec import TaskKind, TaskSpec
from shoplm.heads.train import score_outputs

WEIGHTS = tuple(round(0.1 * k, 1) for k in range(11))
Say = Callable[[str], None]


@dataclass
class BlendFit:
    """What :func:`fit_blend` found: the blend, the calibration of the blended outputs (the
    head's new one), the blended validation outputs, and the report of every choice."""

    blend: LexicalBlend
    calibration: np.ndarray | None
    validation_outputs: np.ndarray
    report: dict[str, Any]


@dataclass
class LexicalBlend:
    """The word classifier, its weight in the blend, and each part's calibration alone."""

    classifier: LexicalClassifier
    weight: float
    network_calibration: np.ndarray | None
    lexical_calibration: np.ndarray | None

    def combine(self, network: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The blended raw outputs of the head's raw ``network`` outputs on ``texts``."""
        return mix(network, self.classifier.outputs(texts), self.weight)

    def parts_scored(
        self,
        spec: TaskSpec,
        network: np.ndarray,
        texts: Sequence[str],
        truth: np.ndarray,
        calibration: np.ndarray | None,
    ) -> tuple[Scored, Scored, Scored]:
        """(blend, head alone, word classifier alone) scored on the same rows, from one pass
        of the word classifier; ``calibration`` is the blend's (the holding head's)."""
        words = self.classifier.outputs(texts)
        return (
            Scored.of(spec, mix(network, words, self.weight), truth, calibration),
            Scored.of(spec, network, truth, self.network_calibration),
            Scored.of(spec, words, truth, self.lexical_calibration),
        )

    def to_manifest(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "network_calibration": storage.listed(self.network_calibration),
            "lexical_calibration": storage.listed(self.lexical_calibration),
        }  # the vocabulary and L2 are the classifier's own files; the fit's report has more

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], classifier: LexicalClassifier) -> LexicalBlend:
        return cls(
            classifier,
            float(entry["weight"]),
            storage.array_of(entry.get("network_calibration")),
            storage.array_of(entry.get("lexical_calibration")),
        )


def save_blend(blend: LexicalBlend | None, folder: Path) -> None:
    """The blended word classifier's files in ``folder``, or none (a head saved again
    without one); the blend's manifest entry is :meth:`LexicalBlend.to_manifest`."""
    if blend is None:
        LexicalClassifier.remove(folder)
    else:
        blend.classifier.save(folder)


def blend_entry(blend: LexicalBlend | None) -> dict[str, Any] | None:
    """The manifest's ``lexical`` entry: the blend's weight and calibrations, or None."""
    return None if blend is None else blend.to_manifest()


def load_blend(entry: dict[str, Any] | None, folder: Path) -> LexicalBlend | None:
    """The blend a manifest's ``lexical`` entry names, its classifier read from ``folder``."""
    if entry is None:
        return None
    return LexicalBlend.from_manifest(entry, LexicalClassifier.load(folder))


def mix(network: np.ndarray, words: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * log_softmax(network) + weight * words`` (``words``: log-probabilities)."""
    return (1.0 - weight) * log_softmax(network, axis=1) + weight * words


def check_blendable(spec: TaskSpec) -> None:
    """Only class logits blend with the word classifier's class probabilities."""
    if spec.kind is not TaskKind.CLASSIFICATION:
        raise ValueError(
            f"a lexical blend is for classification heads; task {spec.name!r} is {spec.kind.value}"
        )


def fit_blend(
    spec: TaskSpec,
    train_texts: Sequence[str],
    y_train: np.ndarray,
    valid_texts: Sequence[str],
    y_valid: np.ndarray,
    network_valid: np.ndarray,
    network_calibration: np.ndarray | None,
    calibrated: bool,
    say: Say | None = None,
    settings: LexicalSettings | None = None,
) -> BlendFit:
    """Fit the word classifier on the training rows and choose its weight on validation.

    ``network_valid``: the head's raw outputs on the validation rows.  The report holds the
    validation score of every weight (0: the head alone, 1: the words alone) and L2 strength
    tried.  The validation texts are read once (see :meth:`LexicalClassifier.fit`).
    """
    check_blendable(spec)
    started = time.perf_counter()
    if say:
        say(f"lexical blend: fitting the word classifier on {len(train_texts)} rows ...")

    def validated(outputs: np.ndarray) -> tuple[float, dict[str, float], np.ndarray | None]:
        return score_outputs(spec, outputs, y_valid, None, calibrated)

    classifier, l2_scores, words_valid = LexicalClassifier.fit(
        train_texts,
        y_train,
        spec.n_outputs,
        valid_texts,
        lambda _model, outputs: validated(outputs)[0],
        settings,
    )
    tried: dict[str, float] = {}
    calibrations: dict[float, np.ndarray | None] = {}
    best: tuple[float, float, dict[str, float]] | None = None
    for weight in WEIGHTS:  # 0: the head alone; 1: the word classifier alone
        score, metrics, calibrations[weight] = validated(mix(network_valid, words_valid, weight))
        tried[f"{weight:g}"] = round(score, 5)
        if best is None or score > best[0] + 1e-9:
            best = (score, weight, metrics)
    assert best is not None
    score, weight, metrics = best
    blend = LexicalBlend(classifier, weight, network_calibration, calibrations[1.0])
    report = {
        "weight": weight,
        "weights_tried": tried,
        "l2": classifier.l2,
        "l2_tried": l2_scores,
        "terms": len(classifier.vocabulary),
        "validation": {k: round(v, 6) for k, v in metrics.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }
    if say:
        say(
            f"lexical blend: weight {weight:g} (validation {score:.4f}; head alone "
            f"{tried['0']:.4f}, words alone {tried['1']:.4f})"
        )
    blended = mix(network_valid, words_valid, weight)
    return BlendFit(blend, calibrations[weight], blended, report)
