"""Pairs are kept by where the base encoder ranks their positive, counted exactly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from shoplm.finetune import filtering
from shoplm.finetune.data import Anchor, TrainingData, TrainingPair
from shoplm.finetune.filtering import keep_within_rank, positive_ranks

# Item texts are their own vectors: "a" and "b" are orthogonal directions.
CORPUS = {"x1": "1 0", "x2": "0.9 0.1", "x3": "0.5 0.5", "x4": "0.1 0.9", "x5": "0 1"}


def encode(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors read from the text: deterministic, so ranks can be checked by hand."""
    rows = np.array([[float(v) for v in t.split()] for t in texts], dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _data(pairs: list[TrainingPair]) -> TrainingData:
    return TrainingData(
        kind="recommend", corpus=dict(CORPUS), pairs=pairs, valid=[], valid_corpus=[]
    )


def _history(*item_ids: str) -> Anchor:
    return Anchor(item_ids=list(item_ids), weights=[1.0] * len(item_ids))


def test_ranks_skip_the_anchor_and_excluded_items() -> None:
    pairs = [
        # From x1 the order is x1, x2, x3, x4, x5; x1 is the anchor and not ranked.
        TrainingPair(anchor=_history("x1"), positive="x2"),
        TrainingPair(anchor=_history("x1"), positive="x5"),
        # x2 and x3 excluded: x5 comes right after x4.
        TrainingPair(anchor=_history("x1"), positive="x5", exclude=["x2", "x3"]),
        # A query text anchor along "b".
        TrainingPair(anchor=Anchor(text="0 1"), positive="x3"),
    ]
    assert positive_ranks(_data(pairs), encode).tolist() == [1, 4, 2, 3]


def test_ranks_do_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [
        TrainingPair(anchor=_history(a), positive=p, exclude=[e])
        # x5 from x1 behind x3, x4; x1 from x5 behind x3, x2; x4 from x2 behind x3
        for a, p, e in [("x1", "x5", "x2"), ("x5", "x1", "x4"), ("x2", "x4", "x1")]
    ]
    whole = positive_ranks(_data(pairs), encode).tolist()
    monkeypatch.setattr(filtering, "CHUNK", 2)  # chunk boundaries inside the pairs
    assert positive_ranks(_data(pairs), encode).tolist() == whole == [3, 3, 2]


def test_keep_within_rank_drops_far_positives_and_reports() -> None:
    pairs = [
        TrainingPair(anchor=_history("x1"), positive="x2"),
        TrainingPair(anchor=_history("x1"), positive="x5"),
        TrainingPair(anchor=_history("x5"), positive="x4"),
    ]
    data = _data(pairs)
    report = keep_within_rank(data, encode, max_rank=2)
    assert [p.positive for p in data.pairs] == ["x2", "x4"]
    assert report == {
        "max_rank": 2,
        "pairs_before": 3,
        "pairs_within_rank": 2,
        "pairs_kept": 2,
        "median_rank_before": 1.0,
    }
    assert data.notes["max_positive_rank"] == 2
    again = _data(list(pairs))
    report = keep_within_rank(again, encode, max_rank=2, max_pairs=1, seed=3)
    assert report["pairs_within_rank"] == 2 and report["pairs_kept"] == 1
    assert again.pairs[0].positive in {"x2", "x4"}  # drawn from the kept ones only
    with pytest.raises(ValueError, match="max_rank"):
        keep_within_rank(data, encode, max_rank=0)


def test_held_out_pairs_are_filtered_alike_and_keep_the_pairs_ranks() -> None:
    pairs = [
        TrainingPair(anchor=_history("x1"), positive="x2"),
        TrainingPair(anchor=_history("x1"), positive="x5"),
    ]
    held_out = [
        TrainingPair(anchor=_history("x5"), positive="x4"),  # rank 1: kept
        TrainingPair(anchor=_history("x5"), positive="x1"),  # rank 4: dropped
    ]
    data = _data(list(pairs))
    data.held_out = list(held_out)
    report = keep_within_rank(data, encode, max_rank=2)
    assert [p.positive for p in data.pairs] == ["x2"]
    assert [p.positive for p in data.held_out] == ["x4"]
    assert report == keep_within_rank(_data(list(pairs)), encode, max_rank=2)
    assert positive_ranks(data, encode, held_out).tolist() == [1, 4]


def test_no_pairs_no_work() -> None:
    assert positive_ranks(_data([]), encode).tolist() == []
