"""Exports hold the whole graph and parse with standard tools."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

from shoplm.graph.build import build_graph
from shoplm.graph.export import export_csv, export_graphml
from shoplm.schema import Event, Item

NS = {"g": "http://graphml.graphdrawing.org/xmlns"}


def test_csv_export_round_trips_nodes_and_edges(
    tmp_path: Path, shop_items: list[Item], shop_events: list[Event]
) -> None:
    graph = build_graph(shop_items, shop_events)
    nodes_path, edges_path = export_csv(graph, tmp_path / "csv")
    with nodes_path.open(newline="", encoding="utf-8") as handle:
        nodes = list(csv.DictReader(handle))
    with edges_path.open(newline="", encoding="utf-8") as handle:
        edges = list(csv.DictReader(handle))
    assert len(nodes) == graph.n_nodes and len(edges) == graph.n_edges
    assert nodes[0].keys() == {"node", "id", "type", "key", "label"}
    by_number = {int(n["node"]): n for n in nodes}
    p1 = graph.item_node("p1")
    assert by_number[p1]["id"] == "item:p1"
    assert by_number[p1]["label"] == "Acme smartphone 128GB black"
    for edge in edges:
        assert graph.has_edge(int(edge["source"]), int(edge["target"]), edge["type"])
    weights = sorted(float(e["weight"]) for e in edges)
    assert abs(sum(weights) - float(graph.weight.sum())) < 1e-3


def test_graphml_export_parses(
    tmp_path: Path, shop_items: list[Item], shop_events: list[Event]
) -> None:
    graph = build_graph(shop_items, shop_events)
    path = export_graphml(graph, tmp_path / "g.graphml")
    root = ET.parse(path).getroot()
    body = root.find("g:graph", NS)
    assert body is not None
    nodes = body.findall("g:node", NS)
    edges = body.findall("g:edge", NS)
    assert len(nodes) == graph.n_nodes and len(edges) == graph.n_edges
    keys = {k.get("id"): k.get("attr.name") for k in root.findall("g:key", NS)}
    assert set(keys.values()) == {"type", "key", "label", "weight"}
    first = {keys[d.get("key")]: d.text for d in nodes[graph.item_node("p1")].findall("g:data", NS)}
    assert first == {"type": "item", "key": "p1", "label": "Acme smartphone 128GB black"}
    edge_types = {d.text for e in edges for d in e.findall("g:data", NS) if d.get("key") == "d3"}
    assert edge_types == {
        "brand",
        "category",
        "subcategory_of",
        "attribute",
        "co_purchase",
        "co_view",
    }
