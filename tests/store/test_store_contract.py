"""The Store contract, run on every backend: idempotent upserts, deduplicated events,
all-or-nothing transactions, time-ordered event columns.

The `store` fixture (tests/store/conftest.py) opens each test on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.schema import Event, EventType, Item
from shoplm.store import AppendResult, SearchClick, Store, UpsertResult


def _items(*ids: str, platform: str = "default", **fields: object) -> list[Item]:
    return [Item(item_id=i, title=f"title {i}", platform=platform, **fields) for i in ids]


def _view(user: str, item: str, t: float, **fields: object) -> Event:
    return Event(user_id=user, item_id=item, type="view", timestamp=t, **fields)


# -- items --------------------------------------------------------------------------------
def test_upsert_is_idempotent_and_counts(store: Store) -> None:
    assert store.upsert_items(_items("a", "b", "c")) == UpsertResult(3, 0, 0)
    assert store.upsert_items(_items("a", "b", "c")) == UpsertResult(0, 0, 3)
    changed = [Item(item_id="b", title="new title"), *_items("c", "d")]
    assert store.upsert_items(changed) == UpsertResult(inserted=1, updated=1, unchanged=1)
    assert store.count_items() == 4
    stored = store.get_item("default", "b")
    assert stored is not None and stored.title == "new title"


def test_update_keeps_created_at_and_catalog_order(store: Store) -> None:
    store.upsert_items(_items("a", "b", "c"))
    created = store.get_item("default", "a").created_at
    store.upsert_items([Item(item_id="a", title="renamed")])
    assert store.item_ids("default") == ["a", "b", "c"]
    assert [item.item_id for item in store.iter_items("default")] == ["a", "b", "c"]
    assert store.get_item("default", "a").created_at == created


def test_unchanged_upsert_keeps_updated_at(store: Store) -> None:
    store.upsert_items([Item(item_id="a", title="t", updated_at=10.0)])
    store.upsert_items([Item(item_id="a", title="t", updated_at=20.0)])  # same content
    assert store.get_item("default", "a").updated_at == 10.0


def test_item_round_trip_keeps_every_field(store: Store) -> None:
    item = Item(
        item_id="a",
        platform="shop",
        title="Trail shoe",
        description="Grippy",
        brand="Acme",
        category=["Shoes", "Trail"],
        price=59.9,
        attributes={"size": "42"},
        created_at=1.0,
        updated_at=2.0,
    )
    store.upsert_items([item])
    assert store.get_item("shop", "a") == item
    assert store.get_item("default", "a") is None
    assert store.get_item("shop", "missing") is None


def test_get_items_and_platforms(store: Store) -> None:
    store.upsert_items(_items("a", "b") + _items("a", "z", platform="shop2"))
    found = store.get_items("default", ["b", "missing", "a", "b"])
    assert set(found) == {"a", "b"} and found["a"].platform == "default"
    assert store.get_items("default", []) == {}
    assert store.platforms() == ["default", "shop2"]
    assert store.count_items("shop2") == 2 and store.count_items() == 4
    assert store.item_ids("shop2") == ["a", "z"]
    assert [i.platform for i in store.iter_items()] == ["default", "default", "shop2", "shop2"]


def test_get_items_many_ids(store: Store) -> None:
    ids = [f"i{n}" for n in range(1200)]  # more than one IN (...) chunk
    store.upsert_items(_items(*ids))
    assert len(store.get_items("default", ids)) == 1200


def test_delete_items(store: Store) -> None:
    store.upsert_items(_items("a", "b", "c") + _items("a", platform="shop2"))
    assert store.delete_items("default", ["a", "c", "missing"]) == 2
    assert store.item_ids("default") == ["b"]
    assert store.item_ids("shop2") == ["a"]  # other platforms untouched
    assert store.delete_items("default", []) == 0


# -- events -------------------------------------------------------------------------------
def test_events_are_deduplicated(store: Store) -> None:
    events = [_view("u", "a", 1.0), _view("u", "b", 2.0)]
    assert store.append_events(events) == AppendResult(added=2, duplicates=0)
    assert store.append_events(events) == AppendResult(added=0, duplicates=2)
    # Duplicates inside one batch, and by event_id despite another timestamp.
    batch = [
        _view("u", "c", 3.0),
        _view("u", "c", 3.0),
        _view("v", "a", 1.0, event_id="e1"),
        _view("v", "a", 9.0, event_id="e1"),
    ]
    assert store.append_events(batch) == AppendResult(added=2, duplicates=2)
    assert store.count_events() == 4
    assert store.append_events([]) == AppendResult(0, 0)


def test_event_columns_in_time_order(store: Store) -> None:
    store.append_events(
        [
            _view("u2", "b", 30.0),
            Event(user_id="u1", item_id="a", type="purchase", timestamp=10.0, value=2.0),
            Event(user_id="u1", type="search", query="shoes", timestamp=20.0, session_id="s"),
            _view("u1", "c", 20.0),  # same time as the search: arrival order breaks the tie
            _view("x", "a", 5.0, platform="shop2"),
        ]
    )
    cols = store.event_columns("default")
    assert len(cols) == 4
    assert list(cols.user_ids) == ["u1", "u1", "u1", "u2"]
    assert list(cols.item_ids) == ["a", "", "c", "b"]
    assert list(cols.types) == ["purchase", "search", "view", "view"]
    assert list(cols.timestamps) == [10.0, 20.0, 20.0, 30.0]
    assert cols.values[0] == 2.0 and np.isnan(cols.values[1:]).all()
    assert list(cols.session_ids) == ["", "s", "", ""]
    assert cols.timestamps.dtype == np.float64 and cols.values.dtype == np.float64
    assert cols.queries is not None and list(cols.queries != "") == [False, True, False, False]
    outside = cols.without_search()
    assert list(outside.types) == ["purchase", "view", "view"] and not (outside.queries != "").any()


def test_event_columns_of_empty_platform(store: Store) -> None:
    cols = store.event_columns("nowhere")
    assert len(cols) == 0 and len(cols.without_search()) == 0
    assert len(cols.timestamps) == 0 and len(cols.session_ids) == 0


def test_user_events_latest_first_limited_oldest_first(store: Store) -> None:
    store.append_events([_view("u", f"i{t}", float(t)) for t in (5, 1, 3, 4, 2)])
    store.append_events([_view("other", "x", 9.0), _view("u", "y", 9.0, platform="shop2")])
    events = store.user_events("default", "u")
    assert [e.item_id for e in events] == ["i1", "i2", "i3", "i4", "i5"]
    latest = store.user_events("default", "u", limit=2)
    assert [e.item_id for e in latest] == ["i4", "i5"]
    assert store.user_events("default", "nobody") == []


def test_user_events_rebuild_valid_events(store: Store) -> None:
    original = [
        Event(user_id="u", type="search", query="red shoes", timestamp=1.0, session_id="s1"),
        Event(user_id="u", item_id="a", type="rating", value=4.0, timestamp=2.0),
    ]
    store.append_events(original)
    events = store.user_events("default", "u")
    assert events == original
    assert events[0].type is EventType.SEARCH and events[0].item_id is None


def test_search_clicks_are_the_events_with_a_query_and_an_item(store: Store) -> None:
    store.append_events(
        [
            Event(user_id="u1", type="search", query="red shoe", timestamp=1.0),
            Event(user_id="u1", item_id="b", type="purchase", query="red shoe", timestamp=4.0),
            Event(user_id="u1", item_id="a", type="click", query="red shoe", timestamp=2.0),
            _view("u2", "a", 3.0),  # no query: not a search click
            Event(user_id="u3", item_id="a", platform="other", query="shoe", timestamp=5.0),
        ]
    )
    assert store.event_columns("default").search_clicks() == [
        SearchClick("red shoe", "a", "click"),
        SearchClick("red shoe", "b", "purchase"),
    ]
    assert store.event_columns("other").search_clicks() == [SearchClick("shoe", "a", "view")]
    assert store.event_columns("nowhere").search_clicks() == []


def test_counts_per_platform(store: Store) -> None:
    store.append_events([_view("u", "a", 1.0), _view("u", "a", 1.0, platform="shop2")])
    assert store.count_events("default") == 1
    assert store.count_events("shop2") == 1
    assert store.count_events() == 2
    assert store.platforms() == ["default", "shop2"]


# -- transactions ---------------------------------------------------------------------------
def test_transaction_rolls_back_on_exception(store: Store) -> None:
    store.upsert_items(_items("kept"))
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.upsert_items(_items("a", "b", platform="new"))
        store.append_events([_view("u", "a", 1.0, platform="new")])
        raise RuntimeError("boom")
    assert store.item_ids("default") == ["kept"]
    assert store.count_items() == 1 and store.count_events() == 0
    assert store.platforms() == ["default"]
    # The store is usable afterwards.
    assert store.upsert_items(_items("a")).inserted == 1


def test_nested_transaction_failure_rolls_back_everything(store: Store) -> None:
    with pytest.raises(ValueError, match="inner"), store.transaction():
        store.upsert_items(_items("outer"))
        with store.transaction():
            store.upsert_items(_items("inner"))
            raise ValueError("inner")
    assert store.count_items() == 0


def test_nested_transaction_commits_with_the_outer_one(store: Store) -> None:
    with store.transaction():
        store.upsert_items(_items("a"))
        with store.transaction():
            store.append_events([_view("u", "a", 1.0)])
    assert store.count_items() == 1 and store.count_events() == 1


def test_caught_inner_failure_undoes_only_the_inner_block(store: Store) -> None:
    with store.transaction():
        store.upsert_items(_items("a"))
        with pytest.raises(KeyError), store.transaction():
            store.upsert_items(_items("b"))
            raise KeyError("inner")
        store.upsert_items(_items("c"))
    assert store.item_ids("default") == ["a", "c"]


def test_outer_failure_undoes_a_finished_inner_block(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.upsert_items(_items("a"))
        raise RuntimeError("outer")
    assert store.count_items() == 0


# -- beyond the tiny cases ------------------------------------------------------------------
def test_empty_batches_change_nothing(store: Store) -> None:
    assert store.upsert_items([]) == UpsertResult(0, 0, 0)
    assert store.delete_items("default", []) == 0
    assert store.platforms() == [] and store.count_items() == 0


def test_repeats_inside_one_upsert_batch(store: Store) -> None:
    batch = [Item(item_id="a", title="one"), Item(item_id="a", title="one")]
    assert store.upsert_items(batch) == UpsertResult(inserted=1, updated=0, unchanged=1)
    batch = [Item(item_id="a", title="two"), Item(item_id="a", title="three")]
    assert store.upsert_items(batch) == UpsertResult(inserted=0, updated=2, unchanged=0)
    assert store.get_item("default", "a").title == "three"


def test_iter_items_streams_many_items_in_catalog_order(store: Store) -> None:
    ids = [f"i{n:05d}" for n in range(4500)]  # more than one page of a paged backend
    store.upsert_items(_items(*reversed(ids)) + _items("x", "y", platform="shop2"))
    streamed = [(i.platform, i.item_id) for i in store.iter_items()]
    assert streamed == [("default", i) for i in reversed(ids)] + [("shop2", "x"), ("shop2", "y")]
    assert [i.item_id for i in store.iter_items("default")] == list(reversed(ids))
    assert store.item_ids("default") == list(reversed(ids))


def test_text_sorts_by_code_point(store: Store) -> None:
    names = ["b", "B", "a", "Z", "é", "_"]
    store.upsert_items([Item(item_id="i", title="t", platform=name) for name in names])
    assert store.platforms() == sorted(names)  # Python sorts str by code point, as SQLite does
    store.upsert_items([Item(item_id="Ünïcode ✓", title="Grüße, 世界")])
    assert store.get_item("default", "Ünïcode ✓").title == "Grüße, 世界"


def test_large_event_batch_counts_and_order(store: Store) -> None:
    events = [_view(f"u{n % 50}", f"i{n % 300}", float(n // 10)) for n in range(6000)]
    repeats = events[::3]  # already in the batch once: dropped as duplicates
    assert store.append_events(events + repeats) == AppendResult(6000, len(repeats))
    cols = store.event_columns("default")
    assert len(cols) == 6000
    # Ten events share each timestamp: arrival order breaks the ties.
    assert list(cols.user_ids[:10]) == [f"u{n}" for n in range(10)]
    assert np.all(np.diff(cols.timestamps) >= 0)
    assert store.append_events(events[:100]) == AppendResult(0, 100)
