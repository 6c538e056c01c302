"""Reading one text per row from a file's text columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoplm.ingest import IngestError
from shoplm.ingest.text_rows import read_texts, row_text


def test_columns_join_as_sentences_and_rows_without_text_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("title,body\nLove it,Fits well.\n,Runs small\n,\nGreat,\n")
    found = read_texts(path, ["title", "body"])
    assert found.texts == ["Love it. Fits well.", "Runs small", "Great"]
    assert found.row_numbers == [1, 2, 4] and found.skipped == [3]


def test_json_lines_read_alike(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    rows = [{"title": "Drill", "description": None}, {"title": "Saw", "description": "Sharp"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_texts(path, ["title", "description"]).texts == ["Drill", "Saw. Sharp"]


def test_a_missing_column_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("title\nLove it\n")
    with pytest.raises(IngestError, match=r"reviews.csv: row 1 has no column 'body'"):
        read_texts(path, ["title", "body"])
    with pytest.raises(IngestError, match="at least one text column"):
        read_texts(path, [])


def test_row_text_raises_the_callers_error_for_an_extra_column() -> None:
    with pytest.raises(KeyError, match="row 7 has no column 'label'"):
        row_text({"text": "x"}, ["text"], "row 7", extra=["label"], error=KeyError)
