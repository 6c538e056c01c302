"""WANDS queries with the product class each targets: a query-categorisation check.

Only the 480 queries exist here (the WANDS catalogue and relevance labels do not). A few
source queries have no class: they are kept with the label "" (filter them to score).
"""

from __future__ import annotations

from pathlib import Path

from shoplm.datasets._io import DatasetFormatError, read_csv, require, to_id
from shoplm.datasets.types import QueryClassDataset

COLUMNS = ("query_id", "query", "query_class")


def load_wands_queries(folder: Path) -> QueryClassDataset:
    path = require(folder, "queries.csv")
    queries: list[tuple[str, str, str]] = []
    for line, row in read_csv(path, COLUMNS):
        text = " ".join(row["query"].split())
        if not text:
            raise DatasetFormatError(f"{path}: line {line}: field 'query' is empty")
        label = " ".join(row["query_class"].split())
        queries.append((to_id(row["query_id"], path, line, "query_id"), text, label))
    return QueryClassDataset(name="wands_queries", queries=queries)
