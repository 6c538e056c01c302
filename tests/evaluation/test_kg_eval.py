"""The KG evaluation on a tiny Amazon-Office-shaped dataset written here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from shoplm.evaluation.kg_eval import evaluate_kg

CATEGORIES = {
    "pen": "Office Products, Office & School Supplies, Writing Supplies, Pens",
    "paper": "Office Products, Office & School Supplies, Paper, Copy Paper",
    "phone": "Office Products, Office Electronics, Telephones, Corded Telephones",
}
BRANDS = ("Inkwell", "Sheetco", "Ringer")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), mtime=0))


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 items in 3 kinds; each user takes 4 items of one kind."""
    folder = tmp_path_factory.mktemp("office")
    kinds = list(CATEGORIES)
    items = [
        {
            "item_id": n,
            "title": f"{BRANDS[n % 3]} {kinds[n % 3]} model {n}",
            "description": "",
            "brand": BRANDS[n % 3],
            "categories": CATEGORIES[kinds[n % 3]],
        }
        for n in range(30)
    ]
    sequences = []
    for user in range(30):
        kind = user % 3
        own = [n for n in range(30) if n % 3 == kind]
        start = user // 3
        sequences.append({"user_id": user, "item_ids": [own[(start + i) % 10] for i in range(4)]})
    write_jsonl(folder / "items.jsonl.gz", items)
    write_jsonl(folder / "sequences.jsonl.gz", sequences)
    return folder


def test_kg_eval_reports_metrics_and_faithful_explanations(office: Path) -> None:
    result = evaluate_kg(office, ks=(5, 10), coverage_users=None, kg_blend_weights=(1.0,))
    assert result["task"] == "recommend-kg" and result["dataset"] == "amazon_office"
    assert set(result["metrics"]) == {"kg", "itemknn", "blend", "blend+kg@1"}
    for scores in result["metrics"].values():
        assert 0.0 <= scores["NDCG@10"] <= 1.0 and 0.0 <= scores["HR@10"] <= 1.0
    assert result["metrics"]["kg"]["HR@10"] == 1.0  # the held-out item shares brand + category
    for model in ("blend", "kg"):
        report = result["explanations"][model]
        assert report["recommendations"] == 30 * 10
        assert report["coverage"] >= 0.95
        assert report["faithful"] == sum(
            n for kind, n in report["kinds"].items() if kind != "unexplained"
        )
    assert result["graph"]["nodes"]["item"] == 30
