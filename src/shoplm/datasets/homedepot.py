"""Home Depot product search relevance: real queries with crowd-graded products (1..3).

Products are known by their title only, so the catalog is the distinct judged products.
"""

from __future__ import annotations

from pathlib import Path

from shoplm.datasets._io import build_item, id_sort_key, read_csv, require, to_float, to_id
from shoplm.datasets.types import SearchDataset, SearchQuery

COLUMNS = ("product_uid", "product_title", "search_term", "relevance")


def load_homedepot(folder: Path) -> SearchDataset:
    """Queries grouped by search term, ids ``"0", "1", ...`` in order of first appearance.

    A product listed with several titles keeps its first; a (query, product) pair judged
    more than once gets the mean relevance.
    """
    path = require(folder, "judgments.csv")
    titles: dict[str, tuple[int, str]] = {}  # product_uid -> (line, title)
    sums: dict[str, dict[str, list[float]]] = {}  # term -> product_uid -> [sum, count]
    for line, row in read_csv(path, COLUMNS):
        product = to_id(row["product_uid"], path, line, "product_uid")
        term = " ".join(row["search_term"].split())
        if not term:
            continue
        titles.setdefault(product, (line, row["product_title"]))
        relevance = to_float(row["relevance"], path, line, "relevance")
        acc = sums.setdefault(term, {}).setdefault(product, [0.0, 0.0])
        acc[0] += relevance
        acc[1] += 1.0
    items = [
        build_item(path, line, item_id=product, title=title)
        for product, (line, title) in sorted(titles.items(), key=lambda kv: id_sort_key(kv[0]))
    ]
    queries = [
        SearchQuery(
            query_id=str(index),
            text=term,
            judgments={product: total / count for product, (total, count) in judged.items()},
        )
        for index, (term, judged) in enumerate(sums.items())
    ]
    return SearchDataset(name="homedepot_search", items=items, queries=queries)
