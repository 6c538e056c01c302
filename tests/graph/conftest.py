"""A tiny shop for the graph tests: the shared ten items, a few attributes, baskets, facts.

Baskets: phone buyers take a phone then a case; coffee buyers take the machine then beans;
one coffee buyer also viewed earbuds.  Two items are linked to external entities that share
a maker, so knowledge paths exist without behaviour ones.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shoplm.schema import Event, Item

T0 = 1_700_000_000.0
DAY = 86_400.0
ATTRIBUTES = {
    "p1": {"color": "black", "storage": "128GB"},
    "p2": {"color": "blue, black"},
    "h1": {"color": "black", "url": "https://example.com/h1"},
}
BASKETS = {
    "u1": [("p1", "purchase"), ("p3", "purchase")],
    "u2": [("p2", "purchase"), ("p4", "purchase")],
    "u3": [("c1", "purchase"), ("c3", "purchase")],
    "u4": [("c1", "view"), ("c3", "purchase"), ("h2", "view")],
}
TRIPLES = [
    ("ent:p1", "made_by", "ent:factory"),
    ("ent:factory", "makes", "ent:p1"),  # the inverse of the first: one edge only
    ("ent:h1", "made_by", "ent:factory"),
    ("ent:factory", "located_in", "ent:town"),
]
LINKS = {"p1": "ent:p1", "h1": "ent:h1"}


@pytest.fixture(scope="session")
def shop_items(tiny_items: list[dict]) -> list[Item]:
    return [Item(**row, attributes=ATTRIBUTES.get(row["item_id"], {})) for row in tiny_items]


def basket_events(baskets: dict[str, list[tuple[str, str]]], start: float = T0) -> list[Event]:
    """One event per basket entry, a day apart within a user."""
    return [
        Event(user_id=user, item_id=item, type=kind, timestamp=start + DAY * position)
        for user, entries in baskets.items()
        for position, (item, kind) in enumerate(entries)
    ]


@pytest.fixture(scope="session")
def shop_events() -> list[Event]:
    return basket_events(BASKETS)


@pytest.fixture(scope="session")
def make_events() -> Callable[..., list[Event]]:
    """The helper itself: test modules cannot import from a conftest by name."""
    return basket_events


@pytest.fixture(scope="session")
def shop_knowledge() -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    return TRIPLES, LINKS
