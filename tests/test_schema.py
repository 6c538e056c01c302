"""Items and events: validation names the field, hashes and keys are stable."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from shoplm.schema import (
    CATEGORY_SEPARATOR,
    DEFAULT_PLATFORM,
    EVENT_WEIGHTS,
    Event,
    EventType,
    Item,
)


def _error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


# -- Item ----------------------------------------------------------------------------------
def test_item_defaults_and_cleaning() -> None:
    item = Item(item_id="  42 ", title="  Red   running\nshoe ", brand=None, description=None)
    assert item.item_id == "42"
    assert item.platform == DEFAULT_PLATFORM
    assert item.title == "Red running shoe"
    assert item.brand == "" and item.description == ""
    assert item.price is None and item.attributes == {}


def test_item_numeric_id_becomes_text() -> None:
    assert Item(item_id=7, title="t").item_id == "7"


def test_negative_price_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Item(item_id="a", title="t", price=-1)
    assert _error_fields(caught.value) == {"price"}


def test_infinite_price_is_rejected_and_nan_price_means_missing() -> None:
    with pytest.raises(ValidationError) as caught:
        Item(item_id="a", title="t", price=math.inf)
    assert _error_fields(caught.value) == {"price"}
    assert Item(item_id="a", title="t", price=math.nan).price is None
    assert Item(item_id="a", title="t", price=np.float32("nan")).price is None
    assert Item(item_id="a", title="t", price=0).price == 0.0


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"item_id": "", "title": "t"}, "item_id"),
        ({"item_id": "   ", "title": "t"}, "item_id"),
        ({"item_id": "a", "title": "   "}, "title"),
        ({"title": "t"}, "item_id"),
        ({"item_id": "a", "title": "t", "colour": "red"}, "colour"),
        ({"item_id": "a", "title": "t", "attributes": [1, 2]}, "attributes"),
    ],
)
def test_item_errors_name_the_field(fields: dict, bad_field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Item(**fields)
    assert bad_field in _error_fields(caught.value)


@pytest.mark.parametrize(
    ("category", "path"),
    [
        (["Shoes", " Running ", ""], ["Shoes", "Running"]),
        (("Shoes", "Trail"), ["Shoes", "Trail"]),
        ("Shoes > Running", ["Shoes", "Running"]),
        ("Shoes|Running", ["Shoes", "Running"]),
        ("Shoes/Running/Trail", ["Shoes", "Running", "Trail"]),
        ("Office Electronics, Telephones", ["Office Electronics", "Telephones"]),
        ("Electronics > Audio/Video", ["Electronics", "Audio/Video"]),
        ("Shoes", ["Shoes"]),
        ("", []),
        (None, []),
    ],
)
def test_category_becomes_one_path_form(category: object, path: list[str]) -> None:
    item = Item(item_id="a", title="t", category=category)
    assert item.category_path == path
    assert item.category == CATEGORY_SEPARATOR.join(path)
    # The stored form parses back to itself (the store re-validates items it reads).
    assert Item(item_id="a", title="t", category=item.category).category == item.category


def test_attributes_from_json_text_drop_empty_values() -> None:
    item = Item(item_id="a", title="t", attributes='{"size": 42, "colour": " red ", "x": ""}')
    assert item.attributes == {"size": "42", "colour": "red"}


def test_text_joins_the_fields_the_encoder_sees() -> None:
    item = Item(item_id="a", title="Trail shoe", brand="Acme", category=["Shoes", "Trail"])
    assert item.text() == "Trail shoe. Brand: Acme. Category: Shoes > Trail"


def test_content_hash_is_stable_and_ignores_timestamps() -> None:
    base = {"item_id": "a", "title": "t", "price": 10, "attributes": {"b": "2", "a": "1"}}
    first = Item(**base)
    assert first.content_hash() == Item(**base).content_hash()
    # Key order of attributes does not matter, timestamps do not count.
    same = Item(**{**base, "attributes": {"a": "1", "b": "2"}}, created_at=5.0, updated_at=9.0)
    assert same.content_hash() == first.content_hash()
    assert len(first.content_hash()) == 40


@pytest.mark.parametrize(
    "change",
    [
        {"title": "other"},
        {"price": 11},
        {"price": None},
        {"brand": "Acme"},
        {"category": "Shoes"},
        {"description": "new"},
        {"attributes": {"a": "1"}},
        {"platform": "shop2"},
        {"item_id": "b"},
    ],
)
def test_content_hash_changes_when_content_changes(change: dict) -> None:
    base = {"item_id": "a", "title": "t", "price": 10, "attributes": {"b": "2", "a": "1"}}
    assert Item(**base).content_hash() != Item(**{**base, **change}).content_hash()


# -- Event ---------------------------------------------------------------------------------
def test_event_type_is_normalised() -> None:
    event = Event(user_id="u", item_id="a", type=" Purchase ", timestamp=1)
    assert event.type is EventType.PURCHASE
    assert event.timestamp == 1.0 and isinstance(event.timestamp, float)
    assert Event(user_id="u", item_id="a", timestamp=1).type is EventType.VIEW


def test_bad_event_type_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Event(user_id="u", item_id="a", type="bogus", timestamp=1)
    assert _error_fields(caught.value) == {"type"}


@pytest.mark.parametrize("event_type", ["view", "click", "add_to_cart", "purchase", "rating"])
def test_missing_item_id_on_item_event_names_item_id(event_type: str) -> None:
    with pytest.raises(ValidationError, match=f"item_id is required for a {event_type} event"):
        Event(user_id="u", type=event_type, timestamp=1)
    with pytest.raises(ValidationError, match="item_id is required"):
        Event(user_id="u", item_id="  ", type=event_type, timestamp=1)


def test_search_event_needs_a_query_not_an_item() -> None:
    event = Event(user_id="u", type="search", query="red shoes", timestamp=1)
    assert event.item_id is None
    with pytest.raises(ValidationError, match="query is required for a search event"):
        Event(user_id="u", type="search", query="  ", timestamp=1)


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"user_id": "", "item_id": "a", "timestamp": 1}, "user_id"),
        ({"user_id": "u", "item_id": "a"}, "timestamp"),
        ({"user_id": "u", "item_id": "a", "timestamp": -1}, "timestamp"),
        ({"user_id": "u", "item_id": "a", "timestamp": math.nan}, "timestamp"),
        ({"user_id": "u", "item_id": "a", "timestamp": math.inf}, "timestamp"),
        ({"user_id": "u", "item_id": "a", "timestamp": "yesterday"}, "timestamp"),
        ({"user_id": "u", "item_id": "a", "timestamp": 1, "value": math.inf}, "value"),
        ({"user_id": "u", "item_id": "a", "timestamp": 1, "shop": "x"}, "shop"),
    ],
)
def test_event_errors_name_the_field(fields: dict, bad_field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Event(**fields)
    assert bad_field in _error_fields(caught.value)


def test_nan_event_value_means_missing() -> None:
    assert Event(user_id="u", item_id="a", timestamp=1, value=math.nan).value is None


def test_dedup_key_same_event_same_key() -> None:
    first = Event(user_id="u", item_id="a", type="view", timestamp=1, session_id="s")
    again = Event(user_id=" u ", item_id="a", type="VIEW", timestamp=1.0, session_id="s")
    assert first.dedup_key() == again.dedup_key()


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "v"},
        {"item_id": "b"},
        {"type": "click"},
        {"timestamp": 2},
        {"value": 4.0},
        {"session_id": "other"},
        {"platform": "shop2"},
    ],
)
def test_dedup_key_differs_when_any_field_differs(change: dict) -> None:
    base = {"user_id": "u", "item_id": "a", "type": "view", "timestamp": 1, "session_id": "s"}
    assert Event(**base).dedup_key() != Event(**{**base, **change}).dedup_key()


def test_dedup_key_uses_event_id_per_platform() -> None:
    first = Event(user_id="u", item_id="a", timestamp=1, event_id="e1")
    # A resent event with the same id is the same event even if a field was re-rounded.
    resent = Event(user_id="u", item_id="a", timestamp=2, event_id="e1")
    assert first.dedup_key() == resent.dedup_key()
    other_shop = Event(user_id="u", item_id="a", timestamp=1, event_id="e1", platform="shop2")
    assert first.dedup_key() != other_shop.dedup_key()


def test_every_event_type_has_a_weight() -> None:
    assert set(EVENT_WEIGHTS) == set(EventType)
    assert EVENT_WEIGHTS[EventType.SEARCH] == 0.0
    assert EVENT_WEIGHTS[EventType.PURCHASE] > EVENT_WEIGHTS[EventType.VIEW] > 0
