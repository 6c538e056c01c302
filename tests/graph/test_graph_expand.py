"""Query expansion terms come from the brands and categories next to matching items."""

from __future__ import annotations

from shoplm.graph.build import build_graph
from shoplm.graph.expand import expansion_terms
from shoplm.schema import Event, Item


def test_terms_from_brand_and_category_neighbours(shop_items: list[Item]) -> None:
    graph = build_graph(shop_items)
    terms = dict(expansion_terms(graph, ["espresso"], k=10))
    assert {"brewmaster", "coffee", "kitchen"} <= set(terms)
    assert "espresso" not in terms
    assert max(terms.values()) == 1.0 and all(0 < w <= 1 for w in terms.values())
    assert terms["coffee"] >= terms["kitchen"]  # the leaf counts more than its parent


def test_co_bought_items_add_their_words(shop_items: list[Item], shop_events: list[Event]) -> None:
    plain = build_graph(shop_items)
    linked = build_graph(shop_items, shop_events)
    assert "sonic" not in dict(expansion_terms(plain, ["roastery"]))
    assert "sonic" in dict(expansion_terms(linked, ["roastery"], k=20))  # c3 viewed with h2


def test_a_brand_or_category_name_in_the_query_expands_too(shop_items: list[Item]) -> None:
    graph = build_graph(shop_items)
    by_brand = dict(expansion_terms(graph, ["sonic"]))
    assert "headphone" in by_brand  # tokens are normalised like search tokens
    by_category = dict(expansion_terms(graph, ["audio"]))
    assert {"sonic", "headphone"} <= set(by_category)


def test_nothing_to_expand(shop_items: list[Item]) -> None:
    graph = build_graph(shop_items)
    assert expansion_terms(graph, [], k=5) == []
    assert expansion_terms(graph, ["zzzz"], k=5) == []
    assert len(expansion_terms(graph, ["phone"], k=2)) == 2
