"""WANDS query classes."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import DatasetFormatError
from shoplm.datasets.wands import load_wands_queries


def test_queries_with_classes(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_wands_queries(fakes.make_wands(tmp_path / "wands"))
    assert data.name == "wands_queries"
    assert data.queries == [
        ("0", "salon chair", "Massage Chairs"),
        ("1", "smart coffee table", "Coffee & Cocktail Tables"),
    ]


def test_empty_query_names_the_line(tmp_path: Path, fakes: ModuleType) -> None:
    folder = tmp_path / "wands"
    folder.mkdir()
    fakes.write_csv(
        folder / "queries.csv.gz", ["query_id", "query", "query_class"], [[0, " ", "Chairs"]]
    )
    with pytest.raises(DatasetFormatError, match="line 2: field 'query' is empty"):
        load_wands_queries(folder)


def test_query_without_class_keeps_an_empty_label(tmp_path: Path, fakes: ModuleType) -> None:
    folder = tmp_path / "wands"
    folder.mkdir()
    fakes.write_csv(
        folder / "queries.csv.gz",
        ["query_id", "query", "query_class"],
        [[197, "wand bunk beds", ""]],
    )
    assert load_wands_queries(folder).queries == [("197", "wand bunk beds", "")]
