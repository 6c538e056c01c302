"""The word-level classifier: its terms, vocabulary, fit, choice of L2, and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shoplm.heads.lexical import (
    MANIFEST,
    TENSORS,
    LexicalClassifier,
    LexicalSettings,
    _vocabulary,
    terms,
)
from shoplm.heads.storage import HeadFormatError

# "not" appears on both sides and "bad" / "good" lean one way only on their own, so only the
# word pair tells "not bad" from "bad"
TRAIN = [
    ("the fit is good", 1),
    ("good colour", 1),
    ("good buy", 1),
    ("not bad at all", 1),
    ("really not bad", 1),
    ("fabric is bad", 0),
    ("bad seams", 0),
    ("bad buy", 0),
    ("not good at all", 0),
    ("really not good", 0),
] * 3
LABELS = np.array([label for _, label in TRAIN])
TEXTS = [text for text, _ in TRAIN]


def _fit(
    choose=lambda model, outputs: 0.0, settings: LexicalSettings | None = None
) -> LexicalClassifier:
    model, _, _ = LexicalClassifier.fit(TEXTS, LABELS, 2, TEXTS[:4], choose, settings)
    return model


def test_terms_are_search_tokens_and_their_neighbouring_pairs() -> None:
    assert terms("Runs small, NOT like the photos") == [
        "run", "small", "not", "like", "photo",
        "run small", "small not", "not like", "like photo",
    ]  # fmt: skip
    assert terms("") == []


def test_the_vocabulary_keeps_terms_of_enough_texts_most_common_first() -> None:
    documents = [["a", "b"], ["a", "c"], ["a", "b"], ["d"]]
    kept, idf = _vocabulary(documents, LexicalSettings(min_count=2))
    assert kept == ["a", "b"]  # c and d are in one text each
    assert idf[0] < idf[1]  # the term in more texts weighs less
    kept, _ = _vocabulary(documents, LexicalSettings(min_count=1, max_terms=2))
    assert kept == ["a", "b"]  # the two most common


def test_word_pairs_tell_not_bad_from_bad() -> None:
    model = _fit(settings=LexicalSettings(l2_grid=(1e-4,)))
    outputs = model.outputs(["so not bad", "so bad", "not good", "good"])
    assert outputs.shape == (4, 2)
    assert np.allclose(np.exp(outputs).sum(axis=1), 1.0)  # log-probabilities
    assert outputs.argmax(axis=1).tolist() == [1, 0, 0, 1]


def test_the_l2_strength_is_the_one_validation_rates_best() -> None:
    grid = (1e-5, 1e-3, 1e-1)
    smallest, scores, outputs = LexicalClassifier.fit(
        TEXTS, LABELS, 2, TEXTS[:4], lambda model, _: -model.l2, LexicalSettings(l2_grid=grid)
    )
    assert smallest.l2 == 1e-5 and list(scores) == ["1e-05", "0.001", "0.1"]
    assert np.allclose(outputs, smallest.outputs(TEXTS[:4]))  # the kept one's, on validation
    largest = _fit(lambda model, _: model.l2, LexicalSettings(l2_grid=grid))
    assert largest.l2 == 0.1
    # a stronger penalty gives smaller weights
    assert np.abs(largest.weight).sum() < np.abs(smallest.weight).sum()


def test_fitting_repeats_exactly_and_unknown_words_give_the_prior() -> None:
    first, second = _fit(), _fit()
    assert first.vocabulary == second.vocabulary
    assert np.array_equal(first.weight, second.weight) and np.array_equal(first.bias, second.bias)
    unknown = first.outputs(["zzz qqq", ""])
    assert np.allclose(unknown[0], unknown[1])  # no known term: the bias alone


def test_bad_training_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one label per text"):
        LexicalClassifier.fit(TEXTS, LABELS[:-1], 2, TEXTS, lambda model, outputs: 0.0)
    with pytest.raises(ValueError, match="positive strengths"):
        LexicalSettings(l2_grid=(0.0,))


def test_a_classifier_saves_and_loads_without_pickle(tmp_path: Path) -> None:
    model = _fit()
    model.save(tmp_path)
    assert LexicalClassifier.saved_in(tmp_path)
    assert json.loads((tmp_path / MANIFEST).read_text())["vocabulary"] == model.vocabulary
    loaded = LexicalClassifier.load(tmp_path)
    texts = ["not bad", "bad fit", "unseen words"]
    assert np.allclose(loaded.outputs(texts), model.outputs(texts))
    assert loaded.l2 == model.l2
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["vocabulary"] = manifest["vocabulary"][:-1]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(HeadFormatError, match="does not fit"):
        LexicalClassifier.load(tmp_path)
    LexicalClassifier.remove(tmp_path)
    assert not (tmp_path / TENSORS).exists() and not LexicalClassifier.saved_in(tmp_path)
    with pytest.raises(HeadFormatError, match="not a lexical classifier"):
        LexicalClassifier.load(tmp_path)
