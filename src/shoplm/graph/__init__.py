"""The item knowledge graph: build it, recommend from it, explain with it, profile users.

Modules: ``model`` (the graph data and its files), ``build`` (catalog, behaviour and
external triples; incremental updates), ``knowledge`` (a platform's stored triples),
``recall`` (the "kg" recommender), ``explain`` (faithful paths), ``profile`` (user
profiles), ``expand`` (query expansion terms), ``export`` (CSV and GraphML).
"""

from shoplm.graph.build import GraphBuilder, GraphSettings, build_graph
from shoplm.graph.model import ItemGraph

__all__ = ["GraphBuilder", "GraphSettings", "ItemGraph", "build_graph"]
