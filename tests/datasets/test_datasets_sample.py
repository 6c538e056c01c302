"""The bundled sample shop: deterministic, shipped as generated, valid, and learnable."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from shoplm.datasets import generate_sample, sample_paths, write_sample
from shoplm.datasets.sample import main
from shoplm.schema import Event, Item


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = write_sample(tmp_path / "one")
    second = write_sample(tmp_path / "two")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert generate_sample(seed=1) != generate_sample(seed=2)


def test_shipped_files_equal_a_fresh_generation(tmp_path: Path) -> None:
    main(["--out", str(tmp_path)])
    shipped_items, shipped_events = sample_paths()
    assert shipped_items.read_bytes() == (tmp_path / "items.csv").read_bytes()
    assert shipped_events.read_bytes() == (tmp_path / "events.csv").read_bytes()


def test_every_item_row_is_a_valid_item() -> None:
    rows = _rows(sample_paths()[0])
    assert list(rows[0]) == [
        "item_id",
        "title",
        "description",
        "brand",
        "category",
        "price",
        "color",
    ]
    items = [
        Item(
            item_id=r["item_id"],
            title=r["title"],
            description=r["description"],
            brand=r["brand"],
            category=r["category"],
            price=float(r["price"]),
            attributes={"color": r["color"]},
        )
        for r in rows
    ]
    assert 250 <= len(items) <= 350
    assert len({i.item_id for i in items}) == len(items)
    assert len({i.title for i in items}) == len(items)
    assert len({i.category for i in items}) == 8
    assert all(i.description and i.brand and i.price for i in items)


def test_every_event_row_is_a_valid_event() -> None:
    item_ids = {r["item_id"] for r in _rows(sample_paths()[0])}
    rows = _rows(sample_paths()[1])
    assert list(rows[0]) == ["user_id", "item_id", "type", "timestamp", "session_id"]
    events = [
        Event(
            user_id=r["user_id"],
            item_id=r["item_id"],
            type=r["type"],
            timestamp=datetime.fromisoformat(r["timestamp"]).timestamp(),
            session_id=r["session_id"],
        )
        for r in rows
    ]
    assert 2500 <= len(events) <= 4000
    assert {e.item_id for e in events} <= item_ids
    assert {e.type.value for e in events} == {"view", "click", "add_to_cart", "purchase"}
    assert 140 <= len({e.user_id for e in events}) <= 160
    stamps = [e.timestamp for e in events]
    assert stamps == sorted(stamps)
    assert (stamps[-1] - stamps[0]) / 86_400 <= 60
    assert all(r["timestamp"].endswith("Z") for r in rows)


def test_a_session_belongs_to_one_user() -> None:
    owners: defaultdict[str, set[str]] = defaultdict(set)
    for r in _rows(sample_paths()[1]):
        owners[r["session_id"]].add(r["user_id"])
    assert all(len(users) == 1 for users in owners.values())


def test_demo_queries_find_phone_things() -> None:
    titles = [r["title"].lower() for r in _rows(sample_paths()[0])]
    for phrase in ("smartphone", "phone case", "wireless earbuds"):
        assert any(phrase in t for t in titles), phrase


def test_users_mostly_stay_in_one_or_two_categories() -> None:
    category = {r["item_id"]: r["category"] for r in _rows(sample_paths()[0])}
    per_user: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for r in _rows(sample_paths()[1]):
        per_user[r["user_id"]][category[r["item_id"]]] += 1
    focus = [
        sum(n for _, n in counts.most_common(2)) / sum(counts.values())
        for counts in per_user.values()
    ]
    assert sum(focus) / len(focus) > 0.8  # a uniform user would score about 0.25


def test_complements_are_bought_together() -> None:
    """Phone buyers buy phone accessories far more often than other shoppers do."""
    category = {r["item_id"]: r["category"] for r in _rows(sample_paths()[0])}
    bought: defaultdict[str, set[str]] = defaultdict(set)
    for r in _rows(sample_paths()[1]):
        if r["type"] == "purchase":
            bought[r["user_id"]].add(category[r["item_id"]])
    phone_buyers = [c for c in bought.values() if "Phones > Smartphones" in c]
    others = [c for c in bought.values() if "Phones > Smartphones" not in c]
    rate = sum("Phones > Accessories" in c for c in phone_buyers) / len(phone_buyers)
    base = sum("Phones > Accessories" in c for c in others) / len(others)
    assert rate > 2 * base
