"""Export the item graph for other tools: CSV (nodes + edges) and GraphML (Gephi, networkx).

Both formats carry every node's type, key and label and every edge's type and weight, so
the exported graph is the graph shoplm reasons over, not a simplified picture of it.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

from shoplm.graph.model import ItemGraph

NODES_CSV = "nodes.csv"
EDGES_CSV = "edges.csv"


def export_csv(graph: ItemGraph, folder: Path) -> tuple[Path, Path]:
    """Write ``nodes.csv`` (node, id, type, key, label) and ``edges.csv`` (source, target,
    type, weight) into ``folder``; node numbers in edges.csv refer to nodes.csv."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nodes_path, edges_path = folder / NODES_CSV, folder / EDGES_CSV
    with nodes_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["node", "id", "type", "key", "label"])
        for node in range(graph.n_nodes):
            writer.writerow(
                [
                    node,
                    graph.node_name(node),
                    graph.type_of(node),
                    graph.node_keys[node],
                    graph.node_labels[node],
                ]
            )
    with edges_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "target", "type", "weight"])
        sources = graph.sources.tolist()
        for src, dst, code, weight in zip(
            sources,
            graph.indices.tolist(),
            graph.etype.tolist(),
            graph.weight.tolist(),
            strict=True,
        ):
            writer.writerow([src, dst, graph.edge_types[code], f"{weight:.6g}"])
    return nodes_path, edges_path


def export_graphml(graph: ItemGraph, path: Path) -> Path:
    """Write a GraphML file; node ids are ``n<number>``, edges keep their direction as stored."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("graphml", xmlns="http://graphml.graphdrawing.org/xmlns")
    for key_id, owner, name, kind in (
        ("d0", "node", "type", "string"),
        ("d1", "node", "key", "string"),
        ("d2", "node", "label", "string"),
        ("d3", "edge", "type", "string"),
        ("d4", "edge", "weight", "double"),
    ):
        ET.SubElement(
            root, "key", {"id": key_id, "for": owner, "attr.name": name, "attr.type": kind}
        )
    body = ET.SubElement(root, "graph", id="shoplm", edgedefault="undirected")
    for node in range(graph.n_nodes):
        element = ET.SubElement(body, "node", id=f"n{node}")
        for key_id, value in (
            ("d0", graph.type_of(node)),
            ("d1", graph.node_keys[node]),
            ("d2", graph.node_labels[node]),
        ):
            ET.SubElement(element, "data", key=key_id).text = value
    for number, (src, dst, code, weight) in enumerate(
        zip(
            graph.sources.tolist(),
            graph.indices.tolist(),
            graph.etype.tolist(),
            graph.weight.tolist(),
            strict=True,
        )
    ):
        element = ET.SubElement(body, "edge", id=f"e{number}", source=f"n{src}", target=f"n{dst}")
        ET.SubElement(element, "data", key="d3").text = graph.edge_types[code]
        ET.SubElement(element, "data", key="d4").text = f"{weight:.6g}"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
