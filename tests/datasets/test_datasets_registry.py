"""Telling datasets apart by their files, and load_dataset's errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import (
    DATASET_NAMES,
    DatasetFormatError,
    QueryClassDataset,
    RecDataset,
    SearchDataset,
    TextLabelDataset,
    detect_dataset,
    list_subsets,
    load_dataset,
)

EXPECTED_TYPES = {
    "amazon_office": RecDataset,
    "amazon_games": RecDataset,
    "amazon_s3rec": RecDataset,
    "homedepot_search": SearchDataset,
    "movielens_100k": RecDataset,
    "lastfm_hetrec": RecDataset,
    "amazon_office_reviews_sample": TextLabelDataset,
    "womens_clothing_reviews": TextLabelDataset,
    "wands_queries": QueryClassDataset,
}


def test_every_layout_has_a_fake() -> None:
    assert set(DATASET_NAMES) == set(EXPECTED_TYPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_detect_from_files_not_folder_name(name: str, tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.MAKERS[name](tmp_path / "some_copy")
    assert detect_dataset(folder) == name


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_load_returns_the_right_kind(name: str, tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.MAKERS[name](tmp_path / "data")
    subset = "Beauty" if name == "amazon_s3rec" else None
    data = load_dataset(str(folder), subset)
    assert isinstance(data, EXPECTED_TYPES[name])
    assert data.name == ("amazon_s3rec/Beauty" if subset else name)


def test_uncompressed_files_work_too(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_movielens(tmp_path / "ml")
    for packed in folder.glob("*.gz"):
        packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    assert detect_dataset(folder) == "movielens_100k"
    data = load_dataset(folder)
    assert isinstance(data, RecDataset) and data.n_interactions() == 3


def test_unknown_layout_lists_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetFormatError, match=r"Found: notes\.txt") as info:
        detect_dataset(tmp_path)
    assert "Known layouts: amazon_office (items.jsonl.gz + sequences.jsonl.gz)" in str(info.value)


def test_reviews_with_other_columns_are_unknown(tmp_path: Path, fakes: ModuleType) -> None:
    fakes.write_csv(tmp_path / "reviews.csv.gz", ["stars", "text"], [[5, "great"]])
    with pytest.raises(DatasetFormatError, match="no known dataset layout"):
        load_dataset(tmp_path)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="not a folder"):
        load_dataset(tmp_path / "missing")


def test_s3rec_needs_a_subset(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_s3rec(tmp_path / "s3")
    assert list_subsets(folder) == ["Beauty", "Toys_and_Games"]
    with pytest.raises(ValueError, match="needs a subset; available: Beauty, Toys_and_Games"):
        load_dataset(folder)
    with pytest.raises(ValueError, match="no subset 'Books'; available: Beauty, Toys_and_Games"):
        load_dataset(folder, "Books")


def test_subset_may_be_the_last_path_part(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_s3rec(tmp_path / "s3")
    data = load_dataset(folder / "Toys_and_Games")
    assert isinstance(data, RecDataset) and data.name == "amazon_s3rec/Toys_and_Games"


def test_subset_for_a_dataset_without_subsets(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_wands(tmp_path / "w")
    assert list_subsets(folder) == []
    with pytest.raises(ValueError, match="has no subsets"):
        load_dataset(folder, "Beauty")


def test_missing_second_file_is_not_detected(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_amazon_office(tmp_path / "office")
    shutil.move(folder / "sequences.jsonl.gz", tmp_path / "elsewhere.gz")
    with pytest.raises(DatasetFormatError, match=r"Found: items\.jsonl\.gz"):
        detect_dataset(folder)
