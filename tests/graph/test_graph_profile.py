"""User profiles: tastes, spend and how interest moves, from events and the catalog."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.graph.build import build_graph
from shoplm.graph.profile import build_profile, interest_shift, price_band
from shoplm.schema import Event, Item

DAY = 86_400.0


@pytest.fixture(scope="module")
def catalog(shop_items: list[Item]) -> dict[str, Item]:
    return {i.item_id: i for i in shop_items}


def test_profile_ranks_categories_brands_and_prices(
    shop_items: list[Item], catalog: dict[str, Item], make_events
) -> None:
    events = make_events(
        {
            "u": [
                ("p1", "view"),
                ("p3", "purchase"),
                ("p1", "purchase"),
                ("c2", "view"),
                ("c3", "view"),
                ("c1", "view"),
            ]
        }
    )
    events.append(Event(user_id="u", type="search", query="coffee grinder", timestamp=1e10))
    prices = np.array([i.price for i in shop_items])
    profile = build_profile("u", events, catalog, prices)
    assert profile["n_items"] == 5 and profile["n_events"] == 7
    top = profile["top_categories"][0]
    assert top == {"category": "Phones > Smartphones", "weight": 4.0, "share": pytest.approx(0.4)}
    assert [b["brand"] for b in profile["top_brands"]][:2] == ["Acme", "Brewmaster"]
    assert profile["top_departments"][0]["category"] == "Phones"
    band = profile["price_band"]
    assert band["min"] == 19.0 and band["max"] == 499.0 and band["median"] == 79.0
    assert band["band"] == "budget" and band["catalog_percentile"] == 0.4  # 4 of 10 cost <= 79
    shift = profile["interest_shift"]
    assert shift["rising"][0]["category"] == "Kitchen > Coffee"
    assert shift["fading"][0]["category"] == "Phones > Smartphones"
    assert 0 < shift["distance"] <= 1
    assert profile["recent_searches"] == ["coffee grinder"]


def test_profile_shared_traits_come_from_the_graph(
    shop_items: list[Item], catalog: dict[str, Item], shop_knowledge: tuple, make_events
) -> None:
    triples, links = shop_knowledge
    graph = build_graph(shop_items, triples=triples, item_entity=links)
    events = make_events({"u": [("p1", "view"), ("h1", "view"), ("c1", "view")]})
    traits = build_profile("u", events, catalog, graph=graph)["shared_traits"]
    ids = {t["id"] for t in traits}
    assert ids == {"attribute:color=black", "entity:ent:factory"}
    assert all(t["items"] == 2 for t in traits)


def test_empty_history_gives_an_empty_profile(catalog: dict[str, Item]) -> None:
    profile = build_profile("nobody", [], catalog)
    assert profile["n_items"] == 0
    assert profile["top_categories"] == [] and profile["price_band"] is None
    assert profile["interest_shift"] is None


def test_price_band_bands_against_the_catalog() -> None:
    catalog = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 100.0, 200.0, np.nan])
    assert price_band([150.0, 250.0], catalog)["band"] == "premium"
    assert price_band([1.5], catalog)["band"] == "budget"
    assert "band" not in price_band([5.0], None)
    assert price_band([], catalog) is None


def test_interest_shift_is_none_when_taste_is_steady_or_short() -> None:
    steady = interest_shift(["a", "a", "a", "a", "a"], [1.0] * 5)
    assert steady is not None and steady["distance"] == 0 and steady["rising"] == []
    assert interest_shift(["a", "b"], [1.0, 1.0]) is None
