"""Amazon Office, Games and S3-Rec adapters on tiny folders in the real layouts."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import DatasetFormatError
from shoplm.datasets.amazon import load_games, load_office, load_s3rec, s3rec_subsets


def test_office_items_keep_text_fields_and_decode_entities(
    tmp_path: Path, fakes: ModuleType
) -> None:
    data = load_office(fakes.make_amazon_office(tmp_path / "office"))
    phone = data.items[0]
    assert data.name == "amazon_office"
    assert phone.item_id == "0"
    assert phone.title == "AT&T 210 Corded Phone, Black"
    assert phone.brand == "AT&T"
    assert phone.description == "A basic phone."
    assert phone.category == "Office Electronics > Telephones & Accessories > Corded Telephones"


def test_office_item_without_title_gets_a_fallback(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_office(fakes.make_amazon_office(tmp_path / "office"))
    assert data.items[2].title == "Paper"  # no brand: the leaf category


def test_office_sequences_in_file_order_without_times(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_office(fakes.make_amazon_office(tmp_path / "office"))
    assert data.sequences == {"0": ["0", "1", "2"], "1": ["2", "0"]}
    assert data.timestamps is None and data.values is None
    assert not data.has_real_time
    assert data.protocol == "leave_one_out"
    assert data.n_interactions() == 5


def test_office_long_description_is_cut_to_the_schema_limit(
    tmp_path: Path, fakes: ModuleType
) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    fakes.write_jsonl(
        folder / "items.jsonl.gz", [{"item_id": 0, "title": "Pen", "description": "x" * 30000}]
    )
    fakes.write_jsonl(folder / "sequences.jsonl.gz", [{"user_id": 0, "item_ids": [0]}])
    assert len(load_office(folder).items[0].description) == 20000


def test_sequence_with_unknown_item_names_the_line(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_amazon_office(tmp_path / "office")
    fakes.write_jsonl(
        folder / "sequences.jsonl.gz",
        [{"user_id": 0, "item_ids": [0]}, {"user_id": 1, "item_ids": [0, 99]}],
    )
    with pytest.raises(DatasetFormatError, match=r"line 2: item_ids not in the catalog: \['99'\]"):
        load_office(folder)


def test_invalid_json_line_names_the_line(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_amazon_office(tmp_path / "office")
    (folder / "sequences.jsonl.gz").unlink()
    (folder / "sequences.jsonl").write_text('{"user_id": 0, "item_ids": [0]}\n{oops\n')
    with pytest.raises(DatasetFormatError, match=r"sequences\.jsonl: line 2: invalid JSON"):
        load_office(folder)


def test_missing_field_is_named(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_amazon_office(tmp_path / "office")
    fakes.write_jsonl(folder / "sequences.jsonl.gz", [{"user_id": 0, "items": [0]}])
    with pytest.raises(DatasetFormatError, match="line 1: missing field 'item_ids'"):
        load_office(folder)


def test_games_titles_and_sequences(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_games(fakes.make_amazon_games(tmp_path / "games"))
    assert data.name == "amazon_games"
    assert [i.title for i in data.items] == [
        "Fire Emblem: The Sacred Stones",
        "GBA 6-Pak Care Case",
        "Tetris",
    ]
    assert data.sequences == {"0": ["0", "1"], "1": ["2", "1", "0"]}


def test_s3rec_subsets_need_both_files(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_s3rec(tmp_path / "s3rec", ("Beauty", "Toys_and_Games"))
    fakes.write_jsonl(folder / "Orphan.sequences.jsonl.gz", [{"user_id": 1, "item_ids": [1]}])
    assert s3rec_subsets(folder) == ["Beauty", "Toys_and_Games"]


def test_s3rec_items_carry_attribute_ids(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_s3rec(tmp_path / "s3rec", ("Beauty",))
    fakes.write_jsonl(
        folder / "Beauty.sequences.jsonl.gz",
        [{"user_id": 1, "item_ids": [1, 2, 3]}, {"user_id": 2, "item_ids": [3, 4]}],
    )
    data = load_s3rec(folder, "Beauty")
    assert data.name == "amazon_s3rec/Beauty"
    assert [i.item_id for i in data.items] == ["1", "2", "3", "4"]
    assert data.items[0].attributes == {"attribute_ids": "173 1 162"}
    assert data.items[0].title == "item 1"
    assert data.items[3].attributes == {}  # in a sequence, but without attributes
    assert data.sequences == {"1": ["1", "2", "3"], "2": ["3", "4"]}
