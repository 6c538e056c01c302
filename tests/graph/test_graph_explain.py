"""Explanations are real paths: every edge they name exists in the graph."""

from __future__ import annotations

import pytest

from shoplm.graph.build import build_graph
from shoplm.graph.explain import Explainer, Explanation, is_faithful, verify_path
from shoplm.graph.model import ItemGraph
from shoplm.schema import Event, Item


@pytest.fixture(scope="module")
def graph(shop_items: list[Item], shop_events: list[Event], shop_knowledge: tuple) -> ItemGraph:
    triples, links = shop_knowledge
    return build_graph(shop_items, shop_events, triples, links)


@pytest.fixture(scope="module")
def explainer(graph: ItemGraph) -> Explainer:
    return Explainer(graph)


def checked(graph: ItemGraph, found: Explanation | None, history: list[str], item: str):
    assert found is not None
    assert verify_path(graph, found.nodes, found.edge_types)
    assert is_faithful(graph, history, item, found.nodes, found.edge_types)
    assert graph.node_keys[found.nodes[0]] == found.history_item_id
    return found


def test_bought_together_comes_first(graph: ItemGraph, explainer: Explainer) -> None:
    found = checked(graph, explainer.explain(["p2", "c3"], "c1"), ["p2", "c3"], "c1")
    assert found.kind == "co_purchase"
    assert found.history_item_id == "c3"
    assert found.text == "people who bought Roastery whole bean coffee 1kg also bought this"


def test_same_brand(graph: ItemGraph, explainer: Explainer) -> None:
    found = checked(graph, explainer.explain(["h2"], "h1"), ["h2"], "h1")
    assert found.kind == "brand"
    assert [graph.node_name(n) for n in found.nodes] == ["item:h2", "brand:sonic", "item:h1"]
    assert found.text == "same brand as Sonic wireless earbuds (Sonic)"


def test_same_category(graph: ItemGraph, explainer: Explainer) -> None:
    found = checked(graph, explainer.explain(["h1"], "h3"), ["h1"], "h3")
    assert found.kind == "category"
    assert found.text.startswith("in category Audio > Headphones like Sonic")


def test_external_knowledge(graph: ItemGraph, explainer: Explainer) -> None:
    found = checked(graph, explainer.explain(["h1"], "p1"), ["h1"], "p1")
    assert found.kind == "knowledge"
    assert found.edge_types == ["kg:made_by", "kg:made_by"]
    assert (
        found.text == "shares made_by ent:factory with Sonic wireless headphones noise cancelling"
    )


def test_shared_attribute(graph: ItemGraph, explainer: Explainer) -> None:
    found = checked(graph, explainer.explain(["p2"], "h1"), ["p2"], "h1")
    assert found.kind == "attribute"
    assert found.text.startswith("shares color: black with Zeta")


def test_common_parent_category(graph: ItemGraph, explainer: Explainer) -> None:
    found = checked(graph, explainer.explain(["p2"], "p3"), ["p2"], "p3")
    assert found.kind == "category"
    names = [graph.node_name(n) for n in found.nodes]
    assert names == [
        "item:p2",
        "category:Phones > Smartphones",
        "category:Phones",
        "category:Phones > Accessories",
        "item:p3",
    ]


def test_two_behaviour_hops(shop_items: list[Item], make_events) -> None:
    plain = [
        i.model_copy(update={"brand": "", "category": "", "attributes": {}}) for i in shop_items
    ]
    events = make_events(
        {
            "a": [("p1", "purchase"), ("h1", "purchase")],
            "b": [("h1", "purchase"), ("c1", "purchase")],
        }
    )
    g = build_graph(plain, events)
    found = checked(g, Explainer(g).explain(["p1"], "c1"), ["p1"], "c1")
    assert found.kind == "behaviour_2hop"
    assert [g.node_keys[n] for n in found.nodes] == ["p1", "h1", "c1"]


def test_no_path_no_explanation(shop_items: list[Item]) -> None:
    lonely = Item(item_id="z", title="Unrelated thing")
    g = build_graph([*shop_items, lonely])
    assert Explainer(g).explain(["p1"], "z") is None
    assert Explainer(g).explain([], "p1") is None
    assert Explainer(g).explain(["p1"], "not-in-graph") is None


def test_made_up_paths_fail_the_checks(graph: ItemGraph) -> None:
    p1, c1 = graph.item_node("p1"), graph.item_node("c1")
    c3 = graph.item_node("c3")
    assert not verify_path(graph, [p1, c1], ["co_purchase"])  # no such edge
    assert not verify_path(graph, [c3, c1], ["brand"])  # edge exists, type does not
    assert not verify_path(graph, [c3, c1], [])  # wrong length
    assert verify_path(graph, [c1, c3], ["co_purchase"])  # either direction
    assert not is_faithful(graph, ["p1"], "c1", [c3, c1], ["co_purchase"])  # not their item
    assert not is_faithful(graph, ["c3"], "c2", [c3, c1], ["co_purchase"])  # wrong target


def test_to_dict_lists_nodes_and_edges(graph: ItemGraph, explainer: Explainer) -> None:
    found = explainer.explain(["h2"], "h1")
    assert found is not None
    out = found.to_dict(graph)
    assert [step["id"] for step in out["path"]] == ["item:h2", "brand:sonic", "item:h1"]
    assert out["edges"][0] == {
        "source": out["path"][0]["node"],
        "target": out["path"][1]["node"],
        "type": "brand",
    }
