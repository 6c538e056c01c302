"""Interactions: event columns -> weighted user-item matrix and ordered histories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from shoplm.interactions import Interactions
from shoplm.schema import EVENT_WEIGHTS, Event, EventType
from shoplm.store import EventColumns, SQLiteStore


def _columns(rows: list[tuple[str, str, str, float]]) -> EventColumns:
    """(user, item, type, timestamp) rows, already in time order."""
    n = len(rows)
    return EventColumns(
        user_ids=np.array([r[0] for r in rows], dtype=object),
        item_ids=np.array([r[1] for r in rows], dtype=object),
        types=np.array([r[2] for r in rows], dtype=object),
        values=np.full(n, np.nan),
        timestamps=np.array([r[3] for r in rows], dtype=np.float64),
        session_ids=np.array([""] * n, dtype=object),
    )


EVENTS = [
    ("bob", "b", "view", 1.0),
    ("ann", "c", "view", 2.0),
    ("ann", "a", "purchase", 3.0),
    ("ann", "c", "add_to_cart", 4.0),
    ("bob", "gone", "view", 5.0),  # not in the catalog: dropped
    ("ann", "", "search", 6.0),  # search: weight 0, dropped
    ("bob", "a", "click", 7.0),
    ("cid", "zzz", "view", 8.0),  # only unknown items: cid is not a user at all
]
CATALOG = ["a", "b", "c", "d"]


@pytest.fixture()
def data() -> Interactions:
    return Interactions.from_events(_columns(EVENTS), CATALOG)


def test_ids_and_shape(data: Interactions) -> None:
    assert data.item_ids == CATALOG
    assert data.user_ids == ["ann", "bob"]
    assert data.n_users == 2 and data.n_items == 4
    assert data.item_index == {"a": 0, "b": 1, "c": 2, "d": 3}
    assert data.user_index == {"ann": 0, "bob": 1}
    assert isinstance(data.matrix, sp.csr_matrix)
    assert data.matrix.shape == (2, 4) and data.matrix.dtype == np.float32


def test_matrix_sums_event_weights(data: Interactions) -> None:
    dense = data.matrix.toarray()
    view = EVENT_WEIGHTS[EventType.VIEW]
    cart = EVENT_WEIGHTS[EventType.ADD_TO_CART]
    assert dense[0].tolist() == [EVENT_WEIGHTS[EventType.PURCHASE], 0.0, view + cart, 0.0]
    assert dense[1].tolist() == [EVENT_WEIGHTS[EventType.CLICK], view, 0.0, 0.0]
    assert data.matrix.nnz == 4  # duplicates summed, nothing stored for dropped events


def test_histories_in_time_order_with_repeats(data: Interactions) -> None:
    assert data.histories[0].tolist() == [2, 0, 2]  # ann: c, a, c
    assert data.histories[1].tolist() == [1, 0]  # bob: b, a ('gone' dropped)
    assert all(h.dtype == np.int64 for h in data.histories)


def test_last_timestamps_per_item(data: Interactions) -> None:
    last = data.last_timestamps
    assert last[:3].tolist() == [7.0, 1.0, 4.0]
    assert np.isnan(last[3])


def test_popularity_counts_distinct_users(data: Interactions) -> None:
    assert data.item_popularity().tolist() == [2.0, 1.0, 1.0, 0.0]
    assert data.item_popularity().dtype == np.float32


def test_custom_weights_drop_zero_weight_types() -> None:
    weights = {EventType.PURCHASE: 5.0, "view": 0.5}  # plain strings work as keys too
    data = Interactions.from_events(_columns(EVENTS), CATALOG, weights=weights)
    assert data.matrix.toarray()[0].tolist() == [5.0, 0.0, 0.5, 0.0]  # cart, click: weight 0
    assert data.histories[1].tolist() == [1]  # bob's click dropped


def test_history_rows_skip_unknown_items(data: Interactions) -> None:
    assert data.history_rows(["c", "nope", "a"]).tolist() == [2, 0]
    assert data.history_rows([]).dtype == np.int64


def test_no_usable_events() -> None:
    data = Interactions.from_events(_columns([("u", "x", "view", 1.0)]), CATALOG)
    assert data.n_users == 0 and data.matrix.shape == (0, 4)
    assert data.histories == []
    assert np.isnan(data.last_timestamps).all()
    empty = Interactions.from_events(_columns([]), CATALOG)
    assert empty.n_users == 0 and empty.item_popularity().tolist() == [0.0] * 4


def test_from_store_event_columns(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.append_events(
        [
            Event(user_id="u", item_id="b", timestamp=20.0),
            Event(user_id="u", item_id="a", timestamp=10.0, type="purchase"),
            Event(user_id="v", item_id="a", timestamp=15.0),
        ]
    )
    data = Interactions.from_events(store.event_columns("default"), ["a", "b"])
    store.close()
    assert data.histories[data.user_index["u"]].tolist() == [0, 1]  # arrival order ignored
    assert data.matrix[data.user_index["u"], 0] == EVENT_WEIGHTS[EventType.PURCHASE]
    assert data.item_popularity().tolist() == [2.0, 1.0]
