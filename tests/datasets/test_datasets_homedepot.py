"""Home Depot judgments: products by title, queries grouped by search term."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import DatasetFormatError
from shoplm.datasets.homedepot import load_homedepot


def test_products_are_the_distinct_judged_uids(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_homedepot(fakes.make_homedepot(tmp_path / "hd"))
    assert data.name == "homedepot_search"
    assert [(i.item_id, i.title) for i in data.items] == [
        ("100001", "Simpson Strong-Tie 12-Gauge Angle"),
        ("100002", "BEHR Premium Textured DeckOver 1-gal."),
        ("100005", "Delta Vero 1-Handle Shower Faucet"),
    ]


def test_queries_grouped_by_term_and_repeated_pairs_averaged(
    tmp_path: Path, fakes: ModuleType
) -> None:
    data = load_homedepot(fakes.make_homedepot(tmp_path / "hd"))
    by_text = {q.text: q for q in data.queries}
    assert [q.text for q in data.queries] == ["angle bracket", "l bracket", "deck over"]
    assert [q.query_id for q in data.queries] == ["0", "1", "2"]
    assert by_text["angle bracket"].judgments == {"100001": 3.0}
    l_bracket = by_text["l bracket"].judgments  # "l  bracket" is the same query
    assert l_bracket["100001"] == 2.5
    assert l_bracket["100005"] == pytest.approx((1.33 + 2.0) / 2)


def test_filtered_keeps_queries_with_enough_judgments(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_homedepot(fakes.make_homedepot(tmp_path / "hd"))
    kept = data.filtered(2)
    assert [q.text for q in kept.queries] == ["l bracket"]
    assert kept.items is data.items
    assert len(data.queries) == 3  # the original is untouched


def test_missing_column_is_named(tmp_path: Path, fakes: ModuleType) -> None:
    folder = tmp_path / "hd"
    folder.mkdir()
    fakes.write_csv(
        folder / "judgments.csv.gz",
        ["id", "product_uid", "product_title", "search_term"],
        [[1, 2, "x", "y"]],
    )
    with pytest.raises(DatasetFormatError, match="missing column"):
        load_homedepot(folder)


def test_bad_relevance_names_line_and_field(tmp_path: Path, fakes: ModuleType) -> None:
    folder = tmp_path / "hd"
    folder.mkdir()
    fakes.write_csv(
        folder / "judgments.csv.gz",
        ["id", "product_uid", "product_title", "search_term", "relevance"],
        [[1, 100001, "Angle", "angle", 3], [2, 100002, "Deck", "deck", "high"]],
    )
    with pytest.raises(DatasetFormatError, match="line 3: field 'relevance' must be a number"):
        load_homedepot(folder)
