"""A head blended with the word classifier: the mix, the weight chosen on validation, and a
blended TaskHead trained, scored, saved and loaded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.special import log_softmax

from shoplm.heads import Examples, HeadConfig, TaskHead, TaskKind, TaskSpec
from shoplm.heads.blend import WEIGHTS, check_blendable, fit_blend, mix
from shoplm.heads.lexical import MANIFEST as LEXICAL_MANIFEST
from shoplm.heads.lexical import LexicalClassifier
from shoplm.heads.spec import encode_targets

SPEC = TaskSpec("sentiment", TaskKind.CLASSIFICATION, ("negative", "neutral", "positive"))
WORD = {0: "awful", 1: "okay", 2: "lovely"}


def _texts(n: int, offset: int) -> tuple[list[str], np.ndarray]:
    """Texts whose one sentiment word gives the label away (the word classifier's home)."""
    labels = np.array([(i + offset) % 3 for i in range(n)])
    fillers = ("dress", "fit", "colour", "size")
    return [
        f"{fillers[i % 4]} {WORD[int(y)]} {fillers[(i + 1) % 4]}" for i, y in enumerate(labels)
    ], labels


def test_mix_runs_from_the_head_alone_to_the_words_alone() -> None:
    network = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    words = log_softmax(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), axis=1)
    assert np.allclose(mix(network, words, 0.0), log_softmax(network, axis=1))
    assert np.allclose(mix(network, words, 1.0), words)
    halfway = 0.5 * log_softmax(network, axis=1) + 0.5 * words
    assert np.allclose(mix(network, words, 0.5), halfway)
    assert WEIGHTS[0] == 0.0 and WEIGHTS[-1] == 1.0 and len(WEIGHTS) == 11


def test_words_that_know_better_take_the_weight() -> None:
    train_texts, y_train = _texts(60, 0)
    valid_texts, y_valid = _texts(30, 1)
    noise = np.random.default_rng(0).normal(size=(30, 3))  # a head that learnt nothing
    fitted = fit_blend(SPEC, train_texts, y_train, valid_texts, y_valid, noise, None, True)
    blend, calibration, report = fitted.blend, fitted.calibration, fitted.report
    assert blend.weight > 0.0 and report["weight"] == blend.weight
    tried = report["weights_tried"]
    # the smallest weight that validates best: every lighter one scored lower
    assert all(tried[f"{w:g}"] < tried[f"{blend.weight:g}"] for w in WEIGHTS if w < blend.weight)
    assert set(report["weights_tried"]) == {f"{w:g}" for w in WEIGHTS}
    assert tried["1"] == 1.0  # the words alone get every row right
    assert tried[f"{blend.weight:g}"] == max(tried.values())
    assert report["validation"]["macro_f1"] == 1.0 and calibration is not None
    assert report["terms"] == len(blend.classifier.vocabulary) and set(report["l2_tried"])
    # the blend's outputs on validation are what the weight was chosen on
    combined = blend.combine(noise, valid_texts)
    assert np.allclose(combined, mix(noise, blend.classifier.outputs(valid_texts), blend.weight))
    assert np.allclose(fitted.validation_outputs, combined)


def test_a_head_that_is_already_right_keeps_the_words_out() -> None:
    train_texts, y_train = _texts(60, 0)
    valid_texts, y_valid = _texts(30, 1)
    perfect = np.eye(3)[y_valid] * 5.0
    fitted = fit_blend(SPEC, train_texts, y_train, valid_texts, y_valid, perfect, None, True)
    blend, report = fitted.blend, fitted.report
    assert blend.weight == 0.0  # every weight scores 1.0 here: ties go to the head alone
    assert report["weights_tried"]["0"] == 1.0


def test_only_classification_heads_blend() -> None:
    check_blendable(SPEC)
    for kind in (TaskKind.BINARY, TaskKind.REGRESSION):
        labels = () if kind is TaskKind.REGRESSION else ("no", "yes")
        with pytest.raises(ValueError, match="lexical blend is for classification"):
            check_blendable(TaskSpec("x", kind, labels))
    with pytest.raises(ValueError, match="refitted head"):
        HeadConfig(refit=True, lexical=True)


def test_a_blended_head_trains_predicts_saves_and_loads(
    tiny_lora: HeadConfig, toy_train: Examples, toy_valid: Examples, tmp_path: Path
) -> None:
    spec = TaskSpec("sentiment", TaskKind.CLASSIFICATION, ("negative", "neutral", "positive"))
    head = TaskHead.train(spec, toy_train, toy_valid, replace(tiny_lora, lexical=True))
    assert head.lexical is not None
    report = head.info["lexical"]
    assert report["weight"] == head.lexical.weight and len(report["weights_tried"]) == 11
    texts = toy_valid.texts
    network = head.network_outputs(texts)
    blended = head.outputs(texts)
    assert np.allclose(blended, head.lexical.combine(network, texts))
    # validation outputs, which an ensemble averages, are the blend's
    assert head.validation_outputs is not None
    assert np.allclose(head.validation_outputs, blended, atol=1e-5)
    truth = encode_targets(spec, toy_valid.targets)
    scored, alone, words = head.lexical.parts_scored(spec, network, texts, truth, head.calibration)
    assert scored.metrics == head.scored(blended, truth).metrics
    assert alone.calibration is head.lexical.network_calibration
    assert words.metrics["macro_f1"] == pytest.approx(report["weights_tried"]["1"], abs=1e-5)

    head.save(tmp_path / "head")
    loaded = TaskHead.load(tmp_path / "head")
    assert loaded.lexical is not None and loaded.lexical.weight == head.lexical.weight
    assert np.allclose(loaded.predict_proba(texts), head.predict_proba(texts), atol=1e-5)
    assert loaded.predict(texts) == head.predict(texts)

    head.lexical = None  # saved again without the words: their files go
    head.save(tmp_path / "head")
    assert not (tmp_path / "head" / LEXICAL_MANIFEST).exists()
    assert TaskHead.load(tmp_path / "head").lexical is None
    assert not LexicalClassifier.saved_in(tmp_path / "head")


def test_a_head_of_another_kind_is_refused_before_training(
    tiny_lora: HeadConfig, toy_train: Examples, toy_valid: Examples
) -> None:
    spec = TaskSpec("stars", TaskKind.REGRESSION)
    numbers = Examples(toy_train.texts, [float(i % 5) for i in range(len(toy_train))])
    valid = Examples(toy_valid.texts, [1.0] * len(toy_valid))
    with pytest.raises(ValueError, match="lexical blend is for classification"):
        TaskHead.train(spec, numbers, valid, replace(tiny_lora, lexical=True))
