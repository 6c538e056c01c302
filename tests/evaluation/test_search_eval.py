"""The search evaluation end to end on tiny datasets in the real layouts (real encoder)."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest

from shoplm.datasets.types import SearchQuery
from shoplm.evaluation.search_eval import evaluate_search, split_queries

PRODUCTS = {
    "1": "Whirlpool 30 in. Electric Range with Self-Cleaning Oven",
    "2": "GE 30 in. Gas Range in Stainless Steel",
    "3": "US Stove Pellet Stove 2,000 sq. ft.",
    "4": "DEWALT 20-Volt Cordless Drill Driver Kit",
    "5": "Milwaukee M18 Cordless Hammer Drill",
    "6": "Ryobi 18-Volt Cordless Drill with Battery",
    "7": "Kohler Elongated Toilet Seat in White",
    "8": "American Standard Round Toilet Seat",
    "9": "Delta Rain Shower Head in Chrome",
    "10": "Moen Handheld Shower Head with Hose",
    "11": "Toro Recycler 22 in. Gas Lawn Mower",
    "12": "Honda 21 in. Self-Propelled Lawn Mower",
}
JUDGMENTS = {
    "electric range": {"1": 3, "2": 2.33, "3": 1},
    "cordless drill": {"4": 3, "5": 2.67, "6": 3},
    "toliet seat": {"7": 3, "8": 3, "9": 1},
    "showerhead": {"9": 3, "10": 2.67, "7": 1},
    "lawn mower gas": {"11": 3, "12": 2.33, "3": 1},
    "drill kit": {"4": 3, "6": 2, "5": 2},
    "toilet seat white": {"7": 3, "8": 2},
    "gas range": {"2": 3, "1": 2, "11": 1},
}


def _write_gz_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8"), mtime=0))


@pytest.fixture(scope="module")
def homedepot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("homedepot_search")
    rows, pair = [], 0
    for term, judged in JUDGMENTS.items():
        for product, relevance in judged.items():
            pair += 1
            rows.append([pair, product, PRODUCTS[product], term, relevance])
    for product, title in PRODUCTS.items():  # every product judged at least once
        if not any(product in judged for judged in JUDGMENTS.values()):
            pair += 1
            rows.append([pair, product, title, "filler", 1])
    _write_gz_csv(
        folder / "judgments.csv.gz",
        ["id", "product_uid", "product_title", "search_term", "relevance"],
        rows,
    )
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHOPLM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def test_full_mode_scores_every_method_on_held_out_queries(homedepot: Path) -> None:
    messages: list[str] = []
    result = evaluate_search(homedepot, min_judged=2, progress=messages.append)
    assert result["task"] == "search" and result["mode"] == "full"
    assert set(result["metrics"]) == {
        "bm25",
        "dense",
        "hybrid",
        "hybrid-learned",
        "hybrid-rerank",
        "hybrid-rerank-no-kg",
    }
    assert result["n_queries"] + result["n_train_queries"] <= len(JUDGMENTS)
    assert result["n_train_queries"] == 4 and result["n_queries"] == 4
    for row in result["metrics"].values():
        assert set(row) == {"NDCG@10", "MRR@10", "Recall@100"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert set(result["latency_ms"]) == set(result["metrics"])
    assert "train half only" in result["protocol"]
    assert result["search_model"]["examples"] == 4
    assert any("learning search on 4 training queries" in m for m in messages)
    # on a catalog this small every method finds the relevant items
    assert result["metrics"]["hybrid-rerank"]["Recall@100"] == 1.0
    # titles only: the item graph has no edges, so the KG expansion adds nothing
    assert result["kg_expansion"]["graph_edges"] == 0
    assert result["kg_expansion"]["queries_expanded"] == 0
    assert result["metrics"]["hybrid-rerank-no-kg"] == result["metrics"]["hybrid-rerank"]
    assert "without the item-graph query expansion" in result["protocol"]


def test_rerank_mode_orders_judged_items_only(homedepot: Path) -> None:
    result = evaluate_search(
        homedepot,
        models=["bm25", "hybrid-rerank", "random"],
        min_judged=2,
        mode="rerank",
        per_query="MRR@10",
    )
    rows = result["per_query"]["models"]["bm25"]  # one row per query, for paired tests
    assert len(rows) == len(result["per_query"]["models"]["random"]) > 0
    assert sum(rows) / len(rows) == pytest.approx(result["metrics"]["bm25"]["MRR@10"], abs=1e-5)
    assert result["mode"] == "rerank" and "judged items" in result["protocol"]
    assert set(result["metrics"]) == {"bm25", "hybrid-rerank", "random"}
    assert set(result["metrics"]["bm25"]) == {"NDCG@10", "MRR@10"}
    assert "random" not in result["latency_ms"]
    assert result["metrics"]["hybrid-rerank"]["NDCG@10"] >= result["metrics"]["random"]["NDCG@10"]


def test_bad_arguments_are_named(homedepot: Path) -> None:
    with pytest.raises(ValueError, match="unknown mode 'sideways'"):
        evaluate_search(homedepot, mode="sideways")
    with pytest.raises(ValueError, match=r"unknown search model\(s\) \['random'\]"):
        evaluate_search(homedepot, models=["random"])
    with pytest.raises(ValueError, match="no held-out query has >= 50 judged items"):
        evaluate_search(homedepot, min_judged=50)
    with pytest.raises(ValueError, match="unknown per-query metric 'HR@10'"):
        evaluate_search(homedepot, per_query="HR@10")


def test_split_is_seeded_disjoint_and_complete() -> None:
    queries = [SearchQuery(str(i), f"q{i}", {"a": 2.0}) for i in range(10)]
    train, held = split_queries(queries, 0.5, seed=1)
    again, _ = split_queries(queries, 0.5, seed=1)
    assert [q.query_id for q in train] == [q.query_id for q in again]
    assert len(train) == len(held) == 5
    assert not {q.query_id for q in train} & {q.query_id for q in held}


def test_query_classification_on_a_wands_layout(tmp_path: Path) -> None:
    folder = tmp_path / "wands_queries"
    folder.mkdir()
    rows = [
        [0, "king size bed frame", "Beds"],
        [1, "queen bed", "Beds"],
        [2, "wool area rug", "Area Rugs"],
        [3, "round rug 8x10", "Area Rugs"],
        [4, "leather office chair", "Office Chairs"],
        [5, "ergonomic desk chair", "Office Chairs"],
        [6, "mystery query", ""],
    ]
    _write_gz_csv(folder / "queries.csv.gz", ["query_id", "query", "query_class"], rows)
    result = evaluate_search(folder)
    assert result["task"] == "query_classification"
    assert result["n_classes"] == 3 and result["n_queries"] == 3
    assert set(result["metrics"]) == {"class-name", "class-name+examples"}
    assert result["metrics"]["class-name"]["accuracy_all_queries"] >= 0.8
    assert result["metrics"]["class-name"]["top3_accuracy"] == 1.0
