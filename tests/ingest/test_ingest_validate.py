"""Row -> Item/Event: mapping, attributes, timestamps and error messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shoplm.ingest import IngestError
from shoplm.ingest.validate import build, check_mapping, describe, resolve_kind, to_epoch
from shoplm.schema import DEFAULT_PLATFORM, Event, EventType, Item


def test_to_epoch_accepts_numbers_iso_and_datetimes() -> None:
    assert to_epoch(1700000000) == 1700000000.0
    assert to_epoch("1700000000.5") == 1700000000.5
    assert to_epoch("2023-11-14T22:13:20Z") == 1700000000.0
    assert to_epoch("2023-11-14T22:13:20") == 1700000000.0  # zone-less is UTC
    assert to_epoch("2023-11-14T23:13:20+01:00") == 1700000000.0
    assert to_epoch(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)) == 1700000000.0
    with pytest.raises(ValueError, match="ISO 8601"):
        to_epoch("yesterday")


def test_mapping_to_unknown_field_or_twice_is_refused() -> None:
    with pytest.raises(IngestError, match="'titel' is not a shoplm field"):
        check_mapping({"name": "titel"})
    with pytest.raises(IngestError, match="several columns"):
        check_mapping({"a": "title", "b": "title"})
    assert check_mapping({"colour": "attributes.color"}) == {"colour": "attributes.color"}


def test_item_extra_columns_become_attributes() -> None:
    record = {
        "product_uid": " 42 ",
        "product_title": "Green  tea",
        "title": "shadowed by the mapping",
        "category": ["Food", "Tea"],
        "price": "3.50",
        "colour": "green",
        "sizes": ["S", "M"],
        "empty": "",
        "attributes": '{"origin": "JP"}',
    }
    mapping = {"product_uid": "item_id", "product_title": "title", "colour": "attributes.color"}
    item, problems = build("items", record, mapping, None)
    assert problems == []
    assert isinstance(item, Item)
    assert item.item_id == "42" and item.title == "Green tea"
    assert item.category == "Food > Tea"
    assert item.price == 3.5
    assert item.platform == DEFAULT_PLATFORM
    assert item.attributes == {"origin": "JP", "color": "green", "sizes": "S, M"}


def test_item_with_several_problems_lists_them_all() -> None:
    item, problems = build("items", {"item_id": "1", "price": "-2", "attributes": "{x"}, {}, None)
    assert item is None
    fields = [f for f, _ in problems]
    assert fields == ["attributes", "title", "price"]
    text = describe(17, problems)
    assert text.startswith("row 17, field 'attributes'")
    assert "field 'price': Input should be greater than or equal to 0" in text


def test_event_fields_platform_override_and_iso_time() -> None:
    record = {
        "user_id": "u1",
        "item_id": "i1",
        "type": "Purchase",
        "platform": "a",
        "timestamp": "2023-11-14T22:13:20Z",
        "referrer": "x",
    }
    event, problems = build("events", record, {}, "shop")
    assert problems == []
    assert isinstance(event, Event)
    assert event.type is EventType.PURCHASE
    assert event.platform == "shop"
    assert event.timestamp == 1700000000.0


def test_bad_event_type_and_timestamp_reported_once_each() -> None:
    record = {"user_id": "u1", "item_id": "i1", "type": "stare", "timestamp": "soon"}
    event, problems = build("events", record, {}, None)
    assert event is None
    assert [f for f, _ in problems] == ["timestamp", "type"]
    assert "got 'soon'" in problems[0][1]
    assert "'view'" in problems[1][1]


def test_event_without_item_is_a_row_problem() -> None:
    event, problems = build("events", {"user_id": "u", "timestamp": 1}, {}, None)
    assert event is None
    assert problems == [("(row)", "item_id is required for a view event")]


def test_resolve_kind() -> None:
    assert resolve_kind("auto", ["user_id", "item_id"], "f") == "events"
    assert resolve_kind("auto", ["item_id", "title"], "f") == "items"
    assert resolve_kind("events", [], "f") == "events"
    with pytest.raises(IngestError, match="cannot tell items from events"):
        resolve_kind("auto", ["sku", "name"], "f")
    with pytest.raises(IngestError, match="kind must be"):
        resolve_kind("products", [], "f")
