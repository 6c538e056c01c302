"""Task specs and target checking: bad input fails naming the row."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.heads import Examples, HeadDataError, TaskKind, TaskSpec
from shoplm.heads.spec import encode_targets

SENTIMENT = TaskSpec("sentiment", TaskKind.CLASSIFICATION, ("negative", "neutral", "positive"))


def test_classification_targets_become_class_indexes() -> None:
    y = encode_targets(SENTIMENT, ["positive", "negative", "neutral"])
    assert y.tolist() == [2, 0, 1] and y.dtype == np.int64


def test_unknown_label_names_its_row_and_the_allowed_labels() -> None:
    with pytest.raises(HeadDataError, match=r"row 2: label 'postive' is not one of .*'neutral'"):
        encode_targets(SENTIMENT, ["positive", "negative", "postive"])
    with pytest.raises(HeadDataError, match="row 0: label 2 "):
        encode_targets(SENTIMENT, [2])


def test_binary_targets_take_numbers_bools_or_label_names() -> None:
    spec = TaskSpec("click", "binary", ("skip", "click"))
    assert encode_targets(spec, [0, 1, True, "click", "skip", 1.0]).tolist() == [
        0.0,
        1.0,
        1.0,
        1.0,
        0.0,
        1.0,
    ]
    with pytest.raises(HeadDataError, match="row 1: target 2 of binary task 'click'"):
        encode_targets(spec, [1, 2])
    assert TaskSpec("b", "binary").labels == ("negative", "positive")


def test_regression_targets_must_be_finite_numbers() -> None:
    spec = TaskSpec("rating", "regression")
    assert encode_targets(spec, [1, 4.5]).tolist() == [1.0, 4.5]
    with pytest.raises(HeadDataError, match="row 1: target 'five'"):
        encode_targets(spec, [3, "five"])
    with pytest.raises(HeadDataError, match="row 0: target of regression task 'rating' is nan"):
        encode_targets(spec, [float("nan")])
    with pytest.raises(HeadDataError, match="row 0"):
        encode_targets(spec, [True])


def test_specs_reject_inconsistent_labels() -> None:
    with pytest.raises(ValueError, match="at least two labels"):
        TaskSpec("c", "classification", ("only",))
    with pytest.raises(ValueError, match="labels repeat"):
        TaskSpec("c", "classification", ("a", "a"))
    with pytest.raises(ValueError, match="takes no labels"):
        TaskSpec("r", "regression", ("a", "b"))
    assert TaskSpec.from_dict(SENTIMENT.to_dict()) == SENTIMENT


STARS = ("1", "2", "3", "4", "5")
GROUPED = TaskSpec("sentiment", "classification", STARS, ("neg", "neg", "neu", "pos", "pos"))


def test_grouped_labels_report_their_groups_in_first_seen_order() -> None:
    assert GROUPED.n_outputs == 5 and GROUPED.reported_labels == ("neg", "neu", "pos")
    np.testing.assert_array_equal(GROUPED.group_rows(), [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(SENTIMENT.group_rows(), [0, 1, 2])
    assert SENTIMENT.reported_labels == SENTIMENT.labels
    assert TaskSpec.from_dict(GROUPED.to_dict()) == GROUPED
    assert "groups" not in SENTIMENT.to_dict()  # manifests of ungrouped heads are unchanged
    with pytest.raises(ValueError, match="one group per label"):
        TaskSpec("s", "classification", STARS, ("neg", "pos"))
    with pytest.raises(ValueError, match="at least two classes"):
        TaskSpec("s", "classification", ("1", "2"), ("all", "all"))
    with pytest.raises(ValueError, match="only classification"):
        TaskSpec("b", "binary", ("no", "yes"), ("no", "yes"))


def test_ordinal_labels_are_positions_on_a_scale() -> None:
    spec = TaskSpec("sentiment", "ordinal", STARS, ("neg", "neg", "neu", "pos", "pos"))
    assert spec.n_outputs == 1 and spec.reported_labels == ("neg", "neu", "pos")
    y = encode_targets(spec, ["5", "1", "3"])
    assert y.tolist() == [4, 0, 2] and y.dtype == np.int64
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(HeadDataError, match=r"row 1: label '6' is not one of"):
        encode_targets(spec, ["5", "6"])
    with pytest.raises(ValueError, match="ordinal task 'o' needs at least two labels"):
        TaskSpec("o", "ordinal", ("only",))
    # a group split around another cannot be cut off the scale
    with pytest.raises(ValueError, match="one run of neighbouring labels"):
        TaskSpec("o", "ordinal", STARS, ("low", "high", "low", "high", "high"))
    assert spec.has_classes and not TaskSpec("r", "regression").has_classes


def test_examples_check_texts_and_lengths() -> None:
    with pytest.raises(HeadDataError, match="row 1: text must be a string, got int"):
        Examples(["fine", 3], ["a", "b"])  # type: ignore[list-item]
    with pytest.raises(HeadDataError, match="2 texts but 1 targets"):
        Examples(["a", "b"], ["x"])
    assert Examples(["a", "b", "c"], [1, 2, 3]).subset([2, 0]).targets == [3, 1]
