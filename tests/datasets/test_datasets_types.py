"""The dataset containers: events from sequences, checks, filters."""

from __future__ import annotations

import pytest

from shoplm.datasets import (
    SYNTHETIC_TIME_BASE,
    RecDataset,
    SearchDataset,
    SearchQuery,
    TextLabelDataset,
)
from shoplm.schema import EventType, Item

ITEMS = [Item(item_id=i, title=f"thing {i}") for i in ("a", "b", "c")]


def test_events_keep_order_with_strictly_increasing_synthetic_times() -> None:
    data = RecDataset(name="x", items=ITEMS, sequences={"u1": ["c", "a", "b"], "u2": ["b"]})
    events = list(data.events(platform="shop2"))
    assert [(e.user_id, e.item_id) for e in events] == [
        ("u1", "c"),
        ("u1", "a"),
        ("u1", "b"),
        ("u2", "b"),
    ]
    u1_times = [e.timestamp for e in events if e.user_id == "u1"]
    assert u1_times == [SYNTHETIC_TIME_BASE, SYNTHETIC_TIME_BASE + 1, SYNTHETIC_TIME_BASE + 2]
    assert {e.type for e in events} == {EventType.PURCHASE}
    assert {e.platform for e in events} == {"shop2"}
    assert all(e.value is None for e in events)
    assert data.n_interactions() == 4


def test_events_use_real_times_and_values() -> None:
    data = RecDataset(
        name="x",
        items=ITEMS,
        sequences={"u": ["a", "b"]},
        timestamps={"u": [10.0, 20.0]},
        values={"u": [4.0, 2.0]},
        has_real_time=True,
        event_type=EventType.RATING,
    )
    events = list(data.events())
    assert [(e.timestamp, e.value, e.type) for e in events] == [
        (10.0, 4.0, EventType.RATING),
        (20.0, 2.0, EventType.RATING),
    ]


def test_timestamps_must_match_sequences() -> None:
    with pytest.raises(ValueError, match="timestamps of user 'u' do not match"):
        RecDataset(name="x", items=ITEMS, sequences={"u": ["a", "b"]}, timestamps={"u": [1.0]})


def test_unknown_protocol_is_rejected() -> None:
    with pytest.raises(ValueError, match="protocol must be one of"):
        RecDataset(name="x", items=ITEMS, sequences={}, protocol="random")


def test_search_filtered_by_judged_count() -> None:
    queries = [
        SearchQuery("0", "one", {"a": 1.0}),
        SearchQuery("1", "two", {"a": 1.0, "b": 3.0}),
    ]
    data = SearchDataset(name="s", items=ITEMS, queries=queries)
    assert [q.query_id for q in data.filtered(2).queries] == ["1"]
    assert data.filtered(1).queries == queries


def test_text_label_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="same length"):
        TextLabelDataset(name="t", texts=["a", "b"], ratings=[1.0], labels=[0])
