"""Fixtures shared across the test tree: a tiny shop made here, never a real dataset."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SHOPLM_NO_PROGRESS", "1")

TINY_ITEMS = [
    ("p1", "Acme smartphone 128GB black", "Phones > Smartphones", "Acme", 499.0),
    ("p2", "Zeta smartphone 64GB blue", "Phones > Smartphones", "Zeta", 299.0),
    ("p3", "Acme silicone phone case", "Phones > Accessories", "Acme", 19.0),
    ("p4", "Zeta phone screen protector", "Phones > Accessories", "Zeta", 9.0),
    ("h1", "Sonic wireless headphones noise cancelling", "Audio > Headphones", "Sonic", 199.0),
    ("h2", "Sonic wireless earbuds", "Audio > Headphones", "Sonic", 99.0),
    ("h3", "Bassline over-ear studio headphones", "Audio > Headphones", "Bassline", 149.0),
    ("c1", "Brewmaster espresso coffee machine", "Kitchen > Coffee", "Brewmaster", 349.0),
    ("c2", "Brewmaster coffee grinder burr", "Kitchen > Coffee", "Brewmaster", 79.0),
    ("c3", "Roastery whole bean coffee 1kg", "Kitchen > Coffee", "Roastery", 25.0),
]


@pytest.fixture(scope="session")
def tiny_items() -> list[dict]:
    return [
        {"item_id": i, "title": t, "category": c, "brand": b, "price": p}
        for i, t, c, b, p in TINY_ITEMS
    ]


@pytest.fixture(scope="session")
def tiny_events() -> list[dict]:
    """Phone people buy phones and cases; coffee people buy coffee things."""
    baskets = {
        "u1": ["p1", "p3", "p4"],
        "u2": ["p2", "p4", "p3"],
        "u3": ["p1", "p4"],
        "u4": ["c1", "c2", "c3"],
        "u5": ["c2", "c3"],
        "u6": ["c1", "c3", "h2"],
        "u7": ["h1", "h2"],
        "u8": ["h3", "h1"],
    }
    events = []
    for user, items in baskets.items():
        for position, item in enumerate(items):
            events.append(
                {
                    "user_id": user,
                    "item_id": item,
                    "type": "purchase",
                    "timestamp": 1_700_000_000 + 3600 * position,
                }
            )
    return events
