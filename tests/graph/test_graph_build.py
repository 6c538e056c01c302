"""Graph construction: catalog nodes and edges, behaviour weights and decay, knowledge,
incremental updates and the saved files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shoplm.graph.build import GraphBuilder, GraphSettings, build_graph, decay, with_behaviour
from shoplm.graph.model import ItemGraph
from shoplm.schema import Event, Item

DAY = 86_400.0


def edge_set(graph: ItemGraph) -> dict[tuple[str, str, str], float]:
    """Edges by node names (independent of node numbering), undirected."""
    out = {}
    for src, dst, code, weight in zip(
        graph.sources, graph.indices, graph.etype, graph.weight, strict=True
    ):
        a, b = sorted((graph.node_name(src), graph.node_name(dst)))
        out[(a, b, graph.edge_types[code])] = float(weight)
    return out


def node(graph: ItemGraph, name: str) -> int:
    kind, key = name.split(":", 1)
    found = graph.node(kind, key)
    assert found is not None, name
    return found


def test_catalog_gives_brand_category_hierarchy_and_attribute_nodes(
    shop_items: list[Item],
) -> None:
    graph = build_graph(shop_items)
    counts = graph.counts()
    assert counts["nodes"]["item"] == 10
    assert counts["nodes"]["brand"] == 6  # acme, zeta, sonic, bassline, brewmaster, roastery
    assert counts["nodes"]["category"] == 7  # 3 departments + 4 leaves
    assert counts["edges"]["brand"] == 10
    assert counts["edges"]["category"] == 10
    assert counts["edges"]["subcategory_of"] == 4
    p1 = node(graph, "item:p1")
    assert graph.has_edge(p1, node(graph, "brand:acme"), "brand")
    smartphones = node(graph, "category:Phones > Smartphones")
    assert graph.has_edge(p1, smartphones, "category")
    assert graph.has_edge(smartphones, node(graph, "category:Phones"), "subcategory_of")
    assert not graph.has_edge(p1, node(graph, "category:Phones"))  # only via the leaf
    assert graph.node_labels[node(graph, "brand:acme")] == "Acme"
    assert graph.node_labels[p1] == "Acme smartphone 128GB black"


def test_attribute_lists_are_split_and_identifiers_ignored(shop_items: list[Item]) -> None:
    movie = Item(item_id="m1", title="Film", attributes={"genres": "Action Comedy", "url": "x"})
    graph = build_graph([*shop_items, movie])
    p2 = node(graph, "item:p2")
    assert graph.has_edge(p2, node(graph, "attribute:color=blue"), "attribute")
    assert graph.has_edge(p2, node(graph, "attribute:color=black"), "attribute")
    m1 = node(graph, "item:m1")
    assert graph.has_edge(m1, node(graph, "attribute:genres=comedy"), "attribute")
    assert graph.node("attribute", "url=x") is None
    assert graph.node("attribute", "url=https://example.com/h1") is None
    assert graph.node_labels[node(graph, "attribute:genres=action")] == "genres: Action"


def test_behaviour_edges_have_types_weights_and_decay(
    shop_items: list[Item], shop_events: list[Event]
) -> None:
    graph = build_graph(shop_items, shop_events, settings=GraphSettings(half_life_days=1.0))
    c1, c3, h2 = node(graph, "item:c1"), node(graph, "item:c3"), node(graph, "item:h2")
    # c1 -> c3 bought together by u3 (pair at day 1) and u4 (view + purchase at day 1)
    assert graph.has_edge(c1, c3, "co_purchase")
    assert graph.has_edge(c1, c3, "co_view")  # u4 only viewed c1: the weaker intent names it
    assert graph.has_edge(c3, h2, "co_view")
    assert graph.reference_time == max(e.timestamp for e in shop_events)
    # u4's c3 -> h2 pair is the newest event (age 0); u3's pair one day older: half weight
    assert graph.edge_weight(c3, h2, "co_view") == pytest.approx(1.0)
    assert graph.edge_weight(c1, c3, "co_purchase") == pytest.approx(0.5)
    assert graph.edge_weight(c1, c3, "co_view") == pytest.approx(0.5)
    assert decay(np.array([2 * DAY]), 1.0)[0] == pytest.approx(0.25)


def test_window_limits_which_events_pair_up(
    shop_items: list[Item], make_events: Callable[..., list[Event]]
) -> None:
    events = make_events({"u": [("p1", "view"), ("p2", "view"), ("p3", "view")]})
    graph = build_graph(shop_items, events, settings=GraphSettings(window=1))
    p1, p2, p3 = (node(graph, f"item:{i}") for i in ("p1", "p2", "p3"))
    assert graph.has_edge(p1, p2, "co_view") and graph.has_edge(p2, p3, "co_view")
    assert not graph.has_edge(p1, p3)
    wide = build_graph(shop_items, events, settings=GraphSettings(window=2))
    assert wide.has_edge(node(wide, "item:p1"), node(wide, "item:p3"), "co_view")


def test_events_that_show_no_interest_or_unknown_items_are_skipped(
    shop_items: list[Item],
) -> None:
    events = [
        Event(user_id="u", item_id="p1", type="view", timestamp=1.0),
        Event(user_id="u", query="phone", type="search", timestamp=2.0),
        Event(user_id="u", item_id="gone", type="view", timestamp=3.0),
        Event(user_id="u", item_id="p2", type="view", timestamp=4.0),
    ]
    graph = build_graph(shop_items, events)
    assert graph.counts()["edges"]["co_view"] == 1
    assert graph.node("item", "gone") is None


def test_knowledge_links_items_and_keeps_one_edge_per_fact(
    shop_items: list[Item], shop_knowledge: tuple[list, dict]
) -> None:
    triples, links = shop_knowledge
    graph = build_graph(shop_items, triples=triples, item_entity=links)
    p1, h1 = node(graph, "item:p1"), node(graph, "item:h1")
    factory = node(graph, "entity:ent:factory")
    assert graph.has_edge(p1, factory, "kg:made_by")
    assert not graph.has_edge(p1, factory, "kg:makes")  # the inverse fact was skipped
    assert graph.has_edge(h1, factory, "kg:made_by")
    assert graph.has_edge(factory, node(graph, "entity:ent:town"), "kg:located_in")
    assert graph.node("entity", "ent:p1") is None  # the entity is the item's node
    assert graph.meta["item_entity"] == links


def test_a_malformed_triple_is_named(shop_items: list[Item]) -> None:
    with pytest.raises(ValueError, match="knowledge triple 1"):
        build_graph(shop_items, triples=[("a", "r", "b"), ("a", "", "b")])


def test_save_and_load_give_the_same_graph(
    tmp_path: Path, shop_items: list[Item], shop_events: list[Event], shop_knowledge: tuple
) -> None:
    triples, links = shop_knowledge
    graph = build_graph(shop_items, shop_events, triples, links)
    graph.save(tmp_path / "g")
    loaded = ItemGraph.load(tmp_path / "g")
    assert loaded.same_as(graph)
    assert loaded.meta == graph.meta
    assert loaded.tails.user_ids == graph.tails.user_ids
    assert np.array_equal(loaded.tails.nodes, graph.tails.nodes)
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["graph.json", "graph.npz"]


def test_load_refuses_a_folder_without_a_graph(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"graph\.json"):
        ItemGraph.load(tmp_path)


def test_incremental_update_equals_a_full_rebuild(
    shop_items: list[Item],
    shop_events: list[Event],
    shop_knowledge: tuple,
    make_events: Callable[..., list[Event]],
) -> None:
    triples, links = shop_knowledge
    later = make_events(
        {"u1": [("p4", "purchase")], "u4": [("c2", "purchase")], "u9": [("h1", "view")]},
        start=max(e.timestamp for e in shop_events) + 3 * DAY,
    )
    old_items = [i for i in shop_items if i.item_id not in {"c2", "h1"}]
    new_items = [i for i in shop_items if i.item_id in {"c2", "h1"}]
    builder = GraphBuilder()
    builder.add_items(old_items)
    builder.add_knowledge(triples[:2], {"p1": links["p1"]})
    builder.add_events(shop_events)
    first = builder.build()
    # Reload from disk form, then update: the tails and settings travel with the graph.
    updated = GraphBuilder.from_graph(first).update(
        new_items, later, triples[2:], {"h1": links["h1"]}
    )
    full = build_graph(shop_items, [*shop_events, *later], triples, links)
    got, want = edge_set(updated), edge_set(full)
    assert got.keys() == want.keys()
    for key, weight in want.items():
        assert got[key] == pytest.approx(weight, rel=1e-5), key
    assert updated.reference_time == full.reference_time
    # p1 (bought at day 0) pairs with p4 (new) only through the remembered tail of u1
    assert ("item:p3", "item:p4", "co_purchase") in got


def test_update_replaces_the_catalog_edges_of_a_changed_item(shop_items: list[Item]) -> None:
    builder = GraphBuilder()
    builder.add_items(shop_items)
    changed = Item(item_id="p1", title="Acme phone renamed", brand="Zeta", category="Phones")
    graph = builder.update([changed])
    p1 = node(graph, "item:p1")
    assert graph.has_edge(p1, node(graph, "brand:zeta"), "brand")
    assert not graph.has_edge(p1, node(graph, "brand:acme"))
    assert graph.has_edge(p1, node(graph, "category:Phones"), "category")
    assert not graph.has_edge(p1, node(graph, "category:Phones > Smartphones"))
    assert graph.node_labels[p1] == "Acme phone renamed"
    assert graph.counts()["nodes"]["item"] == 10


def test_an_entity_met_before_its_item_becomes_that_item(shop_items: list[Item]) -> None:
    builder = GraphBuilder()
    builder.add_knowledge([("ent:new", "made_by", "ent:factory")], {"n1": "ent:new"})
    graph = builder.update([Item(item_id="n1", title="New thing")])
    n1 = node(graph, "item:n1")
    assert graph.has_edge(n1, node(graph, "entity:ent:factory"), "kg:made_by")
    stale = graph.node("entity", "ent:new")
    assert stale is None or len(graph.neighbours(stale)[0]) == 0


def test_with_behaviour_swaps_only_the_behaviour_edges(
    shop_items: list[Item],
    shop_events: list[Event],
    shop_knowledge: tuple,
    make_events: Callable[..., list[Event]],
) -> None:
    triples, links = shop_knowledge
    full = build_graph(shop_items, shop_events, triples, links)
    fewer = make_events({"u1": [("p1", "purchase"), ("p3", "purchase")]})
    swapped = with_behaviour(full, fewer)
    assert swapped.node_keys == full.node_keys  # same nodes, same ids
    behaviour = {"co_purchase", "co_view", "co_rating"}
    kept = {e: w for e, w in edge_set(full).items() if e[2] not in behaviour}
    assert {e: w for e, w in edge_set(swapped).items() if e[2] not in behaviour} == kept
    assert {e for e in edge_set(swapped) if e[2] in behaviour} == {
        ("item:p1", "item:p3", "co_purchase")
    }
    assert with_behaviour(full).counts()["edges"].keys().isdisjoint(behaviour)
    assert edge_set(with_behaviour(full, shop_events)) == edge_set(full)  # same events: same graph
