"""Training pairs never see held-out items; hard negatives never name known positives."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplm.datasets import RecDataset, SearchQuery
from shoplm.evaluation.recommend_eval import held_out_split
from shoplm.evaluation.search_eval import split_queries
from shoplm.finetune.data import TrainingData
from shoplm.finetune.negatives import add_hard_negatives
from shoplm.finetune.pairs import recommendation_data, search_data, share_of, store_sequences
from shoplm.schema import Event, Item
from shoplm.store import SQLiteStore

ITEMS = [Item(item_id=f"i{n}", title=f"product number {n} widget") for n in range(12)]
SEQUENCES = {
    "a": ["i0", "i1", "i2", "i3", "i4"],
    "b": ["i5", "i6", "i7", "i8"],
    "c": ["i9", "i10", "i11"],
    "d": ["i1", "i2"],
}


def _ids_in(data: TrainingData) -> set[str]:
    ids = set()
    for pair in data.pairs:
        ids |= {pair.positive, *pair.anchor.item_ids, *pair.negatives}
    return ids


def test_pairs_exclude_test_and_validation_items() -> None:
    dataset = RecDataset(name="tiny", items=ITEMS, sequences=SEQUENCES)
    train, _, targets, _ = held_out_split(dataset, "leave_one_out")
    data = recommendation_data(ITEMS, train, window=2)
    test_items = {user: next(iter(t)) for user, t in targets.items()}
    assert test_items == {"a": "i4", "b": "i8", "c": "i11"}
    # validation = newest training item of users with >= 3 training items
    assert {c.anchor.item_ids[-1]: next(iter(c.gains)) for c in data.valid} == {
        "i2": "i3",
        "i6": "i7",
    }
    used = _ids_in(data)
    assert not used & {"i4", "i8", "i11"}  # test items
    assert not used & {"i3", "i7"}  # validation items
    # user c (2 training items, no validation target) and d still give pairs
    positives = sorted(p.positive for p in data.pairs)
    assert positives == ["i1", "i10", "i2", "i2", "i6"]
    history = next(p for p in data.pairs if p.positive == "i2" and len(p.anchor.item_ids) == 2)
    assert history.anchor.item_ids == ["i0", "i1"]
    assert history.anchor.weights[1] == 1.0 > history.anchor.weights[0]
    assert set(history.exclude) == {"i0", "i1", "i2"}


def test_held_out_pairs_end_in_each_validation_item() -> None:
    dataset = RecDataset(name="tiny", items=ITEMS, sequences=SEQUENCES)
    train, _, _, _ = held_out_split(dataset, "leave_one_out")
    data = recommendation_data(ITEMS, train, window=2)
    held = {p.positive: p for p in data.held_out}
    assert sorted(held) == ["i3", "i7"]  # exactly the validation items, one pair each
    assert held["i3"].anchor.item_ids == ["i1", "i2"]
    assert held["i3"].anchor.weights == data.valid[0].anchor.weights[-2:]
    assert set(held["i3"].exclude) == {"i0", "i1", "i2", "i3"}
    assert not {p.positive for p in data.pairs} & set(held)
    # a refit's extra data does not rename the run: a finished run resumes to refit
    without = recommendation_data(ITEMS, train, window=2)
    without.held_out = []
    assert without.data_hash() == data.data_hash()
    assert without.held_out_hash() != data.held_out_hash()


def test_held_out_pairs_are_drawn_at_the_rate_of_the_pairs() -> None:
    assert share_of(6, 12, 6) == 3
    assert share_of(None, 12, 6) is None and share_of(12, 12, 6) is None
    sequences = {f"u{n}": [f"i{(n + k) % 12}" for k in range(5)] for n in range(8)}
    data = recommendation_data(ITEMS, sequences, max_pairs=12, max_valid=None)
    assert len(data.pairs) == 12 and len(data.held_out) == 4  # 24 and 8 built, both halved


def test_unknown_item_is_named() -> None:
    with pytest.raises(ValueError, match="'zz'"):
        recommendation_data(ITEMS, {"a": ["i0", "zz"]})


def test_search_pairs_come_from_training_half_only() -> None:
    queries = [
        SearchQuery(query_id=str(n), text=f"widget {n}", judgments={f"i{n}": 3.0, "i11": 1.0})
        for n in range(10)
    ]
    train, held_out = split_queries(queries, 0.5, 42)
    data = search_data(ITEMS, train, valid_fraction=0.2, valid_corpus_size=4)
    held_texts = {q.text for q in held_out}
    anchors = {p.anchor.text for p in data.pairs} | {c.anchor.text for c in data.valid}
    assert anchors <= {q.text for q in train}
    assert not anchors & held_texts
    assert len(data.valid) == 1 and len(data.pairs) == 4  # 5 train queries, 1 validates
    assert all(p.positive != "i11" for p in data.pairs)  # relevance 1 is no positive
    assert set(data.valid[0].gains) <= set(data.valid_corpus)
    assert len(data.valid_corpus) == 4
    (held,) = data.held_out  # the validation query's judged item, kept for a refit
    assert held.anchor.text == data.valid[0].anchor.text and held.positive in data.valid[0].gains


def test_hard_negatives_skip_known_positives() -> None:
    data = recommendation_data(ITEMS, SEQUENCES, window=1)
    report = add_hard_negatives(data, "bm25", per_pair=2, depth=8, skip=0)
    assert report["pairs_with_negatives"] == len(data.pairs)
    for pair in data.pairs:
        assert len(pair.negatives) == 2
        assert not set(pair.negatives) & {pair.positive, *pair.exclude, *pair.anchor.item_ids}
    with pytest.raises(ValueError, match="encode function"):
        add_hard_negatives(data, "vector")


def test_held_out_pairs_get_negatives_without_changing_the_pairs() -> None:
    data = recommendation_data(ITEMS, SEQUENCES, window=1)
    alone = recommendation_data(ITEMS, SEQUENCES, window=1)
    alone.held_out = []
    report = add_hard_negatives(data, "bm25", per_pair=2, depth=8, skip=0)
    add_hard_negatives(alone, "bm25", per_pair=2, depth=8, skip=0)
    assert [p.negatives for p in data.pairs] == [p.negatives for p in alone.pairs]
    assert report["held_out_pairs_with_negatives"] == len(data.held_out) == 3
    for pair in data.held_out:
        assert len(pair.negatives) == 2
        assert not set(pair.negatives) & {pair.positive, *pair.exclude, *pair.anchor.item_ids}


def test_training_data_round_trip(tmp_path: Path) -> None:
    data = recommendation_data(ITEMS, SEQUENCES)
    add_hard_negatives(data, "bm25")
    data.save(tmp_path / "data.json.gz")
    again = TrainingData.load(tmp_path / "data.json.gz")
    assert again == data
    assert again.data_hash() == data.data_hash()
    assert again.held_out == data.held_out != []
    again.pairs.pop()
    assert again.data_hash() != data.data_hash()
    older = data.to_dict()
    del older["held_out"]  # written before held-out pairs were kept
    assert TrainingData.from_dict(older).held_out == []


def test_store_sequences_follow_event_time(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.upsert_items(ITEMS[:4])
    store.append_events(
        [
            Event(user_id="u", item_id="i2", timestamp=3.0),
            Event(user_id="u", item_id="i0", timestamp=1.0),
            Event(user_id="u", item_id="i0", timestamp=4.0),  # a repeat keeps its first place
            Event(user_id="u", item_id="gone", timestamp=2.0),  # not in the catalog
            Event(user_id="v", item_id="i1", timestamp=1.0),
        ]
    )
    assert store_sequences(store, "default") == {"u": ["i0", "i2"], "v": ["i1"]}
    store.close()
